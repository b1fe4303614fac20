"""One target (an :class:`Exporter`) built from a table of sources.

The exporter derives everything from the table it is given (:data:`exporter.app.table.SOURCES`
by default, one :class:`~exporter.app.entry.SourceEntry` per source): which sources to build
(config section, shard scope), the APIs the self-metrics pre-declare, the runners and the
health they report, readiness, the data version (render caching), the data families and the
per-scrape families in table order, and what a reload restarts. Nothing here names a source.

:class:`Exporter` owns one target's lifecycle (start, apply, stop);
:class:`~exporter.app.multi.MultiExporter` combines the targets of one process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from exporter.app.entry import Renderer, SourceEntry, Stamp
from exporter.app.scheduler import Runner
from exporter.app.table import SOURCES
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import Settings
from exporter.exposition.lines import Block
from exporter.exposition.selfmetrics import ApiMetrics, ReloadState, StatusCollector
from exporter.logs import setup_logging
from exporter.sources.base import Source, SourceHealth
from exporter.upstream.auth import credential_apis
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient

log = logging.getLogger(__name__)

# The process exits within SHUTDOWN_BOUND seconds of SIGTERM whatever the upstream does,
# well inside the 30 s a Kubernetes pod gets before SIGKILL: the runners get STOP_TIMEOUT
# of it, the HTTP server and the interpreter's exit the rest.
SHUTDOWN_BOUND = 10.0
STOP_TIMEOUT = 8.0

S = TypeVar("S")


def _snapshot_of(source: Source) -> Callable[[], object]:
    return lambda: source.snapshot


class Exporter:
    """One target: the sources of a table (:data:`SOURCES`) refreshing in the background."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
        table: tuple[SourceEntry, ...] = SOURCES,
    ) -> None:
        cfg = settings.config
        self.settings = settings
        self.clock = clock
        # The live self-metrics (encoded per scrape); the data families come from blocks().
        self.live_registry = CollectorRegistry()
        self.budget = Budget(cfg.budget, clock)
        self.api_metrics = ApiMetrics(self.live_registry, credential_apis(settings.credentials))
        self.client = WorkspaceClient(settings, self.budget, self.api_metrics, clock)
        self.reload_state = ReloadState()
        self.reload_state.last_success = clock.time()
        self._stop = threading.Event()
        self._started_at: float | None = None
        self.sources: dict[str, Source] = {}
        self._built: list[tuple[SourceEntry, Source]] = []
        for entry in table:
            if entry.scope == "project" and cfg.shard.index != 0:
                continue  # project-wide data on every shard would count each record shard.count times
            if not (entry.enabled(cfg) or entry.build_when_disabled):
                continue
            source = entry.build(self)
            if source.name != entry.name:
                raise ValueError(f"the {entry.name} entry built a source named {source.name}")
            self.sources[entry.name] = source
            self._built.append((entry, source))
            for api in entry.apis_for(cfg):
                self.api_metrics.declare(api)
        # Once every source is built, so that any of these may read another source.
        self._runners: dict[str, Runner] = {}  # one per built source, started while enabled
        self._started: dict[str, Runner] = {}
        self._renderers: dict[str, Renderer] = {}
        self._stamps: dict[str, Stamp] = {}
        self._status: dict[str, Callable[[], list[Metric]]] = {}
        for entry, source in self._built:
            self._runners[entry.name] = entry.runner(source, self)
            self._renderers[entry.name] = entry.render(self)
            self._stamps[entry.name] = Stamp(_snapshot_of(source))
            if entry.status is not None:
                self._status[entry.name] = entry.status(self)
        self.live_registry.register(
            StatusCollector(
                self.healths,
                lambda: self.budget,
                self._source_status,
                self.reload_state,
                self.client.auth_status,
            )
        )

    # -------------------------------------------------------------- reading

    def source(self, name: str, kind: type[S]) -> S:
        """The built source called ``name``, checked to be a ``kind``."""
        src = self.sources.get(name)
        if src is None:
            raise KeyError(f"no source {name} in this exporter's table (or not on this shard)")
        if not isinstance(src, kind):
            raise TypeError(f"source {name} is a {type(src).__name__}, not a {kind.__name__}")
        return src

    def _active(self) -> list[SourceEntry]:
        cfg = self.settings.config
        return [e for e, _ in self._built if e.enabled(cfg)]

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]:
        """The data families of every enabled source, in table order (the renderer's input)."""
        return [b for e in self._active() for b in self._renderers[e.name].blocks(extra_labels)]

    def data_version(self) -> Hashable:
        """Changes whenever the data families would render differently."""
        return tuple(self._stamps[e.name]() for e in self._active()), id(self.settings)

    def healths(self) -> list[SourceHealth]:
        """The health each enabled source's runner reports, in table order."""
        return [self._runners[e.name].health for e in self._active()]

    def health(self, name: str) -> SourceHealth:
        """The health the runner of source ``name`` reports."""
        return self._runners[name].health

    def _source_status(self) -> list[Metric]:
        return [f for e in self._active() if e.name in self._status for f in self._status[e.name]()]

    def call_deadline(self) -> float:
        """``http.call_deadline`` of the running config (refresh deadlines derive from it)."""
        return self.settings.config.http.call_deadline

    def ready(self) -> bool:
        """Ready after the first successful refresh of every source whose entry says
        ``readiness`` (the inventory), or once ``web.ready_timeout`` has passed since start
        even while one fails (so a broken upstream cannot block a rollout; ``up`` then says
        what is wrong)."""
        if all(self.health(e.name).status.last_success for e in self._active() if e.readiness):
            return True
        if self._started_at is None:
            return False
        return self.clock.monotonic() - self._started_at >= self.settings.config.web.ready_timeout

    def threads(self) -> list[threading.Thread]:
        """Every thread of the started runners and the client's deadline watch: the process
        needs each one alive."""
        return [*self.client.threads(), *(t for r in list(self._started.values()) for t in r.threads())]

    def runner(self, name: str) -> Runner | None:
        """The runner of source ``name`` once started, else None (not started or disabled)."""
        return self._started.get(name)

    # ------------------------------------------------------------ lifecycle

    @property
    def stop_event(self) -> threading.Event:
        return self._stop

    def start(self) -> None:
        self._started_at = self.clock.monotonic()
        c = self.settings.credentials
        log.info(
            "credentials mode=%s source=%s chain=%s passed_over=%s",
            c.method,
            c.origin,
            c.chain,
            "; ".join(c.skipped),
        )
        self._start_runners()

    def _start_runners(self) -> None:
        """Start the runner of every enabled source not started yet (at start, and when a
        reload enables one)."""
        for entry in self._active():
            if entry.name not in self._started:
                runner = self._runners[entry.name]
                self._started[entry.name] = runner
                runner.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every runner; returns within ``timeout`` seconds whatever the upstream does."""
        self.begin_stop()
        self.join(time.monotonic() + timeout)

    def begin_stop(self) -> None:
        """Tell every runner to stop and cut every upstream exchange in flight; does not wait."""
        self._stop.set()
        self.client.close()
        for r in self._started.values():
            r.wake()  # end its wait between refreshes now rather than within a second

    def join(self, until: float) -> bool:
        """Wait for the runners until ``until`` (``time.monotonic()``); True if all stopped.

        A runner still busy then is a daemon thread stuck in a call the abort could not
        cut: it is left behind (the process exits without it) and named in the log.
        """
        for name, r in self._started.items():
            r.join(max(0.0, until - time.monotonic()))
            if r.is_alive():
                log.warning("runner did not stop in time, leaving it behind source=%s", name)
        # The client's deadline watch was told to end by begin_stop; it has nothing to wait on.
        for t in self.client.threads():
            t.join(max(0.0, until - time.monotonic()))
        return not any(r.is_alive() for r in self._started.values())

    # --------------------------------------------------------------- reload

    def apply(self, new: Settings) -> None:
        """Apply new settings without dropping snapshots, counters or caches (see MultiExporter.reload)."""
        old = self.settings.config
        cfg = new.config
        self.settings = new
        setup_logging(cfg.log.level, cfg.log.format)
        self.budget.reconfigure(cfg.budget)
        self.client.reconfigure(new)
        for _, source in self._built:
            source.reconfigure(cfg)
        if self._started_at is not None:
            self._start_runners()
        for entry, _ in self._built:
            runner = self._started.get(entry.name)
            if runner is not None and entry.kick(old, cfg):
                runner.kick()
