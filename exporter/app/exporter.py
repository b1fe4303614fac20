"""Wiring: builds one target's client, budget, sources, runners and registries from Settings.

Every source comes from one table, :data:`SOURCES`; the exporter derives everything
else from it: the APIs the self-metrics pre-declare, the health list, the data
version (render caching), the shard scope, the runners, reload and the data families.
Adding a source is one entry here (see docs/architecture.md).

:class:`Exporter` owns one target's lifecycle (start, apply, stop);
:class:`~exporter.app.multi.MultiExporter` combines the targets of one process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from exporter.app import fleet
from exporter.app.scheduler import MonitoringRunner, PeriodicRunner
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import Config, InventoryConfig, Settings
from exporter.exposition import connections as connection_exposition
from exporter.exposition import events as event_exposition
from exporter.exposition.collector import DataCollector
from exporter.exposition.desktops import desktop_families
from exporter.exposition.lines import DesktopLines
from exporter.exposition.selfmetrics import ApiMetrics, ReloadState, StatusCollector
from exporter.logs import setup_logging
from exporter.sources.base import Source, SourceHealth
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.connections import ConnectionsSource
from exporter.sources.events import OPS_API, EventsSource
from exporter.sources.inventory import InventorySnapshot, InventorySource
from exporter.sources.monitoring import MonitoringSnapshot, MonitoringSource
from exporter.sources.monitoring_paths import MonitoringPaths
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


def _periodic(source: Source, x: Exporter) -> threading.Thread:
    return PeriodicRunner(source, x.clock, x.stop_event, x.call_deadline, x.client.auth_gate.paused)


@dataclass(frozen=True)
class SourceEntry:
    """One row of the source table.

    ``selected`` is read at start-up only: a source not built then is not built by a
    reload. ``enabled`` is read on every render and reload: a built source exports,
    reports health and runs only while it is true.
    """

    selected: Callable[[Config], bool]
    enabled: Callable[[Config], bool]
    build: Callable[[Exporter], Source]
    families: Callable[[Exporter], list[Metric]] | None = None  # None: rendered with another
    runner: Callable[[Source, Exporter], threading.Thread] = _periodic


def _always(_: Config) -> bool:
    return True


def _desktops(x: Exporter) -> list[Metric]:
    cfg = x.settings.config
    monitoring = x.monitoring.snapshot if cfg.monitoring.enabled else None
    return desktop_families(x.inventory.snapshot, monitoring, cfg.inventory)


class _DesktopView:
    """The snapshots the fast desktop renderer reads, as :func:`_desktops` reads them."""

    def __init__(self, x: Exporter) -> None:
        self._x = x

    @property
    def inventory(self) -> InventorySnapshot | None:
        return self._x.inventory.snapshot

    @property
    def monitoring(self) -> MonitoringSnapshot | None:
        return self._x.monitoring.snapshot if self._x.settings.config.monitoring.enabled else None

    @property
    def inventory_config(self) -> InventoryConfig:
        return self._x.settings.config.inventory


class _Together(threading.Thread):
    """Several runners started, and joined, as one."""

    def __init__(self, name: str, *runners: threading.Thread) -> None:
        super().__init__(name=name, daemon=True)
        self.runners = runners

    def run(self) -> None:
        for r in self.runners:
            r.start()
        for r in self.runners:
            r.join()

    def kick(self) -> None:
        """Refresh the periodic ones now (used after a config reload)."""
        for r in self.runners:
            if isinstance(r, PeriodicRunner):
                r.kick()

    def wake(self) -> None:
        """End every runner's wait now (used at stop)."""
        for r in self.runners:
            if isinstance(r, PeriodicRunner | MonitoringRunner):
                r.wake()


def _monitoring_runners(source: Source, x: Exporter) -> threading.Thread:
    """Per-desktop calls (paused while Cloud Eye serves) and the pass choosing the path."""
    if not isinstance(source, MonitoringPaths):
        raise TypeError(f"monitoring runners for {type(source).__name__}")
    workers = x.settings.config.budget.max_concurrency
    paused = x.client.auth_gate.paused
    per_desktop = MonitoringRunner(
        source.per_desktop,
        x.inventory,
        x.clock,
        x.stop_event,
        workers,
        call_deadline=x.call_deadline,
        auth_paused=paused,
    )
    passes = PeriodicRunner(source.driver, x.clock, x.stop_event, x.call_deadline, paused)
    return _Together("refresh-monitoring-paths", per_desktop, passes)


def _monitoring(x: Exporter) -> MonitoringPaths:
    cfg = x.settings.config

    def effective_rate() -> float:  # lowered after a 429, unlike rate_for
        state = x.budget.state().get("desktop_monitor")
        return state.effective_per_minute if state else x.budget.rate_for("desktop_monitor")

    # The per-desktop pace (and with it the pass deadline and how long values live) follows the
    # rate the budget allows now: while throttled the calls back off, and a pass that is slow
    # because it backed off neither turns `up` to 0 nor lets values expire.
    per_desktop = MonitoringSource(
        x.client,
        cfg.monitoring,
        x.clock,
        x.api_metrics,
        effective_rate,
        configured_rate=lambda: x.budget.rate_for("desktop_monitor"),
    )
    cloudeye = CloudEyeSource(
        x.client,
        cfg.monitoring,
        x.clock,
        x.api_metrics,
        lambda: x.inventory.snapshot,
        x.stop_event,
        cfg.region,
    )

    # The configured rate, not the one lowered after a 429: throttling backs the calls off,
    # it does not move the path.
    return MonitoringPaths(
        per_desktop, cloudeye, cfg.monitoring, x.clock, lambda: x.budget.rate_for("desktop_monitor")
    )


SOURCES: tuple[SourceEntry, ...] = (
    SourceEntry(
        _always,
        _always,
        lambda x: InventorySource(
            x.client, x.settings.config.inventory, x.clock, x.api_metrics, x.settings.config.shard
        ),
        _desktops,  # inventory and monitoring rows are joined into one set of families
    ),
    SourceEntry(_always, lambda c: c.monitoring.enabled, _monitoring, runner=_monitoring_runners),
    SourceEntry(
        lambda c: c.events.enabled,
        lambda c: c.events.enabled,
        lambda x: EventsSource(
            x.client,
            x.settings.config.events,
            x.clock,
            x.api_metrics,
            lambda: x.budget.rate_for(OPS_API),
        ),
        lambda x: event_exposition.families(x.source("events", EventsSource).snapshot),
    ),
    SourceEntry(
        lambda c: c.connections.enabled,
        lambda c: c.connections.enabled,
        lambda x: ConnectionsSource(x.client, x.settings.config.connections, x.clock, x.api_metrics),
        lambda x: connection_exposition.families(x.source("connections", ConnectionsSource).snapshot),
    ),
    # Fleet capacity and health, project-wide (exporter/app/fleet.py).
    SourceEntry(fleet.on("pools"), fleet.on("pools"), fleet.build("pools"), fleet.families("pools")),
    SourceEntry(fleet.on("quotas"), fleet.on("quotas"), fleet.build("quotas"), fleet.families("quotas")),
    SourceEntry(fleet.on("tasks"), fleet.on("tasks"), fleet.build("tasks"), fleet.families("tasks")),
    SourceEntry(fleet.on("agents"), fleet.on("agents"), fleet.build("agents"), fleet.families("agents")),
    SourceEntry(fleet.on("alarms"), fleet.on("alarms"), fleet.build("alarms"), fleet.families("alarms")),
    SourceEntry(
        fleet.on("user_events"),
        fleet.on("user_events"),
        fleet.build("user_events"),
        fleet.families("user_events"),
    ),
)


class Exporter:
    """One target: the sources of :data:`SOURCES` refreshing in the background, two registries."""

    # What a table entry's factories may use (declared here: the table precedes the class).
    settings: Settings
    clock: Clock
    budget: Budget
    api_metrics: ApiMetrics
    client: WorkspaceClient

    def __init__(
        self,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
        table: tuple[SourceEntry, ...] = SOURCES,
    ) -> None:
        cfg = settings.config
        self.settings = settings
        self.clock = clock
        # Upstream data (rendered once per data version) and live self-metrics (per scrape).
        self.data_registry = CollectorRegistry()
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
        self._runners: dict[str, threading.Thread] = {}
        for entry in table:
            if not entry.selected(cfg):
                continue
            source = entry.build(self)
            if source.scope == "project" and cfg.shard.index != 0:
                # Project-wide data on every shard would count each record shard.count times.
                continue
            self.sources[source.name] = source
            self._built.append((entry, source))
            for api in source.apis:
                self.api_metrics.declare(api)
        self.data_registry.register(DataCollector(self.families))
        # The same families as DataCollector, the desktop ones formatted incrementally
        # (MultiExporter renders these).
        self.lines = DesktopLines(lambda: _DesktopView(self), self._other_families)
        self.live_registry.register(
            StatusCollector(
                self.healths,
                lambda: self.budget,
                self._monitored,
                self.reload_state,
                lambda: self.monitoring.path,
                self.client.auth_status,
            )
        )
        self._monitored_cache: tuple[Hashable, int] = ((), 0)

    # -------------------------------------------------------------- reading

    def source(self, name: str, kind: type[S]) -> S:
        """The built source called ``name``, checked to be a ``kind``."""
        src = self.sources[name]
        if not isinstance(src, kind):
            raise TypeError(f"source {name} is a {type(src).__name__}, not a {kind.__name__}")
        return src

    @property
    def inventory(self) -> InventorySource:
        return self.source("inventory", InventorySource)

    @property
    def monitoring(self) -> MonitoringPaths:
        return self.source("monitoring", MonitoringPaths)

    @property
    def events(self) -> EventsSource | None:
        return self.source("events", EventsSource) if "events" in self.sources else None

    @property
    def connections(self) -> ConnectionsSource | None:
        return self.source("connections", ConnectionsSource) if "connections" in self.sources else None

    def _active(self) -> list[tuple[SourceEntry, Source]]:
        cfg = self.settings.config
        return [(e, s) for e, s in self._built if e.enabled(cfg)]

    def families(self) -> list[Metric]:
        """The upstream-data families of every enabled source, in table order (no I/O)."""
        out: list[Metric] = []
        for entry, _ in self._active():
            if entry.families is not None:
                out.extend(entry.families(self))
        return out

    def _other_families(self) -> list[Metric]:
        """The families of every enabled source but the desktop ones, in table order."""
        out: list[Metric] = []
        for entry, _ in self._active():
            if entry.families is not None and entry.families is not _desktops:
                out.extend(entry.families(self))
        return out

    def data_version(self) -> Hashable:
        """Changes whenever the data families would render differently."""
        versions = tuple(s.snapshot.version if s.snapshot is not None else None for _, s in self._active())
        return versions, id(self.settings)

    def healths(self) -> list[SourceHealth]:
        return [s.health for _, s in self._active()]

    def _monitored(self) -> int | None:
        if not self.settings.config.monitoring.enabled:
            return None
        inv = self.inventory.snapshot
        mon = self.monitoring.snapshot
        if inv is None:
            return 0
        # Computed per scrape but O(fleet): cache it per pair of snapshot versions.
        key = (inv.version, mon.version)
        cached = self._monitored_cache  # one read: scrape threads may replace it concurrently
        if cached[0] != key:
            cached = (key, len(inv.by_id.keys() & mon.entries.keys()))
            self._monitored_cache = cached
        return cached[1]

    def call_deadline(self) -> float:
        """``http.call_deadline`` of the running config (refresh deadlines derive from it)."""
        return self.settings.config.http.call_deadline

    def ready(self) -> bool:
        """Ready after the first successful inventory refresh, or once ``web.ready_timeout``
        has passed since start even while the inventory fails (so a broken upstream cannot
        block a rollout; ``up`` then says what is wrong)."""
        if self.inventory.health.status.last_success:
            return True
        if self._started_at is None:
            return False
        return self.clock.monotonic() - self._started_at >= self.settings.config.web.ready_timeout

    def threads(self) -> list[threading.Thread]:
        """Every runner thread (those run together too) and the client's deadline watch: the
        process needs each one alive."""
        out: list[threading.Thread] = self.client.threads()
        for r in list(self._runners.values()):
            out.append(r)
            if isinstance(r, _Together):
                out.extend(r.runners)
        return out

    def runner(self, name: str) -> threading.Thread | None:
        """The runner of source ``name``, None while it has none (not started or disabled)."""
        return self._runners.get(name)

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
        """A runner for every enabled source without one (at start, and when a reload enables one)."""
        for entry, source in self._active():
            if source.name not in self._runners:
                runner = entry.runner(source, self)
                self._runners[source.name] = runner
                runner.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every runner; returns within ``timeout`` seconds whatever the upstream does."""
        self.begin_stop()
        self.join(time.monotonic() + timeout)

    def begin_stop(self) -> None:
        """Tell every runner to stop and cut every upstream exchange in flight; does not wait."""
        self._stop.set()
        self.client.close()
        for r in self._runners.values():
            if isinstance(r, PeriodicRunner | MonitoringRunner | _Together):
                r.wake()  # end its wait between refreshes now rather than within a second

    def join(self, until: float) -> bool:
        """Wait for the runners until ``until`` (``time.monotonic()``); True if all stopped.

        A runner still busy then is a daemon thread stuck in a call the abort could not
        cut: it is left behind (the process exits without it) and named in the log.
        """
        for name, r in self._runners.items():
            r.join(max(0.0, until - time.monotonic()))
            if r.is_alive():
                log.warning("runner did not stop in time, leaving it behind source=%s", name)
        return not any(r.is_alive() for r in self._runners.values())

    # --------------------------------------------------------------- reload

    def apply(self, new: Settings) -> None:
        """Apply new settings without dropping snapshots, counters or caches (see MultiExporter.reload)."""
        old = self.settings.config
        cfg = new.config
        self.settings = new
        setup_logging(cfg.log.level, cfg.log.format)
        self.budget.reconfigure(cfg.budget)
        self.client.reconfigure(new)
        if old.monitoring.source != cfg.monitoring.source:
            log.info(
                "monitoring.source changed, choosing the path again old=%s new=%s",
                old.monitoring.source,
                cfg.monitoring.source,
            )
        for _, source in self._built:
            source.reconfigure(cfg)
        if self._started_at is not None:
            self._start_runners()
        monitoring = self._runners.get("monitoring")
        if old.monitoring.source != cfg.monitoring.source and isinstance(monitoring, _Together):
            monitoring.kick()  # choose the path now, not one interval later
        if (old.region, old.project_id, old.endpoints) != (cfg.region, cfg.project_id, cfg.endpoints):
            for r in self._runners.values():
                if isinstance(r, PeriodicRunner | _Together):
                    r.kick()
