"""The fake Workspace's data and switches: desktops, monitor data, tokens, Cloud Eye series.

:class:`FakeWorkspace` is thread-safe (one re-entrant lock). Its time comes from the
injected ``now`` callable, so a test clock drives token expiry, monitor windows, the
rate limiter and signature date checks. Fault injection and call counting come from
:class:`~exporter.fake.faults.FaultInjector`; connection records and exports from
:class:`~exporter.fake.records.ConnectionMixin`; screen recordings and events from
:class:`~exporter.fake.recordings.RecordingMixin`; the record of requests that broke the
constraint table from :class:`~exporter.fake.strict.StrictLog`.
"""

from __future__ import annotations

import copy
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from exporter.fake.data import (
    CES_METRICS,
    CES_NAMESPACE,
    CES_UNITS,
    PERIOD_S,
    JsonDict,
    aligned_points,
    det_hex,
    iso_micros,
    iso_seconds,
    make_desktop,
    metric_value,
    monitor_keys_for,
    parse_iso,
    unit,
)
from exporter.fake.faults import FaultInjector
from exporter.fake.identity import IdentityMixin
from exporter.fake.recordings import OPERATIONS_ORDERS, RECORDING_PATHS, RecordingMixin
from exporter.fake.records import EXPORT_FORMATS, FAILURE_EXAMPLE, TASK_OUTCOMES, ConnectionMixin
from exporter.fake.strict import StrictLog

#: Runtime switches settable via :meth:`FakeWorkspace.configure` (and ``POST /_fake/config``).
SWITCHES: dict[str, type] = {
    "timestamp_unit": str,  # "ms" | "s": unit of monitor datapoint timestamps
    "verify_signatures": bool,  # False: accept any AK/SK signature from a known AK
    "token_ttl": float,  # IAM token lifetime in seconds (default 24 h)
    "monitor_lag_s": float,  # newest monitor/CES point is at most now() - lag
    "ces_dimension": str,  # CES dimension name carrying the desktop id (default instance_id)
    "export_format": str,  # "xlsx" (ZIP bytes) | "csv" (text/csv)
    "export_task_polls": int,  # a v3 export task reports CREATING for this many polls
    "export_task_outcome": str,  # "SUCCESS" | "FAIL" | "EXPIRED" after those polls
    "operations_order": str,  # os-operations: "oldest_first" | "newest_first" | "unordered" (seeded)
    "recording_path": str,  # advance_recording: "rec_completed" (final) | "upload" (late operations)
    "ces_v2": str,  # CES v2 batch query in this region: "available" | "404" | "400"
    "failure_reason_format": str,  # v2 connections: "coded" ("400200:text") | "text" (no prefix)
    "login_records_page_cap": int,  # v1.0 login records: at most this many a page (0: as asked)
}

#: Allowed values of the string switches that are enums.
SWITCH_VALUES: dict[str, tuple[str, ...]] = {
    "timestamp_unit": ("ms", "s"),
    "export_format": EXPORT_FORMATS,
    "export_task_outcome": TASK_OUTCOMES,
    "operations_order": OPERATIONS_ORDERS,
    "recording_path": RECORDING_PATHS,
    "ces_v2": ("available", "404", "400"),
    "failure_reason_format": ("coded", "text"),
}


class LiveHook(Protocol):
    """A simulation that overrides the generated monitoring data (see exporter.fake.sim)."""

    def value(self, desktop: JsonDict, index: int, key: str, t: int, base: float) -> float | None: ...

    def online(self, desktop_id: str) -> tuple[int, list[JsonDict]] | None: ...

    def trigger(self, name: str, duration: float | None = None) -> JsonDict: ...


@dataclass
class _Token:
    project_id: str
    issued_at: float
    expires_at: float


class FakeWorkspace(FaultInjector, ConnectionMixin, RecordingMixin, IdentityMixin, StrictLog):
    """State of one fake project: desktops, activity, credentials, switches and faults.

    Every request is held to the constraint table (:mod:`exporter.fake.strict`); what it
    broke is in :attr:`violations`.
    """

    def __init__(
        self,
        desktops: int = 10,
        *,
        project_id: str = "0123456789abcdef0123456789abcdef",
        region: str = "ap-southeast-1",
        ak: str = "FAKEAK0000000000",
        sk: str = "fake-secret-key",
        iam_user: str = "exporter",
        iam_password: str = "fake-password",  # noqa: S107 - a fake credential
        iam_domain: str = "example-domain",
        seed: int = 0,
        now: Callable[[], float] = time.time,
        timestamp_unit: str = "ms",
        verify_signatures: bool = True,
    ) -> None:
        FaultInjector.__init__(self, now)
        self._init_strict()
        self._init_connections()
        self._init_recordings()
        self._init_identity()
        self.project_id = project_id
        self.region = region
        self.ak = ak
        self.sk = sk
        self.iam_user = iam_user
        self.iam_password = iam_password
        self.iam_domain = iam_domain
        self.seed = seed
        self.domain_id = det_hex(32, seed, "domain")
        self.timestamp_unit = "ms"
        self.verify_signatures = verify_signatures
        self.token_ttl = 86400.0
        self.monitor_lag_s = 0.0
        self.ces_dimension = "instance_id"
        self.export_format = "xlsx"
        self.export_task_polls = 2
        self.export_task_outcome = "SUCCESS"
        self.operations_order = "oldest_first"
        self.recording_path = "rec_completed"
        self.ces_v2 = "available"
        self.failure_reason_format = "coded"
        self.login_records_page_cap = 0
        self.configure(timestamp_unit=timestamp_unit)
        self._desktops: list[JsonDict] = []
        self._index: dict[str, int] = {}
        self._by_id: dict[str, JsonDict] = {}  # O(1) lookups: fleets of 10,000 desktops
        self._next_index = 1
        self._monitor_override: dict[str, JsonDict] = {}
        self._tokens: dict[str, _Token] = {}
        self.live: LiveHook | None = None
        self._generation = 0  # bumped by every change of the desktops
        self._latest_cache: tuple[tuple[str, int, int], tuple[tuple[str, float, int], ...]] | None = None
        for _ in range(desktops):
            self.add_desktop()

    # ------------------------------------------------------------------ switches

    def configure(self, **switches: Any) -> None:
        """Set runtime switches by name (see :data:`SWITCHES`); validates names and values."""
        for name, value in switches.items():
            kind = SWITCHES.get(name)
            if kind is None:
                raise ValueError(f"unknown switch {name!r}; expected one of {sorted(SWITCHES)}")
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"switch {name} needs a {kind.__name__}, got {value!r}")
            allowed = SWITCH_VALUES.get(name)
            if allowed is not None and value not in allowed:
                raise ValueError(f"switch {name} must be one of {allowed}")
        with self._lock:
            for name, value in switches.items():
                setattr(self, name, float(value) if SWITCHES[name] is float else value)

    def switches(self) -> dict[str, Any]:
        with self._lock:
            return {name: getattr(self, name) for name in SWITCHES}

    # ------------------------------------------------------------------ desktops

    def add_desktop(self, **overrides: Any) -> JsonDict:
        """Add the next generated desktop (``ws-NNNN``); ``overrides`` replace top-level keys."""
        with self._lock:
            index = self._next_index
            self._next_index += 1
            desktop = make_desktop(self.seed, index, self.project_id, self.region)
            desktop.update(copy.deepcopy(overrides))
            if desktop["desktop_id"] in self._index:
                raise ValueError(f"duplicate desktop_id {desktop['desktop_id']}")
            self._desktops.append(desktop)
            self._generation += 1
            self._index[desktop["desktop_id"]] = index
            self._by_id[desktop["desktop_id"]] = desktop
            return copy.deepcopy(desktop)

    def update_desktop(self, desktop_id: str, **fields: Any) -> JsonDict:
        """Change top-level keys of a desktop (``status``, ``login_status``, ...)."""
        with self._lock:
            desktop = self._by_id[desktop_id]
            desktop.update(copy.deepcopy(fields))
            self._generation += 1
            return copy.deepcopy(desktop)

    def trigger_scenario(self, name: str, duration: float | None = None) -> JsonDict:
        """Start an incident of the attached simulation (``POST /_fake/scenario``)."""
        if self.live is None:
            raise ValueError("no simulation drives this fake (start it with `workspace-exporter demo`)")
        return self.live.trigger(name, duration)

    def _value(self, desktop: JsonDict, index: int, key: str, t: int) -> float | None:
        base = metric_value(self.seed, index, key, t)
        return base if self.live is None else self.live.value(desktop, index, key, t, base)

    def remove_desktop(self, desktop_id: str) -> None:
        with self._lock:
            if desktop_id not in self._index:
                raise KeyError(desktop_id)
            del self._index[desktop_id]
            del self._by_id[desktop_id]
            self._generation += 1
            self._desktops = [d for d in self._desktops if d["desktop_id"] != desktop_id]
            self._monitor_override.pop(desktop_id, None)

    @property
    def desktops(self) -> list[JsonDict]:
        with self._lock:
            return copy.deepcopy(self._desktops)

    def desktop_rows(self) -> list[JsonDict]:
        """Every desktop, in order, as a new top-level dict sharing its nested values: much
        cheaper than :attr:`desktops` for a list handler (10,000 desktops). Nothing mutates a
        stored desktop's nested values in place (:meth:`update_desktop` replaces keys)."""
        with self._lock:
            return [dict(d) for d in self._desktops]

    def desktop(self, desktop_id: str) -> JsonDict | None:
        with self._lock:
            d = self._find_desktop(desktop_id)
            return copy.deepcopy(d) if d is not None else None

    # ------------------------------------------------------------------ desktop monitor

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
            desktop = self._find_desktop(desktop_id)
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

    # ------------------------------------------------------------------ Cloud Eye

    def ces_series(
        self, metric_name: str, desktop_id: str, start_ms: int, end_ms: int
    ) -> list[tuple[float, int]]:
        """``(value, timestamp_ms)`` of a SYS.Workspace metric for one desktop in [start, end]."""
        key = CES_METRICS.get(metric_name)
        with self._lock:
            desktop = self._find_desktop(desktop_id)
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

    # ------------------------------------------------------------------ demo data

    def seed_activity(
        self, connection_records: int = 40, screen_records: int = 4, operations: int = 5
    ) -> None:
        """Plausible recent activity for demos: sessions, failures, recordings and events."""
        with self._lock:
            now = math.floor(self.now())
            for i in range(connection_records):
                start = now - 7200 + i * (7000 // max(1, connection_records))
                fields: dict[str, Any] = {"connection_start_time": start, "is_reconnect": i % 9 == 4}
                if i % 7 == 3:
                    fields["connection_failure_reason"] = FAILURE_EXAMPLE
                elif i % 2 == 0 and start + 1800 < now:
                    fields["connection_end_time"] = start + 1800
                self.add_connection_record(**fields)
            events = (
                ("APP", "APP_CRASH", "ERROR"),
                ("APP", "APP_START", "INFO"),
                ("HDP", "HDP_USB", "ALARM"),
            )
            for i in range(min(screen_records, len(self._desktops))):
                rec = self.add_screen_record(self._desktops[i]["desktop_id"], start_time=now - 1800 + i * 60)
                for j in range(operations):
                    etype, eid, level = events[j % len(events)]
                    self.add_operation(rec["id"], etype, eid, level)

    # ------------------------------------------------------------------ IAM tokens

    def issue_token(self, project_id: str) -> tuple[str, JsonDict]:
        """A new token scoped to ``project_id`` and its ``token`` body."""
        with self._lock:
            now = self.now()
            token = "MIIfake" + secrets.token_urlsafe(48)
            self._tokens[token] = _Token(project_id, now, now + self.token_ttl)
            user = {"id": det_hex(32, self.seed, "iam-user"), "name": self.iam_user}
            domain = {"id": self.domain_id, "name": self.iam_domain}
            body = {
                "expires_at": iso_micros(now + self.token_ttl),
                "issued_at": iso_micros(now),
                "methods": ["password"],
                "project": {"id": project_id, "name": self.region, "domain": domain},
                "user": {**user, "domain": domain, "password_expires_at": ""},
                "roles": [{"id": det_hex(32, self.seed, "role"), "name": "te_admin"}],
            }
            return token, body

    def check_token(self, token: str) -> tuple[str | None, str]:
        """``(project_id, "")`` for a live token, else ``(None, APIGW.0301 message detail)``."""
        with self._lock:
            info = self._tokens.get(token)
            if info is None:
                return None, "decrypt token fail"
            if self.now() >= info.expires_at:
                return None, f"token expires, expires_at: {iso_micros(info.expires_at)}"
            return info.project_id, ""

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (new tokens are unaffected)."""
        with self._lock:
            now = self.now()
            for info in self._tokens.values():
                info.expires_at = min(info.expires_at, now - 1)

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return len(self._tokens)
