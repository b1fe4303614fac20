"""The demo's office on a fake clock, scraped like Prometheus would, as promtool input.

:class:`Office` runs what ``workspace-exporter demo`` runs (the fake Workspace API as a real
HTTP server on 127.0.0.1, the seeded simulated office, the demo's config file, the exporter's
sources and runners, its rendered ``/metrics``), but on one :class:`~exporter.clock.FakeClock`
shared by the fake, the office and the exporter, driven from one thread, so an hour takes
seconds and the same seed gives the same series. The runners are the exporter's own
(:class:`~exporter.app.scheduler.PeriodicRunner` per source, the
:class:`~exporter.app.desktop_runner.MonitoringRunner`), stepped here instead of in their
threads; a scrape every :data:`SCRAPE_S` takes the exposition as the server sends it.

:class:`Recording` turns the scrapes into promtool ``input_series`` as Prometheus would have
stored them: ``job``/``instance`` labels, ``up``, a stale marker when a series disappears (all
of them when a scrape fails or the target goes away), and times relative to the start (the
office starts at promtool's time 0; ``*_timestamp_seconds`` values are shifted to match).
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.app.desktop_runner import MonitoringRunner
from exporter.app.multi import MultiExporter
from exporter.app.scheduler import PeriodicRunner, Together
from exporter.cli.demo import BACKFILL_S, write_demo_files
from exporter.cli.demo_scenarios import DemoConfig
from exporter.clock import FakeClock
from exporter.config.targets import load_targets
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake.sim import Simulation

START = 1_795_000_020.0  # a Monday 08:00:20 UTC is no better than any other time: the office has its own
SCRAPE_S = 60  # the chart's ServiceMonitor interval; promtool's grid
JOB, INSTANCE = "workspace-exporter", "127.0.0.1:10187"
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "workspace-exporter" / "rules" / "alerts.yaml"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class _SyncPool:
    """Runs a desktop fetch at once, on the driving thread (the monitoring runner's pool)."""

    def submit(self, fn: Callable[[str], bool], desktop_id: str, /) -> Future[bool]:
        fut: Future[bool] = Future()
        try:
            fut.set_result(fn(desktop_id))
        except Exception as e:  # noqa: BLE001 - the runner's callback logs it, as with a real pool
            fut.set_exception(e)
        return fut


def parse_exposition(text: str) -> dict[str, float]:
    """``series -> value`` of a text exposition; the series in promtool's notation."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise ValueError(f"not a sample line: {line!r}")
        name, labels, value = m.groups()
        pairs = _LABEL.findall(labels or "")
        out[series_key(name, dict(pairs), escaped=True)] = float(value)
    return out


def series_key(name: str, labels: dict[str, str], *, escaped: bool = False) -> str:
    """``name{k="v",...}`` with the scrape's job and instance added, labels sorted."""
    full = {**labels, "job": JOB, "instance": INSTANCE}
    if not escaped:
        full = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in full.items()}
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(full.items())) + "}"


@dataclass
class Recording:
    """Scrapes in order: at a minute index, the samples (None: the scrape failed; absent: no target)."""

    scrapes: dict[int, dict[str, float] | None] = field(default_factory=dict)

    @property
    def minutes(self) -> int:
        return max(self.scrapes, default=-1) + 1

    def input_series(self) -> list[dict[str, str]]:
        """promtool input series: every series ever seen, ``stale`` where it disappeared."""
        names: dict[str, None] = {}
        for samples in self.scrapes.values():
            for key in samples or ():
                names.setdefault(key, None)
        up = series_key("up", {})
        columns: dict[str, list[str]] = {key: [] for key in [up, *names]}
        for minute in range(self.minutes):
            samples = self.scrapes.get(minute, ...)
            for key, col in columns.items():
                if key == up:
                    value: float | None = None if samples is ... else (0.0 if samples is None else 1.0)
                elif samples is ... or samples is None:
                    value = None
                else:
                    value = samples.get(key)
                if value is not None:
                    col.append(_number(value))
                elif col and col[-1] not in ("_", "stale"):
                    col.append("stale")
                else:
                    col.append("_")
        return [{"series": key, "values": " ".join(_compress(col))} for key, col in columns.items()]

    def series(self, name: str) -> dict[str, list[tuple[int, float]]]:
        """``series -> [(minute, value)]`` of the series named ``name``."""
        out: dict[str, list[tuple[int, float]]] = {}
        for minute in sorted(self.scrapes):
            for key, value in (self.scrapes[minute] or {}).items():
                if key.startswith(name + "{"):
                    out.setdefault(key, []).append((minute, value))
        return out


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return repr(value) if not value.is_integer() else str(int(value))


def _compress(col: list[str]) -> Iterator[str]:
    """Runs of one value in promtool's expanding notation: ``_xN`` is N gaps, ``v+0xN`` is
    N + 1 samples of ``v``."""
    i = 0
    while i < len(col):
        j = i
        while j + 1 < len(col) and col[j + 1] == col[i]:
            j += 1
        run = j - i + 1
        if col[i] == "stale" or run == 1:
            yield from col[i : j + 1]
        elif col[i] == "_":
            yield f"_x{run}"
        else:
            yield f"{col[i]}+0x{run - 1}"
        i = j + 1


def _shifted(samples: dict[str, float]) -> dict[str, float]:
    """Epoch-second values relative to the start, as promtool's time() counts from 0."""
    return {
        k: (v - START if k.split("{", 1)[0].endswith("_timestamp_seconds") and v > 0 else v)
        for k, v in samples.items()
    }


class _OfficeClock(FakeClock):
    """A fake clock whose ``sleep`` lets the rest of the office run meanwhile.

    In the exporter a runner waiting for its budget or backing off sleeps in its own thread
    while the others go on; here every runner is stepped from one thread, so a sleep runs
    the office's loop (every other runner, the scrapes) until it ends.
    """

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.idle: Callable[[float], None] | None = None

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is not None and stop.is_set():
            return True
        if self.idle is None:
            self.advance(max(0.0, seconds))
        else:
            self.idle(self.monotonic() + max(0.0, seconds))
        return stop.is_set() if stop is not None else False


class _Flag:
    """An exporter-side scenario that flips one of the office's scrape switches."""

    def __init__(self, office: Office, attribute: str) -> None:
        self._office, self._attribute = office, attribute

    def start(self) -> None:
        setattr(self._office, self._attribute, True)

    def end(self) -> None:
        setattr(self._office, self._attribute, False)


class Office:
    """The demo (fake API, office, exporter) on a fake clock; see the module docstring."""

    def __init__(self, directory: Path, seed: int = 0, desktops: int = 20, scrape_s: int = SCRAPE_S) -> None:
        self.scrape_s = scrape_s
        self.clock = _OfficeClock(START)
        self.ws = FakeWorkspace(desktops, seed=seed, now=self.clock.time)
        self.sim = Simulation(self.ws, seed=seed)
        self.sim.backfill(BACKFILL_S)
        self.server = FakeServer(self.ws)
        url = self.server.start()
        self.config_path = write_demo_files(directory, self.ws, url, f"{INSTANCE}")
        self.multi = MultiExporter(load_targets(self.config_path), self.clock)
        x = self.exporter = self.multi.exporters[0]
        x.client._rng = random.Random(seed)  # retry jitter: the same seed, the same run
        # The exporter's own runners (they keep the health `up` reports), stepped here.
        periodic: dict[str, PeriodicRunner] = {}
        monitors: list[MonitoringRunner] = []
        for runner in x._runners.values():
            for part in runner.runners if isinstance(runner, Together) else (runner,):
                if isinstance(part, MonitoringRunner):
                    monitors.append(part)
                else:
                    assert isinstance(part, PeriodicRunner)
                    periodic[part.source.name] = part
        # The per-desktop view's four, then the fleet sources in table order.
        order = ("inventory", "events", "connections", "monitoring")
        order += tuple(name for name in periodic if name not in order)
        self._periodic = [periodic[name] for name in order if name in periodic]
        self._due = [self.clock.monotonic()] * len(self._periodic)
        (self._monitor,) = monitors
        self._monitor_due = self.clock.monotonic()
        self._pool = _SyncPool()
        self._busy: set[int] = set()
        self._monitor_busy = False
        self.clock.idle = self._loop
        self.recording = Recording()
        self._next_scrape = 1  # index of the next scrape: the first one interval after the start
        self.scrape_fails = False  # the exporter-down scenario: scrapes fail, up is 0
        self.absent = False  # the exporter-absent scenario: no target at all
        # The exporter-side scenarios, as the demo stages them (its config file and reloads;
        # Prometheus losing the target is this recording's business).
        self.sim.hooks.update(DemoConfig(self.config_path, lambda: self.multi.reload()[0], self.kick).hooks())
        self.sim.hooks["exporter-down"] = _Flag(self, "scrape_fails")
        self.sim.hooks["exporter-absent"] = _Flag(self, "absent")

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        """Seconds since the start."""
        return self.clock.time() - START

    def run_until(self, seconds: float) -> None:
        """Advance the office, the exporter's runners and the scrapes to ``seconds`` after the start."""
        self._loop(self.clock.monotonic() + seconds - self.now)

    def _loop(self, until: float) -> None:
        """Run every runner not already running (a sleeping one waits on this loop) until the
        monotonic time ``until``."""
        clock = self.clock
        while clock.monotonic() < until:
            mono = clock.monotonic()
            scrape_at = mono + START + self._next_scrape * self.scrape_s - clock.time()
            due = [d for i, d in enumerate(self._due) if i not in self._busy]
            if not self._monitor_busy:
                due.append(self._monitor_due)
            step = min(max(0.0, min([*due, scrape_at]) - mono), 5.0, until - mono)
            clock.advance(step)
            self.sim.tick()
            self._run_due()
            if clock.time() >= START + self._next_scrape * self.scrape_s:
                self._scrape(self._next_scrape)
                self._next_scrape += 1

    def _run_due(self) -> None:
        for i, runner in enumerate(self._periodic):
            if i in self._busy or self._due[i] > self.clock.monotonic():
                continue
            self._busy.add(i)
            try:
                runner.run_once()
            finally:
                self._busy.discard(i)
            health = runner.health
            self._due[i] = self.clock.monotonic() + health.retry_delay(runner.source.interval())
        if not self._monitor_busy and self._monitor_due <= self.clock.monotonic():
            self._monitor_busy = True
            try:
                wait = self._monitor.step(self._pool)
                for _ in range(10_000):  # a completed fetch wakes the runner at once (its _wake)
                    if not self._monitor._done:
                        break
                    wait = self._monitor.step(self._pool)
            finally:
                self._monitor_busy = False
            self._monitor_due = self.clock.monotonic() + max(wait, 0.05)

    def kick(self, source: str) -> None:
        """What a reload's kick does to a runner: refresh now."""
        for i, runner in enumerate(self._periodic):
            if runner.source.name == source:
                self._due[i] = self.clock.monotonic()

    def _scrape(self, minute: int) -> None:
        if self.absent:
            return  # no target: no scrape, no up
        if self.scrape_fails:
            self.recording.scrapes[minute] = None
            return
        self.multi.exposition.refresh()
        body, _ = self.multi.exposition.body("", False)
        self.recording.scrapes[minute] = _shifted(parse_exposition(body.decode("utf-8")))

    def close(self) -> None:
        self.exporter.begin_stop()
        self.server.stop()

    def __enter__(self) -> Office:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def suite(
    input_series: list[dict[str, str]],
    tests: list[dict[str, Any]],
    scrape_s: int = SCRAPE_S,
    rules: Path = RULES,
) -> dict[str, Any]:
    """A promtool test file: a recording's input series, ``tests`` as promql_expr_test."""
    return {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m" if scrape_s >= 60 else f"{scrape_s}s",
        "tests": [
            {
                "name": "the office as Prometheus scraped it",
                "interval": f"{scrape_s}s",
                "input_series": input_series,
                "promql_expr_test": tests,
            }
        ],
    }


def write_suite(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1 << 20), "utf-8")
    return path


# ---------------------------------------------------------------------- plans, run in workers


@dataclass(frozen=True)
class Plan:
    """One office run: a seed, how long, and scenarios started at given minutes."""

    name: str
    seed: int
    minutes: int
    scenarios: tuple[tuple[str, float], ...] = ()  # (scenario, start minute)
    scrape_s: int = SCRAPE_S


@dataclass
class Incident:
    name: str
    start: float  # seconds after the office's start
    end: float
    desktops: tuple[str, ...]


@dataclass
class Result:
    plan: Plan
    input_series: list[dict[str, str]]
    incidents: list[Incident]
    lines: list[tuple[float, str, str]]  # (seconds after the start, logger, message)
    timestamps: dict[str, list[tuple[int, float]]]  # desktop monitoring timestamps per series
    paths: list[tuple[int, str]]  # (scrape index, active monitoring path)


class _Lines(logging.Handler):
    def __init__(self, office: Office) -> None:
        super().__init__(logging.INFO)
        self.office = office
        self.lines: list[tuple[float, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((round(self.office.now, 1), record.name, record.getMessage()))


def run_plan(plan: Plan, directory: Path) -> Result:
    """Run ``plan`` (in a worker process: nothing here is shared)."""
    logger = logging.getLogger("exporter")
    logger.setLevel(logging.INFO)
    logger.propagate = False  # kept here, not printed (a reload sets up the exporter's stderr logging)
    with Office(directory, seed=plan.seed, scrape_s=plan.scrape_s) as office:
        handler = _Lines(office)
        logger.addHandler(handler)
        incidents: list[Incident] = []
        try:
            for name, minute in sorted(plan.scenarios, key=lambda s: s[1]):
                office.run_until(minute * 60)
                info = office.sim.trigger(name)
                since = float(info["since"]) - START
                until = float(info["until"]) - START
                incidents.append(Incident(name, since, until, tuple(info.get("desktops", ()))))
            office.run_until(plan.minutes * 60)
        finally:
            logger.removeHandler(handler)
        recording = office.recording
        paths = []
        for index in sorted(recording.scrapes):
            for key, value in (recording.scrapes[index] or {}).items():
                if key.startswith("huaweicloud_workspace_monitoring_path{") and value == 1.0:
                    paths.append((index, key.split('path="', 1)[1].split('"', 1)[0]))
        return Result(
            plan,
            recording.input_series(),
            incidents,
            handler.lines,
            recording.series("huaweicloud_workspace_desktop_monitoring_timestamp_seconds"),
            paths,
        )
