"""Desktop monitoring: the newest datapoint of each metric, per desktop.

Data comes from ``GET /v2/{project_id}/desktop-monitor/{desktop_id}`` (one batch
call per desktop, ``metric_name`` empty, a window of at least an hour). Results go
into a cachetools ``TLRUCache`` (entries not refreshed for ``monitoring.max_age``
expire; see :meth:`MonitoringSource.interval` for fleets the budget cannot cover);
:meth:`MonitoringSource.publish` turns the cache into an immutable snapshot that
the renderer reads. Percentages become 0–1 ratios; timestamps given in seconds or
milliseconds both work; a missing metric stays absent (never 0 or NaN).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from cachetools import TLRUCache

from exporter.clock import Clock
from exporter.config.settings import Config, MonitoringConfig
from exporter.errors import ShutdownError, UpstreamError
from exporter.sources.base import InvalidSink, SourceHealth, is_systemic, next_version
from exporter.sources.conditions import RefreshConditions
from exporter.timeutil import epoch_seconds, finite_number, fmt_seconds, parse_time

log = logging.getLogger(__name__)

API = "desktop_monitor"

# API response key -> (metric key used by the catalogue, divisor to base units: percent -> ratio)
FIELDS: dict[str, tuple[str, float]] = {
    "cpu_info": ("cpu_usage_ratio", 100.0),
    "memory_info": ("memory_usage_ratio", 100.0),
    "disk_util_inband": ("disk_usage_ratio", 100.0),
    "disk_read_bytes_rate": ("disk_read_bytes_per_second", 1.0),
    "disk_write_bytes_rate": ("disk_write_bytes_per_second", 1.0),
    "disk_read_requests_rate": ("disk_read_requests_per_second", 1.0),
    "disk_write_requests_rate": ("disk_write_requests_per_second", 1.0),
    "network_incoming_bytes_rate_inband": ("network_inband_receive_bytes_per_second", 1.0),
    "network_outgoing_bytes_rate_inband": ("network_inband_transmit_bytes_per_second", 1.0),
    "network_incoming_bytes_aggregate_rate": ("network_outband_receive_bytes_per_second", 1.0),
    "network_outgoing_bytes_aggregate_rate": ("network_outband_transmit_bytes_per_second", 1.0),
    "network_vm_connections": ("network_connections", 1.0),
}

ONLINE_STATES = ("not_logged_in", "logging_in", "logged_in")


class MonitorClient(Protocol):
    def desktop_monitor(self, desktop_id: str, start_time: str, end_time: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DesktopMetrics:
    desktop_id: str
    values: tuple[tuple[str, float], ...]  # (metric key, value in base units)
    sample_time: float | None  # newest datapoint, epoch seconds
    online_state: str | None  # one of ONLINE_STATES
    session_start: float | None = None
    session_end: float | None = None


@dataclass(frozen=True)
class MonitoringSnapshot:
    entries: Mapping[str, DesktopMetrics]
    published_at: float
    version: int = field(default_factory=next_version)


def _newest(points: object) -> tuple[tuple[float, float] | None, int]:
    """(value, timestamp seconds) of the newest valid datapoint, plus the count of invalid ones."""
    if not isinstance(points, list):
        return None, 0 if points is None else 1
    best: tuple[float, float] | None = None
    invalid = 0
    for p in points:
        if not isinstance(p, dict):
            invalid += 1
            continue
        avg, ts = finite_number(p.get("average"), text=False), epoch_seconds(p.get("timestamp"))
        if avg is None or avg < 0 or ts is None:
            invalid += 1
            continue
        if best is None or ts > best[1]:
            best = (avg, ts)
    return best, invalid


def _online(body: Mapping[str, Any]) -> tuple[str | None, float | None, float | None]:
    sessions = body.get("user_online_info")
    if isinstance(sessions, list) and sessions:
        latest: tuple[float, float | None] | None = None
        for s in sessions:
            if not isinstance(s, dict):
                continue
            start = parse_time(s.get("connection_setup_time"))
            if start is None:
                continue
            end = parse_time(s.get("connection_end_time"))
            if latest is None or start > latest[0]:
                latest = (start, end)
        if latest is not None:
            state = "logged_in" if latest[1] is None else "not_logged_in"
            return state, latest[0], latest[1]
    status = body.get("online_status")
    if isinstance(status, int) and not isinstance(status, bool) and 0 <= status < len(ONLINE_STATES):
        return ONLINE_STATES[status], None, None
    return None, None, None


def parse_monitor(desktop_id: str, body: Mapping[str, Any]) -> tuple[DesktopMetrics, int]:
    """Parse one desktop-monitor body. Returns the metrics and the number of invalid datapoints."""
    values: list[tuple[str, float]] = []
    newest: float | None = None
    invalid = 0
    for api_key, (metric, factor) in FIELDS.items():
        best, bad = _newest(body.get(api_key))
        invalid += bad
        if best is None:
            continue
        values.append((metric, best[0] / factor))
        newest = best[1] if newest is None else max(newest, best[1])
    state, start, end = _online(body)
    return DesktopMetrics(desktop_id, tuple(values), newest, state, start, end), invalid


class MonitoringSource:
    """Fetches one desktop at a time (the scheduler decides when) and publishes snapshots.

    :meth:`fetch` is the per-desktop step :class:`~exporter.app.desktop_runner.MonitoringRunner`
    spreads over the interval; :meth:`refresh` publishes what the fetches stored.
    """

    name = "monitoring"
    apis: tuple[str, ...] = (API,)

    def __init__(
        self,
        client: MonitorClient,
        config: MonitoringConfig,
        clock: Clock,
        invalid: InvalidSink,
        rate: Callable[[], float] = lambda: math.inf,
        configured_rate: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self.config = config
        self._clock = clock
        self._invalid = invalid
        self.health = SourceHealth(self.name, clock)
        self._lock = threading.Lock()
        # Per-entry lifetime, computed when a desktop is stored (see interval()).
        self._cache: TLRUCache[str, DesktopMetrics] = TLRUCache(
            maxsize=1_000_000, ttu=lambda _k, _v, now: now + self.max_age(), timer=clock.monotonic
        )
        self._dirty = False
        self._rate: Callable[[], float] = rate  # desktop_monitor calls per minute the budget allows now
        # ... and the configured rate: only a fleet too large for it is worth a warning (a
        # throttled budget slows the pace for a while, and the advice below would be wrong).
        self._configured_rate = configured_rate or rate
        self._fleet = 0
        self._stretched = False
        self._wanted = config  # the configured settings; ``config`` is disabled while paused
        self._paused = False
        self.conditions = RefreshConditions(self.name, "desktop monitoring call")
        self._calls_in_pass = 0
        self.snapshot = MonitoringSnapshot(MappingProxyType({}), clock.time())

    def interval(self) -> float:
        """Seconds between two refreshes of one desktop.

        ``monitoring.interval``, unless the budget cannot cover the fleet that often:
        one call per desktop at 90 % of the desktop_monitor rate (the rest is headroom
        for retries) then sets the pace, e.g. 10,000 desktops at 100/min take 1.85 h.
        """
        rate = self._rate()
        if self._fleet == 0 or not math.isfinite(rate) or rate <= 0:
            return self.config.interval
        return max(self.config.interval, self._fleet * 60.0 / (0.9 * rate))

    def max_age(self) -> float:
        """How long a desktop's values live without a refresh: ``monitoring.max_age``,
        lengthened by as much as the budget stretches the interval (else a fleet the
        budget cannot cover in ``max_age`` would never show most of its desktops)."""
        return self.config.max_age + (self.interval() - self.config.interval)

    def set_fleet_size(self, desktops: int) -> None:
        """The scheduler tells the source how many desktops it refreshes."""
        self._fleet = desktops
        configured = self._configured_rate()
        usable = math.isfinite(configured) and configured > 0
        pace = desktops * 60.0 / (0.9 * configured) if usable else 0.0
        stretched = pace > self.config.interval
        if stretched and not self._stretched and not self._paused:
            log.warning(
                "monitoring: a pass over the desktops takes longer than monitoring.interval, values "
                "are kept longer. Raise budget.per_api.desktop_monitor, shard the project, or use "
                "monitoring.source: cloudeye desktops=%d calls_per_minute=%g pass_seconds=%.0f "
                "interval_seconds=%g max_age_seconds=%.0f",
                desktops,
                configured,
                pace,
                self.config.interval,
                self.config.max_age + pace - self.config.interval,
            )
        self._stretched = stretched and not self._paused

    def pause(self, paused: bool) -> None:
        """Stop (or resume) the per-desktop calls while another path serves the data: the
        runner dispatches nothing while ``config.enabled`` is false."""
        with self._lock:
            self._paused = paused
            self.config = dataclasses.replace(self._wanted, enabled=self._wanted.enabled and not paused)
        if not paused:
            self.set_fleet_size(self._fleet)  # the pace warning, if the fleet outgrew the budget

    def reconfigure(self, config: Config) -> None:
        """New settings; a new ``max_age`` applies from each desktop's next refresh."""
        with self._lock:
            self._wanted = config.monitoring
            self.config = dataclasses.replace(
                config.monitoring, enabled=config.monitoring.enabled and not self._paused
            )

    def refresh(self) -> None:
        self.publish()

    def fetch(self, desktop_id: str) -> bool:
        """Refresh one desktop. Returns False on failure (already recorded in health)."""
        end = self._clock.time()
        start = end - self.config.window
        try:
            body = self._client.desktop_monitor(desktop_id, fmt_seconds(start), fmt_seconds(end))
        except ShutdownError:
            return False
        except UpstreamError as e:
            if is_systemic(e):
                self.health.failure(e)
            else:
                self._item_done(desktop_id, e)
            return False
        metrics, invalid = parse_monitor(desktop_id, body)
        for _ in range(invalid):
            self._invalid.invalid_response(API)
        with self._lock:
            self._cache[desktop_id] = metrics
            self._dirty = True
        self._item_done(desktop_id, None)
        self.health.success()
        return True

    def _item_done(self, desktop_id: str, error: UpstreamError | None) -> None:
        """Account one desktop's call. Per pass (as many calls as the fleet has desktops) the
        refusals are logged once per change, and a pass in which every call was refused is a
        failed refresh: a fleet that only ever answers 400 must not read as up."""
        with self._lock:
            if error is None:
                self.conditions.item_ok()
            else:
                self.conditions.item_failed(desktop_id, error)
            self._calls_in_pass += 1
            if self._fleet == 0 or self._calls_in_pass < self._fleet:  # no fleet size yet: no pass
                return
            self._calls_in_pass = 0
        every_one_failed = self.conditions.end()
        self.conditions.begin()
        if every_one_failed is not None:
            self.health.failure(every_one_failed)

    def forget(self, desktop_ids: set[str]) -> None:
        """Drop desktops that left the inventory."""
        with self._lock:
            for did in desktop_ids:
                if self._cache.pop(did, None) is not None:
                    self._dirty = True

    def publish(self) -> bool:
        """Swap in a new immutable snapshot if anything changed or expired. True if swapped."""
        with self._lock:
            expired = self._cache.expire()
            if not self._dirty and not expired:
                return False
            entries = MappingProxyType(dict(self._cache.items()))
            self._dirty = False
        self.snapshot = MonitoringSnapshot(entries, self._clock.time())
        return True
