"""The Cloud Eye source: one refresh chooses the batch query the region has and publishes.

The first refresh asks v2 (:mod:`.v2`); a 400 or 404 to its first query means the region
lacks it and the source uses v1 (:mod:`.v1`) from then on (one info line naming the
region and the path). A v1 region is asked about v2 again every :data:`REPROBE_S` and
after a reload.

``up{source="monitoring"}`` is 1 when the last refresh answered every metric query,
or when some queries failed only with request errors (HTTP 400/404) while others
answered. It is 0 when any query (or the dimension discovery) failed with a
throttle, 5xx, network, auth or invalid-response error, or when every query failed;
the data of the queries that did answer is published all the same. After three
consecutive systemic failures the rest of that refresh is skipped (Cloud Eye is down,
not one metric), so an outage costs a few calls per retry rather than twelve, and an
early retry (the runner backs off 15 s, 30 s, … after a failure) asks only for the
metrics that failed, so failures do not multiply the cost of a cycle.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from types import MappingProxyType
from typing import Protocol

from exporter.clock import Clock
from exporter.config.settings import Config, MonitoringConfig
from exporter.errors import ExporterError, ShutdownError, UpstreamError
from exporter.sources.base import InvalidSink, SourceHealth, is_systemic
from exporter.sources.cloudeye.dimension import DISCOVERY_API, DimensionFinder, MetricListClient
from exporter.sources.cloudeye.ledger import Ledger
from exporter.sources.cloudeye.query import API, API_V1, METRICS, Query, denied
from exporter.sources.cloudeye.v1 import BatchSeriesClient, query_v1
from exporter.sources.cloudeye.v2 import BatchLatestClient, query_v2
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.monitoring import MonitoringSnapshot

log = logging.getLogger(__name__)

PATH_V2, PATH_V1 = "cloudeye_v2", "cloudeye_v1"
REPROBE_S = 6 * 3600.0  # a region that lacked the v2 query is asked again this rarely


class CloudEyeClient(MetricListClient, BatchLatestClient, BatchSeriesClient, Protocol):
    """The client calls of the source: the metric list, and both batch queries."""


class InventoryNotReadyError(ExporterError):
    """No desktop inventory yet, so Cloud Eye datapoints cannot be matched to desktops."""


class CloudEyeSource:
    """Refreshes every desktop's metrics with Cloud Eye batch queries (run by a PeriodicRunner).

    Publishes the same :class:`~exporter.sources.monitoring.MonitoringSnapshot` as the
    ``workspace`` source, under the same name, so the exposition cannot tell them apart.
    """

    name = "monitoring"
    apis: tuple[str, ...] = (API, API_V1, DISCOVERY_API)

    def __init__(
        self,
        client: CloudEyeClient,
        config: MonitoringConfig,
        clock: Clock,
        invalid: InvalidSink,
        inventory: Callable[[], InventorySnapshot | None],
        stop: threading.Event | None = None,
        region: str = "",
    ) -> None:
        self._client = client
        self._region = region
        self.config = config
        self._clock = clock
        self._inventory = inventory
        self._stop = stop or threading.Event()
        self.health = SourceHealth(self.name, clock)
        self._lock = threading.Lock()
        self._dimension = DimensionFinder(client, config.cloudeye_namespace)
        self._ledger = Ledger(clock, invalid)
        self._retry: set[str] = set()  # metrics that failed in the last refresh
        self._last_full: float | None = None  # monotonic start of the last refresh of every metric
        self.path: str | None = None  # PATH_V2 or PATH_V1 once a query answered
        # The 403 (or v1's 404) of the last refresh when no query answered: Cloud Eye is
        # not usable with these credentials or in this region.
        self.unavailable: UpstreamError | None = None
        self._probed_at: float | None = None  # monotonic time the path was last chosen
        self.snapshot = MonitoringSnapshot(MappingProxyType({}), clock.time())

    def interval(self) -> float:
        return self.config.interval

    @property
    def dimension(self) -> str | None:
        """The dimension name in use: configured, discovered, or None before discovery."""
        return self.config.cloudeye_dimension or self._dimension.discovered

    @property
    def quiet_refusals(self) -> bool:
        """True while the owner reports refusals itself (``monitoring.source: auto``): a
        refused query is then logged at debug level only."""
        return self._ledger.quiet_refusals

    @quiet_refusals.setter
    def quiet_refusals(self, value: bool) -> None:
        self._ledger.quiet_refusals = value

    def reconfigure(self, config: Config) -> None:
        with self._lock:
            self.config = config.monitoring
            self._dimension.reconfigure(self.config.cloudeye_namespace)
            self._region = config.region
            self._probed_at = None  # a reload may follow a region's change: ask v2 again

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """Query every metric once and publish a snapshot. Raises the first systemic error."""
        cfg = self.config
        if not cfg.enabled:
            return
        inventory = self.wait_for_inventory(max(cfg.interval, 60.0))
        errors: list[UpstreamError] = []
        metrics: list[str] = []
        if inventory.desktops:
            dimension = self._dimension.resolve(cfg, errors)
            metrics = self._due_metrics(cfg.interval)
            self._retry = self._query_all(cfg, dimension, inventory, metrics, errors)
        entries = self._ledger.entries(inventory, self.config.max_age)
        self.snapshot = MonitoringSnapshot(MappingProxyType(entries), self._clock.time())
        every_query_failed = bool(metrics) and len(self._retry) == len(metrics)
        self.unavailable = next((e for e in errors if denied(e)), None) if every_query_failed else None
        systemic = [e for e in errors if is_systemic(e)]
        if systemic:
            raise systemic[0]
        if metrics and len(self._retry) == len(metrics):
            raise errors[-1]

    def _due_metrics(self, interval: float) -> list[str]:
        """Every metric; but an early retry after a failed refresh asks only for the metrics
        that failed, so failures do not multiply the cost of a cycle."""
        now = self._clock.monotonic()
        if self._retry and self._last_full is not None and now - self._last_full < interval:
            return [m for m in METRICS if m in self._retry]
        self._last_full = now
        return list(METRICS)

    def wait_for_inventory(self, timeout: float) -> InventorySnapshot:
        deadline = self._clock.monotonic() + timeout
        while True:
            snap = self._inventory()
            if snap is not None:
                return snap
            if self._clock.monotonic() >= deadline:
                raise InventoryNotReadyError("no desktop inventory yet")
            if self._clock.sleep(0.2, self._stop):
                raise ShutdownError("stopped while waiting for the desktop inventory")

    def _query_all(
        self,
        cfg: MonitoringConfig,
        dimension: str,
        inventory: InventorySnapshot,
        metrics: list[str],
        errors: list[UpstreamError],
    ) -> set[str]:
        """Query ``metrics`` on the region's batch API, store the newest values; returns the
        metrics that failed. The first refresh (and one every :data:`REPROBE_S` on v1) asks
        the v2 query first; a 400 or 404 to it means the region lacks it: v1 from then on."""
        now = self._clock.time()
        q = Query(
            cfg.cloudeye_namespace, dimension, inventory, now, math.floor((now - cfg.cloudeye_delay) * 1000)
        )
        reprobe = self._probed_at is None or self._clock.monotonic() - self._probed_at >= REPROBE_S
        if self.path == PATH_V2 or reprobe:
            failed, missing = query_v2(self._client, q, metrics, errors, self._ledger)
            if missing is None:
                if reprobe and len(failed) < len(metrics):  # v2 answered: this region has it
                    self._choose(PATH_V2, "")
                return failed
            self._choose(PATH_V1, f"the v2 batch query answered {missing.status} {missing.error_code}")
            errors.remove(missing)
        return query_v1(self._client, q, metrics, errors, self._ledger)

    def _choose(self, path: str, why: str) -> None:
        self._probed_at = self._clock.monotonic()
        if path != self.path:
            log.info(
                "Cloud Eye batch query chosen path=%s region=%s reason=%s",
                path,
                self._region or "-",
                why or "the v2 batch query answered",
            )
        self.path = path
