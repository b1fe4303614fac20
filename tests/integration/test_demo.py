"""``workspace-exporter demo`` for real: a subprocess on ephemeral loopback ports.

One bounded real-time run: every catalogue family has a series, the login and event
counters move between two scrapes, the printed config file works with check-config and
export-connections, reload works (HTTP and SIGHUP), and a scenario can be triggered.
Then each scenario, in process, makes the series its alerts need true.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.app.multi import MultiExporter
from exporter.cli.demo import write_demo_files
from exporter.config.settings import Settings
from exporter.config.targets import load_targets
from exporter.exposition.catalogue import (
    ALL,
    API_ERROR_RESPONSES,
    AUTH_EXPIRY,
    SOURCE_PERMISSION_MISSING,
    Family,
)
from exporter.fake import FakeServer, FakeWorkspace, scenarios
from exporter.fake.scenarios import SCENARIOS
from exporter.fake.sim import Simulation
from exporter.fake.xlsx import sheet_rows
from tests.conftest import fast, wait_for

pytestmark = pytest.mark.integration

NS = "huaweicloud_workspace_"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(found: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, lb), v in found.items() if n == name and set(labels.items()) <= set(lb))


def has_series(found: Samples, f: Family) -> bool:
    names = {f.exposed_name, f.full_name + "_bucket"}
    return any(n in names for n, _ in found)


class Demo:
    def __init__(self, proc: subprocess.Popen[str], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.text = ""
        found = wait_for(self._serving, timeout=30, interval=0.2)
        self.metrics_url = found.group(1)
        self.url = self.metrics_url.removesuffix("/metrics")
        self.api_url = re.search(r"fake credentials\): (http://\S+)", self.text).group(1)  # type: ignore[union-attr]
        self.config = Path(re.search(r"config file .*: (\S+)", self.text).group(1))  # type: ignore[union-attr]

    def _serving(self) -> re.Match[str] | None:
        assert self.proc.poll() is None, self.log.read_text()
        self.text = self.log.read_text()
        return re.search(r"msg=serving .*url=(http://\S+/metrics)", self.text)

    def scrape(self) -> Samples:
        resp = requests.get(self.metrics_url, timeout=10)
        assert resp.status_code == 200
        return samples(resp.text)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    log = tmp_path / "demo.log"
    with log.open("w") as err:
        args = ["demo", "--web.listen-address", "127.0.0.1:0", "--desktops", "12", "--web.enable-lifecycle"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args, "--demo.dir", str(tmp_path / "demo")],
            stdout=err,  # the banner; the log lines come on stderr
            stderr=err,
            text=True,
        )
    try:
        yield Demo(proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_SDK_")}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_the_demo_lives_and_its_config_file_works(demo: Demo, tmp_path: Path) -> None:
    assert "fake data, fake credentials" in demo.text
    assert "ak=FAKEAK" in demo.text and "project_id=" in demo.text
    wait_for(lambda: requests.get(demo.url + "/-/ready", timeout=5).status_code == 200, timeout=40)
    first = wait_for(
        lambda: (
            (s := demo.scrape()) and total(s, NS + "up") == 10 and total(s, NS + "desktop_events_total") and s
        ),
        timeout=45,
        interval=1.0,
    )
    # Series that only exist once something happened: an upstream refusal (nothing is
    # pre-declared there, so a hostile upstream cannot multiply the series; the demo's fake
    # refuses nothing), a source refused for a missing permission, and the expiry of
    # temporary credentials (the demo signs with permanent keys).
    on_event = {
        API_ERROR_RESPONSES.exposed_name,
        AUTH_EXPIRY.exposed_name,
        SOURCE_PERMISSION_MISSING.exposed_name,
    }
    missing = [f.exposed_name for f in ALL if not has_series(first, f) and f.exposed_name not in on_event]
    assert missing == []
    logins, events = total(first, NS + "connections_total"), total(first, NS + "desktop_events_total")
    assert logins > 0 and total(first, NS + "connection_failures_total") > 0

    # The config file the demo wrote works with the other commands, credentials included.
    checked = _cli("check-config", "--config.file", str(demo.config))
    assert checked.returncode == 0, checked.stderr
    out = tmp_path / "connections.xlsx"
    exported = _cli("export-connections", "--config.file", str(demo.config), "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    header, *rows = sheet_rows(out.read_bytes())
    assert header[:2] == ["computer_name", "user_name"] and len(rows) > 0

    # Reload reads that file: over HTTP and on SIGHUP.
    resp = requests.post(demo.url + "/-/reload", timeout=10)
    assert resp.status_code == 200, resp.text
    demo.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: demo.log.read_text().count("config reloaded") >= 2, timeout=10)
    assert demo.scrape()[(NS + "config_last_reload_successful", ())] == 1.0

    # The control endpoint stages an incident.
    resp = requests.post(demo.api_url + "/_fake/scenario", json={"name": "error-events"}, timeout=5)
    assert resp.status_code == 200 and resp.json()["desktops"]

    # Counters move in real time (connections and events refresh every minute).
    def moved() -> Samples | None:
        s = demo.scrape()
        ok = total(s, NS + "connections_total") > logins and total(s, NS + "desktop_events_total") > events
        return s if ok else None

    second = wait_for(moved, timeout=130, interval=2.0)
    assert total(second, NS + "desktop_events_total", event_id="APP_CRASH") > total(
        first, NS + "desktop_events_total", event_id="APP_CRASH"
    )
    assert "Traceback" not in demo.log.read_text()


# ---------------------------------------------------------------------------- scenarios


def _faster(settings: Settings) -> Settings:
    """Every source refreshes within a second or two (below the validated minimums; tests only)."""
    settings = fast(settings)
    cfg = settings.config
    cfg = dataclasses.replace(
        cfg,
        # At a 1 s interval even 8 desktops outrun the per-desktop budget and `auto` would pick
        # Cloud Eye; the demo's real 5-minute interval keeps its 20 desktops on per-desktop calls.
        monitoring=dataclasses.replace(cfg.monitoring, source="workspace"),
        connections=dataclasses.replace(cfg.connections, interval=1.0),
        events=dataclasses.replace(cfg.events, interval=1.0),
    )
    return dataclasses.replace(settings, config=cfg)


class Running:
    """The fake with its office, and the exporter built from the demo's config file.

    The scenario starts with an office simulated from 15 minutes before now, so
    the first refresh already sees what the alert's range window would hold.
    """

    def __init__(self, tmp_path: Path, scenario: str, desktops: int = 8) -> None:
        self.fake = FakeWorkspace(desktops, seed=3)
        self.sim = Simulation(self.fake, seed=3)
        now = self.fake.now()
        self.sim.epoch = self.sim.last = now - 900
        self.info = scenarios.trigger(self.sim, scenario, self.sim.last, None)
        self.sim.tick(now)
        self.server = FakeServer(self.fake)
        url = self.server.start()
        config = write_demo_files(tmp_path, self.fake, url, "127.0.0.1:0")
        self.exporter = MultiExporter([_faster(s) for s in load_targets(config)])

    def scrape(self) -> Samples:
        self.exporter.exposition.refresh()  # the current data, whatever the renderer thread does
        return samples(self.exporter.exposition.body("", False)[0].decode())

    def close(self) -> None:
        self.exporter.stop()
        self.server.stop()


@pytest.fixture
def staged(tmp_path: Path) -> Iterator[Any]:
    started: list[Running] = []

    def start(name: str, desktops: int = 8) -> Running:
        r = Running(tmp_path / name, name, desktops)
        started.append(r)
        return r

    yield start
    for r in started:
        r.close()


def _scrape_until(r: Running, predicate: Any, timeout: float = 20, tick: float = 0.0) -> Samples:
    """Scrape until ``predicate`` holds; ``tick`` advances the office clock that much per try."""

    def probe() -> Samples | None:
        if tick:
            r.sim.tick(r.sim.last + tick)
        s = r.scrape()
        return s if predicate(s) else None

    result: Samples = wait_for(probe, timeout=timeout, interval=0.1)
    return result


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if n != "calm" and not s.exporter_side])
def test_each_scenario_makes_its_alert_expression_true(staged: Any, name: str) -> None:
    # A pool can be 90% full but not full only with 10 desktops or more: the demo's 20 make a
    # dynamic pool of 10.
    r: Running = staged(name, 20 if name == "pool-nearly-full" else 8)
    r.exporter.start()
    desktops = r.info.get("desktops", [])

    def info_of(s: Samples, did: str) -> dict[str, str] | None:
        for (n, lb), _ in s.items():
            if n == NS + "desktop_info" and dict(lb).get("desktop_id") == did:
                return dict(lb)
        return None

    if name == "login-failure-storm":
        # WorkspaceLoginFailuresHigh / ByReasonHigh on a fresh exporter: the counters are the increase.
        def storm(s: Samples) -> bool:
            attempts = total(s, NS + "connections_total")
            failed = total(s, NS + "connection_failures_total", reason_code="400200")
            return attempts >= 10 and failed >= 5 and failed / attempts > 0.2

        _scrape_until(r, storm)
    elif name == "throttling":
        # WorkspaceApiThrottled: throttled / requests > 0.1 and at least 5 throttled calls.
        def throttled(s: Samples) -> bool:
            hits = total(s, NS + "api_throttled_total", api="desktop_monitor")
            calls = total(s, NS + "api_requests_total", api="desktop_monitor")
            return hits >= 5 and hits / max(calls, 1) > 0.1

        # Beyond 12 calls a minute the API answers 429: the 1 s monitoring interval is far beyond.
        _scrape_until(r, throttled, timeout=30)
    elif name == "upstream-outage":
        _scrape_until(r, lambda s: total(s, NS + "up") == 0 and (NS + "up", (("source", "inventory"),)) in s)
    elif name == "stuck-desktops":
        stuck, broken = desktops

        def stuck_true(s: Samples) -> bool:
            online = s.get((NS + "desktop_online_status", (("desktop_id", stuck), ("state", "logging_in"))))
            info = info_of(s, broken)
            return online == 1.0 and info is not None and info["status"] == "ERROR"

        _scrape_until(r, stuck_true)
    elif name == "silent-desktop":
        (silent,) = desktops

        def silent_true(s: Samples) -> bool:
            has_online = any(
                n == NS + "desktop_online_status" and dict(lb).get("desktop_id") == silent for n, lb in s
            )
            has_ts = (NS + "desktop_monitoring_timestamp_seconds", (("desktop_id", silent),)) in s
            info = info_of(s, silent)
            return has_online and not has_ts and info is not None and info["status"] == "ACTIVE"

        _scrape_until(r, silent_true)
    elif name == "error-events":
        (did,) = desktops

        def burst(s: Samples) -> bool:
            errors = total(s, NS + "desktop_events_total", desktop_id=did, event_level="error")
            crashes = total(s, NS + "desktop_events_total", desktop_id=did, event_id="APP_CRASH")
            return errors >= 10 and crashes >= 3

        _scrape_until(r, burst)
    elif name == "hot-desktops":

        def hot(s: Samples) -> bool:
            metrics = ("desktop_cpu_usage_ratio", "desktop_memory_usage_ratio", "desktop_disk_usage_ratio")
            return all(
                s.get((NS + m, (("desktop_id", did),)), 0.0) > 0.9 for m in metrics for did in desktops
            )

        _scrape_until(r, hot)
    elif name in FLEET_CHECKS:
        _scrape_until(r, FLEET_CHECKS[name])
    else:
        pytest.fail(f"no check for scenario {name}")
    assert r.server.errors == []


def _dynamic_pool_share(s: Samples) -> float:
    """Bound share of the dynamic pool's desktops (-1 while the pools are not read yet)."""
    for (n, lb), _ in s.items():
        labels = dict(lb)
        if n == NS + "desktop_pool_info" and labels.get("type") == "DYNAMIC":
            size = total(s, NS + "desktop_pool_desktops", pool_id=labels["pool_id"])
            bound = total(s, NS + "desktop_pool_desktops_assigned", pool_id=labels["pool_id"])
            return bound / size if size else -1.0
    return -1.0


def _quota_share(s: Samples) -> float:
    limit = total(s, NS + "quota_limit", resource="general_instances")
    return total(s, NS + "quota_used", resource="general_instances") / limit if limit else -1.0


def _outdated_windows(s: Samples) -> bool:
    outdated = total(s, NS + "agent_outdated_desktops", os_type="Windows")
    desktops = total(s, NS + "agent_version_desktops", os_type="Windows")
    return outdated >= 2 and outdated / max(desktops, 1) > 0.2


# The fleet scenarios: each alert expression's condition, on the exporter's own series.
FLEET_CHECKS: dict[str, Any] = {
    "pool-nearly-full": lambda s: 0.9 <= _dynamic_pool_share(s) < 1,
    "pool-exhausted": lambda s: _dynamic_pool_share(s) == 1,
    "quota-nearly-full": lambda s: 0.9 <= _quota_share(s) < 1,
    "quota-exhausted": lambda s: _quota_share(s) == 1,
    "nightly-task-fails": lambda s: total(s, NS + "scheduled_task_last_run_desktops", result="failed") >= 1,
    "agents-outdated": lambda s: (
        total(s, NS + "upgrade_task_last_status", status="FAILED") == 1 and _outdated_windows(s)
    ),
    "cloud-alarm": lambda s: total(s, NS + "alarms_active", level="critical") > 0,
    "permission-missing": lambda s: total(s, NS + "source_permission_missing", source="quotas") == 1,
}
