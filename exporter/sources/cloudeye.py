"""Desktop monitoring from Cloud Eye (the ``cloudeye`` path of ``monitoring.source``).

The per-desktop path costs one desktop-monitor call per desktop per interval, which does
not scale past a few hundred desktops. This source reads the same metrics from Cloud Eye
(namespace ``monitoring.cloudeye_namespace``, default ``SYS.Workspace``) with one of two
batch queries, whichever the region has:

* v2 (``ces_batch_v2``, about ten regions): one metric for every desktop per paged call
  (1,000 datapoints a page). The answer has no total and the SDK documents an empty page
  as the end, so each refresh costs, per metric, ``ceil(datapoints / 1000) + 1`` calls
  (the last page empty): at most 12 x 11 = 132 for 10,000 desktops, 24 for 100.
* v1 (``ces_batch_v1``, every region): up to 500 metric/dimension pairs per call, sized
  by :func:`v1_batches` so an answer never passes Cloud Eye's 3,000 datapoints (beyond
  them it moves ``from`` forward and drops the oldest): 240 calls for 10,000 desktops.

The limits (500 pairs, 3,000 datapoints, 512 KB bodies, the v2 window) come from the
constraint table (:mod:`exporter.constraints.ces_windows`), which the fake enforces.

The first refresh asks v2; a 400 or 404 to its first query means the region lacks it and
the source uses v1 from then on (one info line naming the region and the path). A v1
region is asked about v2 again every :data:`REPROBE_S` and after a reload. Metrics Cloud
Eye does not have (``network_vm_connections`` is not in its documented list) cost one
empty call on v2.

Every refresh queries a window ending ``monitoring.cloudeye_delay`` before now (skipping
datapoints still being ingested): just under 5 minutes on v2 (it takes less than 5
minutes: 299,999 ms still holds one datapoint of every 5-minute series), 10 on v1. It keeps the
newest point per desktop, and publishes one immutable
:class:`~exporter.sources.monitoring.MonitoringSnapshot` with the metric keys and
units of the ``workspace`` source, so the exposition is the same. Only desktops of
the current inventory are kept: datapoints for other dimension values, and garbage
datapoints, are counted as invalid responses and skipped. Cloud Eye has no login
data, so the online state comes from the inventory's ``login_status`` and session
times stay absent.

Each value expires ``monitoring.max_age`` after it was last refreshed, so a desktop
(or one failing metric) missing from a refresh keeps its previous value until then.

The dimension carrying the desktop id is ``monitoring.cloudeye_dimension``; when
empty it is discovered once from Cloud Eye's metric list (the most common dimension
name on its first page), falling back to ``instance_id`` while the list is empty.

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

import json
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from exporter.clock import Clock
from exporter.config.settings import Config, MonitoringConfig
from exporter.constraints.ces_windows import (
    V1_MAX_BODY,
    V1_MAX_METRICS,
    V1_MAX_POINTS,
    V2_MAX_SPAN_MS,
    v1_max_metrics,
)
from exporter.errors import AuthError, ClientRequestError, ExporterError, ShutdownError, UpstreamError
from exporter.sources.base import InvalidSink, Scope, SourceHealth, failure_key, is_systemic
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.monitoring import FIELDS, DesktopMetrics, MonitoringSnapshot
from exporter.timeutil import epoch_seconds, finite_number

log = logging.getLogger(__name__)

API = "ces_batch_v2"
API_V1 = "ces_batch_v1"
DISCOVERY_API = "ces_metrics"
PATH_V2, PATH_V1 = "cloudeye_v2", "cloudeye_v1"
REPROBE_S = 6 * 3600.0  # a region that lacked the v2 query is asked again this rarely
V1_PERIOD_S = 300  # Workspace reports every 5 minutes: the raw data at its own period
V1_WINDOW_S = 600.0  # two periods, so an ingestion delay of one period loses nothing
V1_MAX_PAIRS = V1_MAX_METRICS  # metric/dimension pairs per v1 call (the API's limit)
FALLBACK_DIMENSION = "instance_id"
# The v2 batch query takes a window under 5 minutes; whether 300,000 ms itself is accepted
# is not documented, so one millisecond less (the datapoints of 5-minute series are
# 300,000 ms apart: a window of 300,000 whole milliseconds always holds one of them).
WINDOW_MS = V2_MAX_SPAN_MS - 1
FUTURE_SLACK_S = 3600.0  # datapoints further ahead of our clock than this are garbage
GIVE_UP_AFTER = 3  # consecutive systemic failures that end a refresh (the upstream is down)

# Cloud Eye metric name -> (metric key, divisor to base units), derived from the workspace
# source's table so both sources expose the same families in the same order.
_CES_NAMES = {"cpu_info": "cpu_util", "memory_info": "mem_util"}
METRICS: dict[str, tuple[str, float]] = {_CES_NAMES.get(k, k): v for k, v in FIELDS.items()}
_KEY_ORDER = [key for key, _ in METRICS.values()]

# Inventory login_status -> online state (Cloud Eye has no login data).
LOGIN_STATES = {
    "CONNECTED": "logged_in",
    "DISCONNECTED": "not_logged_in",
    "REGISTERED": "not_logged_in",
    "UNREGISTER": "not_logged_in",
}


class CloudEyeClient(Protocol):
    def ces_list_metrics(self, namespace: str, max_pages: int = ...) -> list[dict[str, Any]]: ...

    def ces_batch_latest(
        self,
        namespace: str,
        metric_name: str,
        dimension: str,
        from_ms: int,
        to_ms: int,
        max_points: int = ...,
    ) -> list[dict[str, Any]]: ...

    def ces_batch_series(
        self, metrics: list[dict[str, Any]], period: int, from_ms: int, to_ms: int
    ) -> list[dict[str, Any]]: ...


class InventoryNotReadyError(ExporterError):
    """No desktop inventory yet, so Cloud Eye datapoints cannot be matched to desktops."""


@dataclass(frozen=True)
class _Value:
    value: float  # base units
    sample_time: float  # epoch seconds of the datapoint
    seen: float  # monotonic time of the refresh that delivered it


def online_state(login_status: str) -> str | None:
    """``CONNECTED`` → logged_in, the other known states → not_logged_in, else None."""
    return LOGIN_STATES.get(login_status.strip().upper())


def most_common_dimension(entries: Iterable[Mapping[str, Any]]) -> str | None:
    """The dimension name used most often in ListMetrics entries, or None when there is none."""
    names: Counter[str] = Counter()
    for entry in entries:
        dims = entry.get("dimensions")
        if not isinstance(dims, list):
            continue
        for d in dims:
            if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"]:
                names[d["name"]] += 1
    return names.most_common(1)[0][0] if names else None


def _desktop_id(point: Mapping[str, Any], dimension: str, known: Mapping[str, object]) -> str | None:
    dims = point.get("dimensions")
    if not isinstance(dims, list):
        return None
    for d in dims:
        if isinstance(d, dict) and d.get("name") == dimension:
            for key in ("value", "origin_value"):
                value = d.get(key)
                if isinstance(value, str) and value in known:
                    return value
    return None


def newest_points(
    points: Iterable[Mapping[str, Any]], dimension: str, known: Mapping[str, object], now: float
) -> tuple[dict[str, tuple[float, float]], int]:
    """Per known desktop id, the ``(value, timestamp seconds)`` of its newest valid datapoint,
    plus the number of datapoints skipped (garbage, or a dimension value not in ``known``)."""
    best: dict[str, tuple[float, float]] = {}
    invalid = 0
    for p in points:
        value, ts = finite_number(p.get("value"), text=False), epoch_seconds(p.get("timestamp"))
        did = _desktop_id(p, dimension, known)
        if did is None or ts is None or ts > now + FUTURE_SLACK_S or value is None or value < 0:
            invalid += 1
            continue
        old = best.get(did)
        if old is None or ts > old[1]:
            best[did] = (value, ts)
    return best, invalid


def lacks_api(error: UpstreamError) -> bool:
    """True for the answers of a region that does not offer an API: 404 (not published,
    APIGW.0101) or a 400 rejecting the call itself."""
    return isinstance(error, ClientRequestError) and error.status in (400, 404)


def denied(error: UpstreamError) -> bool:
    """A batch query Cloud Eye will not answer: forbidden (the IAM action is missing), or
    the v1 query not found (no Cloud Eye batch query in this region at all)."""
    if error.api not in (API, API_V1):
        return False
    if isinstance(error, AuthError):
        return error.status == 403
    return error.api == API_V1 and error.status == 404


def v1_batches(
    entries: list[dict[str, Any]], window_s: float, period_s: float
) -> Iterator[list[dict[str, Any]]]:
    """Split v1 query entries into calls Cloud Eye answers whole.

    A series holds at most ``window / period + 1`` datapoints; Cloud Eye answers at most
    :data:`V1_MAX_POINTS` in total (beyond that it moves ``from`` forward and drops the
    oldest: its rule is ``pairs × window ÷ period ≤ 3,000``), at most :data:`V1_MAX_PAIRS`
    entries and a body of :data:`V1_MAX_BODY` bytes.
    """
    per_series = math.floor(window_s / period_s) + 1
    documented = v1_max_metrics(round(window_s * 1000), str(int(period_s)))
    pairs = max(1, min(V1_MAX_PAIRS, V1_MAX_POINTS // per_series, documented))
    batch: list[dict[str, Any]] = []
    size = 200  # the envelope: period, filter, from, to
    for entry in entries:
        cost = len(json.dumps(entry, separators=(",", ":"))) + 1
        if batch and (len(batch) >= pairs or size + cost > V1_MAX_BODY):
            yield batch
            batch, size = [], 200
        batch.append(entry)
        size += cost
    if batch:
        yield batch


def newest_series(
    items: Iterable[Mapping[str, Any]], dimension: str, known: Mapping[str, object], now: float
) -> tuple[dict[str, dict[str, tuple[float, float]]], int, int]:
    """Per metric name and known desktop id, the newest valid ``(average, timestamp s)`` of
    v1 answer entries; plus the count of skipped datapoints and of datapoints read."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    invalid = seen = 0
    for item in items:
        metric = item.get("metric_name")
        points = item.get("datapoints")
        if metric not in METRICS or not isinstance(points, list):
            invalid += 1
            continue
        did = _desktop_id(item, dimension, known)
        seen += len(points)
        for p in points:
            value = finite_number(p.get("average"), text=False) if isinstance(p, dict) else None
            ts = epoch_seconds(p.get("timestamp")) if isinstance(p, dict) else None
            if did is None or ts is None or ts > now + FUTURE_SLACK_S or value is None or value < 0:
                invalid += 1
                continue
            best = out.setdefault(str(metric), {})
            old = best.get(did)
            if old is None or ts > old[1]:
                best[did] = (value, ts)
    return out, invalid, seen


class CloudEyeSource:
    """Refreshes every desktop's metrics with Cloud Eye batch queries (run by a PeriodicRunner).

    Publishes the same :class:`~exporter.sources.monitoring.MonitoringSnapshot` as the
    ``workspace`` source, under the same name, so the exposition cannot tell them apart.
    """

    name = "monitoring"
    apis: tuple[str, ...] = (API, API_V1, DISCOVERY_API)
    scope: Scope = "shard"  # queries the desktops of the shard's inventory

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
        self._invalid = invalid
        self._inventory = inventory
        self._stop = stop or threading.Event()
        self.health = SourceHealth(self.name, clock)
        self._lock = threading.Lock()
        self._store: dict[str, dict[str, _Value]] = {}
        self._discovered: str | None = None
        self._fallback_logged = False
        # metric or API name -> the last failure's kind (failure_key: never the request id or the
        # message, which change per call), logged when it changes
        self._failing: dict[str, tuple[object, ...]] = {}
        self._unmatched_logged = False
        self._retry: set[str] = set()  # metrics that failed in the last refresh
        self._last_full: float | None = None  # monotonic start of the last refresh of every metric
        self.path: str | None = None  # PATH_V2 or PATH_V1 once a query answered
        # The 403 (or v1's 404) of the last refresh when no query answered: Cloud Eye is
        # not usable with these credentials or in this region.
        self.unavailable: UpstreamError | None = None
        self.quiet_refusals = False  # the owner reports refusals itself (monitoring.source: auto)
        self._probed_at: float | None = None  # monotonic time the path was last chosen
        self.snapshot = MonitoringSnapshot(MappingProxyType({}), clock.time())

    def interval(self) -> float:
        return self.config.interval

    @property
    def dimension(self) -> str | None:
        """The dimension name in use: configured, discovered, or None before discovery."""
        return self.config.cloudeye_dimension or self._discovered

    def reconfigure(self, config: Config) -> None:
        with self._lock:
            new = config.monitoring
            if new.cloudeye_namespace != self.config.cloudeye_namespace:
                self._discovered = None  # discover again in the new namespace
            self.config = new
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
            dimension = self._resolve_dimension(cfg, errors)
            metrics = self._due_metrics(cfg.interval)
            self._retry = self._query_all(cfg, dimension, inventory, metrics, errors)
        self._publish(inventory)
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

    def _resolve_dimension(self, cfg: MonitoringConfig, errors: list[UpstreamError]) -> str:
        if cfg.cloudeye_dimension:
            return cfg.cloudeye_dimension
        if self._discovered:
            return self._discovered
        try:
            entries = self._client.ces_list_metrics(cfg.cloudeye_namespace, max_pages=1)
        except ShutdownError:
            raise
        except UpstreamError as e:
            if self._failing.get(DISCOVERY_API) != failure_key(e):
                log.warning(
                    "cannot list Cloud Eye metrics to discover the dimension, using a fallback for now "
                    "(set monitoring.cloudeye_dimension to skip discovery) dimension=%s error=%s",
                    FALLBACK_DIMENSION,
                    e,
                )
            self._failing[DISCOVERY_API] = failure_key(e)
            errors.append(e)
            return FALLBACK_DIMENSION
        self._failing.pop(DISCOVERY_API, None)
        name = most_common_dimension(entries)
        if name is None:
            if not self._fallback_logged:
                log.warning(
                    "no Cloud Eye metrics in the namespace yet, using a fallback until some appear "
                    "namespace=%s dimension=%s",
                    cfg.cloudeye_namespace,
                    FALLBACK_DIMENSION,
                )
                self._fallback_logged = True
            return FALLBACK_DIMENSION
        with self._lock:
            if self.config.cloudeye_namespace == cfg.cloudeye_namespace:
                self._discovered = name
        log.info(
            "discovered Cloud Eye dimension name=%s namespace=%s metrics_seen=%d",
            name,
            cfg.cloudeye_namespace,
            len(entries),
        )
        return name

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
        to_ms = math.floor((now - cfg.cloudeye_delay) * 1000)
        reprobe = self._probed_at is None or self._clock.monotonic() - self._probed_at >= REPROBE_S
        if self.path == PATH_V2 or reprobe:
            failed, missing = self._query_v2(cfg, dimension, inventory, metrics, errors, now, to_ms)
            if missing is None:
                if reprobe and len(failed) < len(metrics):  # v2 answered: this region has it
                    self._choose(PATH_V2, "")
                return failed
            self._choose(PATH_V1, f"the v2 batch query answered {missing.status} {missing.error_code}")
            errors.remove(missing)
        return self._query_v1(cfg, dimension, inventory, metrics, errors, now, to_ms)

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

    class _Streak:
        """Consecutive systemic failures within one refresh: past ``GIVE_UP_AFTER`` the
        upstream is taken to be down and the rest of the refresh is skipped, on either path."""

        def __init__(self) -> None:
            self._n = 0

        @property
        def given_up(self) -> bool:
            return self._n >= GIVE_UP_AFTER

        def failed(self, error: UpstreamError) -> None:
            self._n = self._n + 1 if is_systemic(error) else 0

        def ok(self) -> None:
            self._n = 0

    def _query_v2(
        self,
        cfg: MonitoringConfig,
        dimension: str,
        inventory: InventorySnapshot,
        metrics: list[str],
        errors: list[UpstreamError],
        now: float,
        to_ms: int,
    ) -> tuple[set[str], UpstreamError | None]:
        """One paged v2 query per metric. When the first answer is a 400/404 (the region has
        no v2 query) returns that error instead of going on."""
        from_ms = to_ms - WINDOW_MS
        # Bounds paging even if the upstream ignored the offset; a window holds one or
        # two datapoints per desktop, plus desktops that left the inventory.
        max_points = 3 * len(inventory.desktops) + 1000
        points_seen = matched = 0
        streak = self._Streak()
        failed: set[str] = set()
        for i, metric in enumerate(metrics):
            if streak.given_up:
                log.debug("Cloud Eye looks down, skipping a metric this refresh metric=%s", metric)
                failed.add(metric)
                continue
            try:
                points = self._client.ces_batch_latest(
                    cfg.cloudeye_namespace, metric, dimension, from_ms, to_ms, max_points
                )
            except ShutdownError:
                raise
            except UpstreamError as e:
                errors.append(e)
                if i == 0 and lacks_api(e):
                    return failed, e
                self._metric_failed(metric, e)
                failed.add(metric)
                streak.failed(e)
                continue
            streak.ok()
            self._metric_ok(metric)
            best, invalid = newest_points(points, dimension, inventory.by_id, now)
            for _ in range(invalid):
                self._invalid.invalid_response(API)
            points_seen += len(points)
            matched += len(best)
            self._store_values(metric, best)
        self._check_matches(dimension, points_seen, matched)
        return failed, None

    def _query_v1(
        self,
        cfg: MonitoringConfig,
        dimension: str,
        inventory: InventorySnapshot,
        metrics: list[str],
        errors: list[UpstreamError],
        now: float,
        to_ms: int,
    ) -> set[str]:
        """The v1 query: every (desktop, metric) pair, in batches sized by :func:`v1_batches`."""
        from_ms = to_ms - int(V1_WINDOW_S * 1000)
        entries = [
            {
                "namespace": cfg.cloudeye_namespace,
                "metric_name": metric,
                "dimensions": [{"name": dimension, "value": did}],
            }
            for metric in metrics
            for did in inventory.by_id
        ]
        points_seen = matched = 0
        streak = self._Streak()
        failed: set[str] = set()
        for batch in v1_batches(entries, V1_WINDOW_S, V1_PERIOD_S):
            names = {str(e["metric_name"]) for e in batch}
            if streak.given_up:
                failed |= names
                continue
            try:
                items = self._client.ces_batch_series(batch, V1_PERIOD_S, from_ms, to_ms)
            except ShutdownError:
                raise
            except UpstreamError as e:
                errors.append(e)
                for metric in sorted(names):
                    self._metric_failed(metric, e)
                failed |= names
                streak.failed(e)
                continue
            streak.ok()
            per_metric, invalid, seen = newest_series(items, dimension, inventory.by_id, now)
            for _ in range(invalid):
                self._invalid.invalid_response(API_V1)
            points_seen += seen
            for metric, best in per_metric.items():
                matched += len(best)
                self._store_values(metric, best)
        for metric in metrics:
            if metric not in failed:
                self._metric_ok(metric)
        self._check_matches(dimension, points_seen, matched)
        return failed

    def _store_values(self, metric: str, best: Mapping[str, tuple[float, float]]) -> None:
        key, divisor = METRICS[metric]
        seen = self._clock.monotonic()
        with self._lock:
            for did, (value, ts) in best.items():
                self._store.setdefault(did, {})[key] = _Value(value / divisor, ts, seen)

    def _check_matches(self, dimension: str, points_seen: int, matched: int) -> None:
        if points_seen and not matched:
            if not self._unmatched_logged:
                log.warning(
                    "Cloud Eye datapoints name no desktop of the inventory; check "
                    "monitoring.cloudeye_dimension datapoints=%d dimension=%s",
                    points_seen,
                    dimension,
                )
                self._unmatched_logged = True
        elif matched:
            self._unmatched_logged = False

    def _metric_failed(self, metric: str, error: UpstreamError) -> None:
        kind = failure_key(error)
        if self.quiet_refusals and denied(error):
            log.debug("Cloud Eye refused a query metric=%s error=%s", metric, error)
        elif self._failing.get(metric) != kind:
            log.warning(
                "Cloud Eye query failed, its last values are kept until monitoring.max_age "
                "metric=%s error=%s",
                metric,
                error,
            )
        self._failing[metric] = kind

    def _metric_ok(self, metric: str) -> None:
        if self._failing.pop(metric, None) is not None:
            log.info("Cloud Eye query recovered metric=%s", metric)

    def _publish(self, inventory: InventorySnapshot) -> None:
        """Drop expired values and desktops that left the inventory; swap in a new snapshot."""
        now = self._clock.monotonic()
        max_age = self.config.max_age
        entries: dict[str, DesktopMetrics] = {}
        with self._lock:
            for did in list(self._store):
                desktop = inventory.by_id.get(did)
                fresh = {k: v for k, v in self._store[did].items() if now - v.seen < max_age}
                if desktop is None or not fresh:
                    del self._store[did]
                    continue
                self._store[did] = fresh
                values = tuple((k, fresh[k].value) for k in _KEY_ORDER if k in fresh)
                newest = max(v.sample_time for v in fresh.values())
                entries[did] = DesktopMetrics(did, values, newest, online_state(desktop.login_status))
        self.snapshot = MonitoringSnapshot(MappingProxyType(entries), self._clock.time())
