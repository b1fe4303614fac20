"""The fake Workspace's state: its desktops and switches, and the mixins that add the rest.

:class:`FakeWorkspace` is thread-safe (one re-entrant lock). Its time comes from the
injected ``now`` callable, so a test clock drives token expiry, monitor windows, the
rate limiter and signature date checks. Fault injection and call counting come from
:class:`~exporter.fake.faults.FaultInjector`; monitor data and Cloud Eye series from
:class:`~exporter.fake.monitor.MonitorMixin`; IAM tokens from
:class:`~exporter.fake.tokens.TokenMixin`; connection records and exports from
:class:`~exporter.fake.records.ConnectionMixin`; screen recordings and events from
:class:`~exporter.fake.recordings.RecordingMixin`; the credential providers from
:class:`~exporter.fake.identity.IdentityMixin`; pools, quotas, tasks, agents, alarms and
user events from :class:`~exporter.fake.fleet.FleetMixin`; the record of requests that broke
the constraint table from :class:`~exporter.fake.strict.StrictLog`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

from exporter.fake.data import JsonDict, det_hex, make_desktop
from exporter.fake.faults import FaultInjector
from exporter.fake.fleet import POOL_STATISTICS, RECORD_ORDERS, FleetMixin
from exporter.fake.identity import IdentityMixin
from exporter.fake.monitor import MonitorMixin
from exporter.fake.recordings import OPERATIONS_ORDERS, RECORDING_PATHS, RecordingMixin
from exporter.fake.records import EXPORT_FORMATS, FAILURE_EXAMPLE, TASK_OUTCOMES, ConnectionMixin
from exporter.fake.strict import StrictLog
from exporter.fake.tokens import TokenMixin

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
    "task_records_order": str,  # scheduled task records: "newest_first" | "oldest_first"
    "pool_statistics": str,  # statistics?desktop_type=POOLED: "per_pool" | "missing" (no breakdown)
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
    "task_records_order": RECORD_ORDERS,
    "pool_statistics": POOL_STATISTICS,
}


class FakeWorkspace(
    FaultInjector,
    MonitorMixin,
    TokenMixin,
    ConnectionMixin,
    RecordingMixin,
    IdentityMixin,
    FleetMixin,
    StrictLog,
):
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
        self._init_monitor()
        self._init_tokens()
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
        self._generation = 0  # bumped by every change of the desktops
        for _ in range(desktops):
            self.add_desktop()
        self._init_fleet()

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
