"""Wiring: builds the client, budget, sources, runners and registry from Settings.

:class:`Exporter` owns the lifecycle (start, reload, stop). It is what ``cli run``
and ``cli demo`` start and what integration tests drive in-process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from exporter.budget import Budget
from exporter.client import WorkspaceClient
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.collector import DataView, WorkspaceCollector
from exporter.config import Settings, load_config
from exporter.errors import ConfigError
from exporter.logs import setup_logging
from exporter.scheduler import MonitoringRunner, PeriodicRunner
from exporter.selfmetrics import ApiMetrics, ReloadState, StatusCollector
from exporter.sources.base import SourceHealth
from exporter.sources.connections import install_connections
from exporter.sources.events import install as install_events
from exporter.sources.inventory import InventorySource
from exporter.sources.monitoring import MonitoringSource

log = logging.getLogger(__name__)


class Exporter:
    """One exporter instance: sources refreshing in the background plus a private registry."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
        overrides: Callable[[Settings], Settings] = lambda s: s,
    ) -> None:
        cfg = settings.config
        self.settings = settings
        # Command-line flags that override config keys; re-applied on every reload.
        self._overrides = overrides
        self.clock = clock
        self.registry = CollectorRegistry()
        self.budget = Budget(cfg.budget, clock)
        apis = ["desktops_detail", "desktop_monitor"]
        if settings.credentials.method == "token":
            apis.append("iam_tokens")
        self.api_metrics = ApiMetrics(self.registry, apis)
        self.client = WorkspaceClient(settings, self.budget, self.api_metrics, clock)
        self.inventory = InventorySource(self.client, cfg.inventory, clock, self.api_metrics)
        self.monitoring = MonitoringSource(self.client, cfg.monitoring, clock, self.api_metrics)
        self.reload_state = ReloadState()
        self.reload_state.last_success = clock.time()
        # Runner bookkeeping exists before the installers, which call add_runner/stop_event.
        self._stop = threading.Event()
        self._started_at: float | None = None
        self._runners: list[threading.Thread] = []
        # Later sources register here: extra metric builders and extra health entries.
        self.extra_families: list[Callable[[], list[Metric]]] = []
        self.extra_healths: list[SourceHealth] = []
        # Feature installers: each later source wires itself in here (sources, runners, families).
        self.events = install_events(self)
        self.connections = install_connections(self)
        self.registry.register(WorkspaceCollector(self._view))
        self.registry.register(
            StatusCollector(self._healths, lambda: self.budget, self._monitored, self.reload_state)
        )
        self._monitoring_runner: MonitoringRunner | None = None
        self._reload_lock = threading.Lock()

    # -------------------------------------------------------------- reading

    def _view(self) -> DataView:
        cfg = self.settings.config
        monitoring = self.monitoring.snapshot if cfg.monitoring.enabled else None
        return DataView(self.inventory.snapshot, monitoring, cfg.inventory, list(self.extra_families))

    def _healths(self) -> list[SourceHealth]:
        out = [self.inventory.health]
        if self.settings.config.monitoring.enabled:
            out.append(self.monitoring.health)
        return out + self.extra_healths

    def _monitored(self) -> int | None:
        if not self.settings.config.monitoring.enabled:
            return None
        inv = self.inventory.snapshot
        entries = self.monitoring.snapshot.entries
        if inv is None:
            return 0
        return sum(1 for did in inv.by_id if did in entries)

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

    def _start_monitoring(self) -> None:
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

    def reload(self, path: str | None = None) -> tuple[bool, str]:
        """Re-read the config file; apply it if valid, keep the running config if not."""
        path = path or self.settings.source
        with self._reload_lock:
            try:
                new = self._overrides(load_config(path))
            except ConfigError as e:
                self.reload_state.successful = False
                for p in e.problems:
                    log.error("config reload rejected, keeping the running config: %s", p)
                return False, "config reload rejected: " + "; ".join(e.problems)
            self.apply(new)
            self.reload_state.successful = True
            self.reload_state.last_success = self.clock.time()
            log.info("config reloaded file=%s", path)
            return True, "config reloaded"

    def apply(self, new: Settings) -> None:
        """Apply new settings without dropping snapshots, counters or caches."""
        old = self.settings.config
        cfg = new.config
        self.settings = new
        setup_logging(cfg.log.level, cfg.log.format)
        self.budget.reconfigure(cfg.budget)
        self.client.reconfigure(new)
        self.inventory.config = cfg.inventory
        self.monitoring.reconfigure(cfg.monitoring)
        if cfg.monitoring.enabled and self._monitoring_runner is None and self._started_at is not None:
            self._start_monitoring()
        if (old.region, old.project_id, old.endpoints) != (cfg.region, cfg.project_id, cfg.endpoints):
            for r in self._runners:
                if isinstance(r, PeriodicRunner):
                    r.kick()
