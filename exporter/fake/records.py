"""Connection records (v2 list, v1.0 login records) and their exports (v2 bytes, v3 tasks).

A mixin of :class:`exporter.fake.state.FakeWorkspace`; every public method takes the
workspace lock. Records are plain dicts shaped like the SDK ``Record`` model, served as copies.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from exporter.fake import xlsx
from exporter.fake.data import (
    FMT_MINUTE,
    JsonDict,
    det_hex,
    det_uuid,
    iso_seconds,
    parse_iso,
    parse_time,
    unit,
)

#: The fields of a v1.0 login record (OpenStackClient_Workspace); v2 adds the rest.
V1_FIELDS: tuple[str, ...] = (
    "computer_name",
    "user_name",
    "terminal_mac",
    "terminal_name",
    "terminal_ip",
    "client_version",
    "terminal_type",
    "agent_version",
    "desktop_ip",
    "connection_start_time",
    "connection_setup_time",
    "connection_end_time",
    "is_reconnect",
    "connection_failure_reason",
)
EXPORT_COLUMNS: tuple[str, ...] = (
    *V1_FIELDS,
    "network_rtt",
    "e2e_rtt",
    "transaction_id",
    "desktop_id",
)
EXPORT_FORMATS = ("xlsx", "csv")
TASK_OUTCOMES = ("SUCCESS", "FAIL", "EXPIRED")
FAILURE_EXAMPLE = "400200:The desktop is being prepared."
_TERMINALS = ("WI", "WI", "TC", "WEB")


@dataclass
class ExportTask:
    task_id: str
    file_name: str
    create_time: float
    content: bytes
    content_type: str
    status: str = "CREATING"
    polls: int = 0
    end_time: float | None = None
    is_download: bool = False

    def as_json(self) -> JsonDict:
        failed = self.status == "FAIL"
        return {
            "task_id": self.task_id,
            "file_name": self.file_name,
            "status": self.status,
            "fail_reason": "Failed to export the connection records." if failed else "",
            "error_code": "WKS.00211401" if failed else "",
            "create_time": iso_seconds(self.create_time),
            "end_time": iso_seconds(self.end_time) if self.end_time is not None else "",
            "is_download": self.is_download,
        }


def render_export(records: Iterable[JsonDict], fmt: str) -> tuple[bytes, str]:
    """CSV text, or a real one-sheet XLSX workbook of the same rows; deterministic."""
    rows: list[list[str]] = [list(EXPORT_COLUMNS)]
    for rec in records:
        row = []
        for col in EXPORT_COLUMNS:
            value = rec.get(col)
            row.append("" if value is None else str(value).lower() if isinstance(value, bool) else str(value))
        rows.append(row)
    if fmt == "xlsx":
        return xlsx.workbook(rows, "connection records"), "application/octet-stream"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8"), "text/csv"


def _time_str(value: Any) -> Any:
    """Numbers become ``YYYY-MM-DDTHH:MM:SSZ``; strings and None pass through."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso_seconds(value)
    return value


class ConnectionMixin:
    _lock: threading.RLock
    now: Callable[[], float]
    seed: int
    project_id: str
    domain_id: str
    export_format: str
    export_task_polls: int
    export_task_outcome: str
    _desktops: list[JsonDict]
    _by_id: dict[str, JsonDict]

    def _init_connections(self) -> None:
        self._records: list[JsonDict] = []
        self._record_seq = 0
        self._shift: dict[str, int] = {}
        self._tasks: dict[str, ExportTask] = {}
        self._task_seq = 0

    def _find_desktop(self, desktop_id: Any = None, computer_name: Any = None) -> JsonDict | None:
        if desktop_id and computer_name is None:
            found: JsonDict | None = self._by_id.get(desktop_id)
            return found
        for d in self._desktops:
            if (desktop_id and d["desktop_id"] == desktop_id) or (
                computer_name and d["computer_name"] == computer_name
            ):
                return d
        return None

    # ------------------------------------------------------------------ connection records

    def add_connection_record(self, *, front: bool = False, **fields: Any) -> JsonDict:
        """Add a ``Record``; ``fields`` override the generated defaults.

        Times may be ISO strings or epoch numbers. A non-empty ``connection_failure_reason``
        nulls the setup and end times unless they are given. ``front=True`` stores it first,
        so it precedes records with the same start time.
        """
        with self._lock:
            self._record_seq += 1
            n = self._record_seq
            if "desktop_id" in fields or "computer_name" in fields:
                desktop = self._find_desktop(fields.get("desktop_id"), fields.get("computer_name"))
            else:
                desktop = self._desktops[(n - 1) % len(self._desktops)] if self._desktops else None
            for key in ("connection_start_time", "connection_setup_time", "connection_end_time"):
                if key in fields:
                    fields[key] = _time_str(fields[key])
            start = parse_iso(fields.get("connection_start_time"))
            if start is None:
                start = math.floor(self.now()) - 60
            d = desktop or {}
            rtt = int(10 + 80 * unit(self.seed, "rtt", n))
            rec: JsonDict = {
                "tenantId": self.domain_id,
                "sid": d.get("sid", ""),
                "transaction_id": det_uuid(self.seed, "transaction", n),
                "desktop_id": d.get("desktop_id", det_uuid(self.seed, "orphan-desktop", n)),
                "computer_name": d.get("computer_name", f"ws-x{n:04d}"),
                "user_name": d.get("user_name", f"user-x{n:04d}"),
                "terminal_mac": "52:54:00:"
                + ":".join(det_hex(6, self.seed, "tmac", n)[i : i + 2] for i in (0, 2, 4)),
                "terminal_name": f"LAPTOP-{det_hex(6, self.seed, 'term', n).upper()}",
                "terminal_ip": f"10.20.{n // 250 % 250}.{n % 250 + 1}",
                "client_version": "24.6.0",
                "terminal_type": _TERMINALS[n % len(_TERMINALS)],
                "agent_version": d.get("agent_version", "24.6.0.1"),
                "desktop_ip": d.get("ipv4", ""),
                "connection_start_time": iso_seconds(start),
                "connection_setup_time": iso_seconds(start + 3),
                "connection_end_time": None,
                "is_reconnect": False,
                "connection_failure_reason": "",
                "network_rtt": rtt,
                "e2e_rtt": rtt + int(5 + 20 * unit(self.seed, "e2e", n)),
                "source_ip": f"100.64.{n // 250 % 250}.{n % 250 + 1}",
                "public_ip": f"203.0.113.{n % 250 + 1}",
                "enterprise_project_id": "0",
            }
            rec.update(fields)
            if rec.get("connection_failure_reason"):
                for key in ("connection_setup_time", "connection_end_time"):
                    if key not in fields:
                        rec[key] = None
            if front:
                self._records.insert(0, rec)
            else:
                self._records.append(rec)
            return copy.deepcopy(rec)

    def update_connection_record(self, transaction_id: str, **fields: Any) -> JsonDict:
        """Change a stored record (e.g. set ``connection_end_time`` when a session completes)."""
        with self._lock:
            for rec in self._records:
                if rec.get("transaction_id") == transaction_id:
                    rec.update({k: _time_str(v) if k.endswith("_time") else v for k, v in fields.items()})
                    return copy.deepcopy(rec)
            raise KeyError(transaction_id)

    @property
    def connection_records(self) -> list[JsonDict]:
        """All stored records, newest ``connection_start_time`` first (as served)."""
        return self.query_connection_records()

    def insert_shift(self, n: int = 1, api: str = "connections") -> None:
        """After the next page served by ``api`` (connections or login_records), insert ``n``
        new records newer than all others, so later offsets shift by ``n``."""
        with self._lock:
            self._shift[api] = self._shift.get(api, 0) + n

    def query_connection_records(
        self,
        start: float | None = None,
        end: float | None = None,
        *,
        user_name: str | None = None,
        computer_name: str | None = None,
        terminal_type: str | None = None,
        terminal_type_fuzzy: bool = False,
        min_e2e_rtt: int | None = None,
        max_e2e_rtt: int | None = None,
        granularity: int = 60,
    ) -> list[JsonDict]:
        """Filtered copies, newest first. The window is inclusive at ``granularity`` seconds:
        a record starting 10:05:30 matches ``end=10:05`` with the default minute granularity."""
        with self._lock:
            out = []
            for rec in self._records:
                t = parse_iso(rec.get("connection_start_time"))
                if start is not None or end is not None:
                    if t is None:
                        continue
                    minute = math.floor(t / granularity) * granularity
                    if (start is not None and minute < start) or (end is not None and minute > end):
                        continue
                if user_name is not None and rec.get("user_name") != user_name:
                    continue
                if computer_name is not None and rec.get("computer_name") != computer_name:
                    continue
                if terminal_type is not None:
                    tt = str(rec.get("terminal_type") or "")
                    if (terminal_type not in tt) if terminal_type_fuzzy else (tt != terminal_type):
                        continue
                rtt = rec.get("e2e_rtt")
                if min_e2e_rtt is not None and not (isinstance(rtt, int) and rtt >= min_e2e_rtt):
                    continue
                if max_e2e_rtt is not None and not (isinstance(rtt, int) and rtt <= max_e2e_rtt):
                    continue
                out.append(copy.deepcopy(rec))
            out.sort(key=lambda r: parse_iso(r.get("connection_start_time")) or 0.0, reverse=True)
            return out

    def apply_shift(self, api: str) -> None:
        """Called by the server after a page of ``api`` was computed."""
        with self._lock:
            n = self._shift.pop(api, 0)
            for _ in range(n):
                newest = max(
                    (parse_iso(r.get("connection_start_time")) or 0.0 for r in self._records), default=0.0
                )
                start = max(math.floor(self.now()), math.ceil(newest))
                self.add_connection_record(front=True, connection_start_time=start)

    # ------------------------------------------------------------------ exports

    def export_filters(self, params: dict[str, str]) -> list[JsonDict]:
        """Records selected by v2 export params (minute-precision window, exact filters)."""
        params = {k: v for k, v in params.items() if v}
        start = parse_time(params["start_time"], FMT_MINUTE) if params.get("start_time") else None
        end = parse_time(params["end_time"], FMT_MINUTE) if params.get("end_time") else None
        return self.query_connection_records(
            start,
            end,
            user_name=params.get("user_name"),
            computer_name=params.get("computer_name"),
            terminal_type=params.get("terminal_type"),
        )

    def exported_bytes(self, task_id: str | None = None, **params: str) -> bytes:
        """The bytes a v3 task downloads (``task_id``), or what the v2 export returns for ``params``."""
        with self._lock:
            if task_id is not None:
                return self._tasks[task_id].content
            return self.export_v2(params)[0]

    def export_v2(self, params: dict[str, str]) -> tuple[bytes, str]:
        """``(bytes, content type)`` of the v2 export for these query params."""
        with self._lock:
            return render_export(self.export_filters(params), self.export_format)

    def create_export_task(self, records: list[JsonDict]) -> str:
        with self._lock:
            self._task_seq += 1
            task_id = det_uuid(self.seed, "export-task", self._task_seq)
            content, ctype = render_export(records, self.export_format)
            now = self.now()
            stamp = iso_seconds(now).replace("-", "").replace(":", "").rstrip("Z").replace("T", "")
            ext = "csv" if self.export_format == "csv" else "xlsx"
            self._tasks[task_id] = ExportTask(
                task_id, f"connection_records_{stamp}.{ext}", now, content, ctype
            )
            return task_id

    def poll_export_tasks(
        self, task_id: str | None, status: str | None, file_name: str | None
    ) -> list[JsonDict]:
        """List tasks; each listing is a poll: a task reports CREATING for its first
        ``export_task_polls`` polls, then ``export_task_outcome``."""
        with self._lock:
            out = []
            for task in sorted(self._tasks.values(), key=lambda t: t.create_time, reverse=True):
                if (task_id and task.task_id != task_id) or (file_name and file_name not in task.file_name):
                    continue
                if task.status == "CREATING":
                    task.polls += 1
                    if task.polls > self.export_task_polls:
                        task.status = self.export_task_outcome
                        task.end_time = self.now()
                if status and task.status != status:
                    continue
                out.append(task.as_json())
            return out

    def export_task(self, task_id: str) -> ExportTask | None:
        with self._lock:
            return self._tasks.get(task_id)
