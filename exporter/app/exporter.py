"""Wiring: builds the client, budget, sources, runners and registry from Settings.

:class:`Exporter` owns the lifecycle (start, reload, stop). It is what ``cli run``
and ``cli demo`` start and what integration tests drive in-process.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Hashable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.app.scheduler import MonitoringRunner, PeriodicRunner
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import Settings
from exporter.exposition.collector import DataView, WorkspaceCollector
from exporter.exposition.lines import DesktopLines
from exporter.exposition.render import CachedExposition
from exporter.exposition.selfmetrics import ApiMetrics, ReloadState, StatusCollector
from exporter.logs import setup_logging
from exporter.sources.base import SourceHealth
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.connections import install_connections
from exporter.sources.events import install as install_events
from exporter.sources.inventory import InventorySource
from exporter.sources.monitoring import MonitoringSource
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient

log = logging.getLogger(__name__)


def _shard_scope(settings: Settings) -> Settings:
    """Project-wide sources (connection records, events) run on shard 0 only, so a sharded
    project counts each record once; other shards export only their desktops."""
    cfg = settings.config
    if cfg.shard.index == 0 or not (cfg.connections.enabled or cfg.events.enabled):
        return settings
    cfg = dataclasses.replace(
        cfg,
        connections=dataclasses.replace(cfg.connections, enabled=False),
        events=dataclasses.replace(cfg.events, enabled=False),
    )
    return dataclasses.replace(settings, config=cfg)


class _Union(Collector):
    def __init__(self, *registries: CollectorRegistry) -> None:
        self._registries = registries

    def collect(self) -> Iterator[Metric]:
        for r in self._registries:
            yield from r.collect()


class Exporter:
    """One exporter instance: sources refreshing in the background plus a private registry."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
        overrides: Callable[[Settings], Settings] = lambda s: s,
    ) -> None:
        settings = _shard_scope(settings)
        cfg = settings.config
        self.settings = settings
        # Command-line flags that override config keys; re-applied on every reload.
        self._overrides = overrides
        self.clock = clock
        # Upstream data (rendered once per data version) and live self-metrics (per scrape);
        # ``registry`` is their union, used for name[] filtering and tests.
        self.data_registry = CollectorRegistry()
        self.live_registry = CollectorRegistry()
        self.registry = CollectorRegistry()
        self.registry.register(_Union(self.data_registry, self.live_registry))
        self.budget = Budget(cfg.budget, clock)
        apis = ["desktops_detail"]  # the monitoring APIs are declared by _build_monitoring
        if settings.credentials.method == "token":
            apis.append("iam_tokens")
        self.api_metrics = ApiMetrics(self.live_registry, apis)
        self.client = WorkspaceClient(settings, self.budget, self.api_metrics, clock)
        self.inventory = InventorySource(self.client, cfg.inventory, clock, self.api_metrics, cfg.shard)
        self.reload_state = ReloadState()
        self.reload_state.last_success = clock.time()
        # Runner bookkeeping exists before the installers, which call add_runner/stop_event.
        self._stop = threading.Event()
        self.monitoring = self._build_monitoring()
        self._started_at: float | None = None
        self._runners: list[threading.Thread] = []
        # Later sources register here: extra metric builders and extra health entries.
        self.extra_families: list[Callable[[], list[Metric]]] = []
        self.extra_versions: list[Callable[[], Hashable]] = []
        self.extra_healths: list[SourceHealth] = []
        # Feature installers: each later source wires itself in here (sources, runners, families).
        self.events = install_events(self)
        self.connections = install_connections(self)
        self.data_registry.register(WorkspaceCollector(self._view))
        # The same families as WorkspaceCollector, formatted incrementally (MultiExporter renders these).
        self.lines = DesktopLines(self._view, lambda: [f for build in self._view().extra for f in build()])
        self.live_registry.register(
            StatusCollector(self._healths, lambda: self.budget, self._monitored, self.reload_state)
        )
        self.exposition = CachedExposition(self.data_registry, self.live_registry, self.data_version)
        self._monitoring_runner: threading.Thread | None = None
        self._monitored_cache: tuple[Hashable, int] = ((), 0)

    # -------------------------------------------------------------- reading

    def _view(self) -> DataView:
        cfg = self.settings.config
        monitoring = self.monitoring.snapshot if cfg.monitoring.enabled else None
        return DataView(self.inventory.snapshot, monitoring, cfg.inventory, list(self.extra_families))

    def add_families(self, build: Callable[[], list[Metric]], version: Callable[[], Hashable]) -> None:
        """Register a later source's families; ``version`` must change whenever they would."""
        self.extra_families.append(build)
        self.extra_versions.append(version)

    def data_version(self) -> Hashable:
        """Changes whenever the data families would render differently."""
        if len(self.extra_versions) != len(self.extra_families):
            return object()  # an unversioned builder: never serve cached bytes
        inv = self.inventory.snapshot
        mon = self.monitoring.snapshot if self.settings.config.monitoring.enabled else None
        return (
            inv.version if inv else None,
            mon.version if mon else None,
            id(self.settings),
            tuple(v() for v in self.extra_versions),
        )

    def _healths(self) -> list[SourceHealth]:
        out = [self.inventory.health]
        if self.settings.config.monitoring.enabled:
            out.append(self.monitoring.health)
        return out + self.extra_healths

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

    def ready(self) -> bool:
        """Ready after the first inventory refresh, or once ``web.ready_timeout`` has passed."""
        if self.inventory.health.status.attempted:
            return True
        if self._started_at is None:
            return False
        return self.clock.monotonic() - self._started_at >= self.settings.config.web.ready_timeout

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._started_at = self.clock.monotonic()
        for runner in list(self._runners):  # added by feature installers before start()
            runner.start()
        inv = PeriodicRunner(self.inventory, self.clock, self._stop)
        self._runners.append(inv)
        inv.start()
        if self.settings.config.monitoring.enabled:
            self._start_monitoring()

    def _build_monitoring(self) -> MonitoringSource | CloudEyeSource:
        """The source named by ``monitoring.source`` (read at start-up; a reload does not switch)."""
        cfg = self.settings.config
        if cfg.monitoring.source == "cloudeye":
            for api in ("ces_batch_v2", "ces_metrics"):
                self.api_metrics.declare(api)
            return CloudEyeSource(
                self.client,
                cfg.monitoring,
                self.clock,
                self.api_metrics,
                lambda: self.inventory.snapshot,
                self._stop,
            )
        self.api_metrics.declare("desktop_monitor")
        return MonitoringSource(
            self.client,
            cfg.monitoring,
            self.clock,
            self.api_metrics,
            lambda: self.budget.rate_for("desktop_monitor"),
        )

    def _start_monitoring(self) -> None:
        runner: threading.Thread
        if isinstance(self.monitoring, CloudEyeSource):
            runner = PeriodicRunner(self.monitoring, self.clock, self._stop)
        else:
            runner = MonitoringRunner(
                self.monitoring,
                self.inventory,
                self.clock,
                self._stop,
                self.settings.config.budget.max_concurrency,
            )
        self._monitoring_runner = runner
        self._runners.append(runner)
        runner.start()

    def add_runner(self, runner: threading.Thread) -> None:
        """Start a runner for a source added by a later feature (stopped with the exporter)."""
        self._runners.append(runner)
        if self._started_at is not None:
            runner.start()

    @property
    def stop_event(self) -> threading.Event:
        return self._stop

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.client.close()
        for r in self._runners:
            if r.is_alive():
                r.join(timeout)

    # --------------------------------------------------------------- reload

    def apply(self, new: Settings) -> None:
        """Apply new settings without dropping snapshots, counters or caches (see MultiExporter.reload)."""
        new = _shard_scope(new)
        old = self.settings.config
        cfg = new.config
        self.settings = new
        setup_logging(cfg.log.level, cfg.log.format)
        self.budget.reconfigure(cfg.budget)
        self.client.reconfigure(new)
        self.inventory.config = cfg.inventory
        self.inventory.shard = cfg.shard
        if old.monitoring.source != cfg.monitoring.source:
            log.warning(
                "monitoring.source changed from %s to %s: takes effect after a restart",
                old.monitoring.source,
                cfg.monitoring.source,
            )
        self.monitoring.reconfigure(cfg.monitoring)
        if cfg.monitoring.enabled and self._monitoring_runner is None and self._started_at is not None:
            self._start_monitoring()
        if (old.region, old.project_id, old.endpoints) != (cfg.region, cfg.project_id, cfg.endpoints):
            for r in self._runners:
                if isinstance(r, PeriodicRunner):
                    r.kick()
