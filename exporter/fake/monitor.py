"""Monitoring data of the fake: the desktop-monitor answers and the Cloud Eye series.

Both APIs serve the same deterministic series (:func:`exporter.fake.data.metric_value` on
5-minute boundaries), so a test can predict either; a simulation attached as ``live``
(:mod:`exporter.fake.sim`) may override them. A mixin of
:class:`exporter.fake.state.FakeWorkspace`; every public method takes the workspace lock.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from typing import Protocol

from exporter.fake.data import (
    CES_METRICS,
    CES_NAMESPACE,
    CES_UNITS,
    PERIOD_S,
    JsonDict,
    aligned_points,
    iso_seconds,
    metric_value,
    monitor_keys_for,
    parse_iso,
    unit,
)


class LiveHook(Protocol):
    """A simulation that overrides the generated monitoring data (see exporter.fake.sim)."""

    def value(self, desktop: JsonDict, index: int, key: str, t: int, base: float) -> float | None: ...

    def online(self, desktop_id: str) -> tuple[int, list[JsonDict]] | None: ...

    def trigger(self, name: str, duration: float | None = None) -> JsonDict: ...


class MonitorMixin:
    _lock: threading.RLock
    now: Callable[[], float]
    seed: int
    timestamp_unit: str
    monitor_lag_s: float
    ces_dimension: str
    _desktops: list[JsonDict]
    _index: dict[str, int]
    _by_id: dict[str, JsonDict]
    _generation: int

    def _init_monitor(self) -> None:
        self._monitor_override: dict[str, JsonDict] = {}
        self.live: LiveHook | None = None
        self._latest_cache: tuple[tuple[str, int, int], tuple[tuple[str, float, int], ...]] | None = None

    def _stored(self, desktop_id: str) -> JsonDict | None:
        return self._by_id.get(desktop_id) if desktop_id else None

    def _value(self, desktop: JsonDict, index: int, key: str, t: int) -> float | None:
        base = metric_value(self.seed, index, key, t)
        return base if self.live is None else self.live.value(desktop, index, key, t, base)

    def set_monitor(self, desktop_id: str, data: JsonDict | None) -> None:
        """Serve ``data`` verbatim as the monitor body of ``desktop_id`` (None restores defaults)."""
        with self._lock:
            if data is None:
                self._monitor_override.pop(desktop_id, None)
            else:
                self._monitor_override[desktop_id] = copy.deepcopy(data)

    def _data_end(self, end: float) -> float:
        return min(end, self.now() - self.monitor_lag_s)

    def monitor_body(
        self, desktop_id: str, start: float, end: float, metric: str | None = None
    ) -> JsonDict | None:
        """The desktop-monitor response for [start, end], or None for an unknown desktop.

        ``metric`` is a request ``metric_name`` already mapped to a response key
        (cpu_util -> cpu_info, ...) or ``user_online_info``; None means every key.
        """
        with self._lock:
            desktop = self._stored(desktop_id)
            if desktop is None:
                return None
            if desktop_id in self._monitor_override:
                return copy.deepcopy(self._monitor_override[desktop_id])
            index = self._index[desktop_id]
            connected = desktop.get("login_status") == "CONNECTED"
            keys = monitor_keys_for(desktop)
            desktop = copy.deepcopy(desktop)
            now = self.now()
            data_end = self._data_end(end)
            ms = self.timestamp_unit == "ms"
        # computed outside the lock: a 30-day window is ~100k values
        body: JsonDict = {}
        hooked = self.live.online(desktop_id) if self.live is not None else None
        if hooked is not None and metric in (None, "user_online_info"):
            body["online_status"], body["user_online_info"] = hooked
        elif metric in (None, "user_online_info"):
            body["online_status"] = 2 if connected else 0
            body["user_online_info"] = []
            if connected:  # a session set up 1-2 h before the current hour (stable within it)
                setup = math.floor(now / 3600) * 3600 - int(3600 * (1 + unit(self.seed, index, "session")))
                body["user_online_info"].append(
                    {
                        "connection_setup_time": iso_seconds(setup),
                        "connection_end_time": None if index % 2 == 0 else "",
                        "error_code": "",
                        "error_msg": "",
                        "error_detail": "",
                        "encoded_authorization_message": "",
                    }
                )
        points = aligned_points(start, data_end)
        for key in keys:
            if metric is None or metric == key:
                values = [(t, self._value(desktop, index, key, t)) for t in points]
                body[key] = [
                    {"average": v, "timestamp": t * 1000 if ms else t} for t, v in values if v is not None
                ]
        return body

    def expected_latest(self, desktop_id: str, end_time: float | str) -> dict[str, tuple[float, int]]:
        """Per datapoint key, the newest ``(average, timestamp)`` a window ending at ``end_time``
        returns (timestamps in the current ``timestamp_unit``; honours :meth:`set_monitor`)."""
        end = parse_iso(end_time)
        if end is None:
            raise ValueError(f"bad end_time {end_time!r}")
        with self._lock:
            body = self.monitor_body(desktop_id, self._data_end(end) - PERIOD_S, end)
        if body is None:
            raise KeyError(desktop_id)
        out: dict[str, tuple[float, int]] = {}
        for key, value in body.items():
            if isinstance(value, list) and value and isinstance(value[0], dict) and "average" in value[0]:
                newest = max(value, key=lambda p: p["timestamp"])
                out[key] = (newest["average"], newest["timestamp"])
        return out

    # Cloud Eye: the same series, as SYS.Workspace metrics

    def ces_series(
        self, metric_name: str, desktop_id: str, start_ms: int, end_ms: int
    ) -> list[tuple[float, int]]:
        """``(value, timestamp_ms)`` of a SYS.Workspace metric for one desktop in [start, end]."""
        key = CES_METRICS.get(metric_name)
        with self._lock:
            desktop = self._stored(desktop_id)
            if key is None or desktop is None or key not in monitor_keys_for(desktop):
                return []
            index = self._index[desktop_id]
            data_end = self._data_end(end_ms / 1000)
            desktop = dict(desktop)  # read only, outside the lock (see desktop_rows)
        points = aligned_points(start_ms / 1000, data_end)
        values = [(self._value(desktop, index, key, t), t * 1000) for t in points]
        return [(v, ts) for v, ts in values if v is not None]

    def ces_latest(self, metric_name: str, start_ms: int, end_ms: int) -> list[tuple[str, float, int]]:
        """``(desktop_id, value, timestamp_ms)`` of the latest point per desktop, in desktop order.

        The next page of the same query (same metric, same newest point, no desktop changed)
        is answered from the last computation: 10,000 desktops take a while.
        """
        key = CES_METRICS.get(metric_name)
        if key is None:
            return []
        with self._lock:
            points = aligned_points(start_ms / 1000, self._data_end(end_ms / 1000))
            if not points:
                return []
            t = points[-1]
            cache_key = (key, t, self._generation)
            cached = self._latest_cache
            if self.live is None and cached is not None and cached[0] == cache_key:
                return list(cached[1])
            rows = [
                (dict(d), self._index[d["desktop_id"]]) for d in self._desktops if key in monitor_keys_for(d)
            ]
        values = [(d["desktop_id"], self._value(d, index, key, t)) for d, index in rows]
        out = [(did, v, t * 1000) for did, v in values if v is not None]
        self._latest_cache = (cache_key, tuple(out))
        return out

    def ces_metric_list(self) -> list[JsonDict]:
        """CES ListMetrics entries: one per desktop and metric it reports, with a ``marker``."""
        out = []
        with self._lock:
            for desktop in self._desktops:
                keys = monitor_keys_for(desktop)
                for metric_name, key in CES_METRICS.items():
                    if key not in keys:
                        continue
                    dim = {"name": self.ces_dimension, "value": desktop["desktop_id"]}
                    out.append(
                        {
                            "namespace": CES_NAMESPACE,
                            "metric_name": metric_name,
                            "unit": CES_UNITS[metric_name],
                            "dimensions": [dim],
                            "marker": f"{CES_NAMESPACE}.{metric_name}.{dim['name']}:{dim['value']}",
                        }
                    )
        return out
