"""What the batch queries of the Cloud Eye source learnt, kept from one refresh to the next.

The newest value per desktop and metric, with the monotonic time of the refresh that
delivered it: a desktop (or one failing metric) missing from a refresh keeps its value
until ``monitoring.max_age`` after that. And which queries fail: each change of a
query's failure is logged once, never once per refresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.clock import Clock
from exporter.errors import UpstreamError
from exporter.sources.base import InvalidSink, failure_key
from exporter.sources.cloudeye.query import METRICS, denied
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.monitoring import DesktopMetrics

log = logging.getLogger(__name__)

_KEY_ORDER = [key for key, _ in METRICS.values()]

# Inventory login_status -> online state (Cloud Eye has no login data).
LOGIN_STATES = {
    "CONNECTED": "logged_in",
    "DISCONNECTED": "not_logged_in",
    "REGISTERED": "not_logged_in",
    "UNREGISTER": "not_logged_in",
}


def online_state(login_status: str) -> str | None:
    """``CONNECTED`` → logged_in, the other known states → not_logged_in, else None."""
    return LOGIN_STATES.get(login_status.strip().upper())


@dataclass(frozen=True)
class _Value:
    value: float  # base units
    sample_time: float  # epoch seconds of the datapoint
    seen: float  # monotonic time of the refresh that delivered it


class Ledger:
    """Values and query failures of one Cloud Eye source; the v2 and v1 passes report here."""

    def __init__(self, clock: Clock, invalid: InvalidSink) -> None:
        self._clock = clock
        self._invalid = invalid
        self._lock = threading.Lock()
        self._store: dict[str, dict[str, _Value]] = {}
        # metric -> the last failure's kind (failure_key: never the request id or the
        # message, which change per call), logged when it changes
        self._failing: dict[str, tuple[object, ...]] = {}
        self._unmatched_logged = False
        self.quiet_refusals = False  # the owner reports refusals itself (monitoring.source: auto)

    def invalid(self, api: str, count: int) -> None:
        """``count`` datapoints of an answer of ``api`` were skipped (garbage, or unknown desktops)."""
        for _ in range(count):
            self._invalid.invalid_response(api)

    def store(self, metric: str, best: Mapping[str, tuple[float, float]]) -> None:
        """Keep the newest ``(value, timestamp)`` per desktop of one metric, in base units."""
        key, divisor = METRICS[metric]
        seen = self._clock.monotonic()
        with self._lock:
            for did, (value, ts) in best.items():
                self._store.setdefault(did, {})[key] = _Value(value / divisor, ts, seen)

    def check_matches(self, dimension: str, points_seen: int, matched: int) -> None:
        """Warn once while datapoints arrive yet none names a desktop of the inventory."""
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

    def failed(self, metric: str, error: UpstreamError) -> None:
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

    def ok(self, metric: str) -> None:
        if self._failing.pop(metric, None) is not None:
            log.info("Cloud Eye query recovered metric=%s", metric)

    def entries(self, inventory: InventorySnapshot, max_age: float) -> dict[str, DesktopMetrics]:
        """Drop expired values and desktops that left the inventory; the rest per desktop."""
        now = self._clock.monotonic()
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
        return entries
