"""Screen recordings and their key desktop events (os-operations).

A mixin of :class:`exporter.fake.state.FakeWorkspace`; every public method takes the
workspace lock. Stored as dicts shaped like ``ScreenRecordDetail`` and ``OperationForList``.

Nothing documents the order os-operations returns, nor whether operations still arrive
once a recording is ``REC_COMPLETED``; the ``operations_order`` and ``recording_path``
switches let tests cover each reading.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from typing import Any

from exporter.fake.data import JsonDict, det_hex, det_uuid, iso_millis, parse_iso, unit

#: ``operations_order``: oldest first, newest first, or a shuffle seeded per operation (a
#: new operation lands anywhere in the list, as it may when the order is undefined).
OPERATIONS_ORDERS: tuple[str, ...] = ("oldest_first", "newest_first", "unordered")
#: ``recording_path``: the statuses :meth:`RecordingMixin.advance_recording` walks through.
RECORDING_PATHS: tuple[str, ...] = ("rec_completed", "upload")
_PATHS: dict[str, tuple[str, ...]] = {
    "rec_completed": ("RECORDING", "REC_COMPLETED"),
    "upload": ("RECORDING", "REC_COMPLETED", "UPLOADING", "UPLOAD_COMPLETED"),
}


class RecordingMixin:
    _lock: threading.RLock
    now: Callable[[], float]
    seed: int
    project_id: str
    _desktops: list[JsonDict]
    operations_order: str
    recording_path: str

    def _init_recordings(self) -> None:
        self._screens: list[JsonDict] = []
        self._screen_seq = 0
        self._ops: dict[str, list[JsonDict]] = {}
        self._op_seq = 0

    def _desktop_or_first(self, desktop_id: str | None) -> JsonDict:
        for d in self._desktops:
            if d["desktop_id"] == desktop_id:
                return d
        return self._desktops[0] if self._desktops else {}

    def add_screen_record(
        self,
        desktop_id: str | None = None,
        *,
        status: str = "RECORDING",
        type: str = "OPERATION",
        start_time: str | float | None = None,
        **fields: Any,
    ) -> JsonDict:
        """Add a ``ScreenRecordDetail`` (times ISO with ms and Z); ``fields`` override defaults."""
        with self._lock:
            self._screen_seq += 1
            n = self._screen_seq
            d = self._desktop_or_first(desktop_id)
            start = parse_iso(start_time)
            if start is None:
                start = math.floor(self.now()) - 600
            recording = status == "RECORDING"
            duration = 0 if recording else int(300 + 1200 * unit(self.seed, "duration", n))
            rid = det_uuid(self.seed, "screen-record", n)
            rec: JsonDict = {
                "id": rid,
                "desktop_id": desktop_id or d.get("desktop_id", ""),
                "desktop_name": d.get("computer_name", ""),
                "desktop_pool_id": "",
                "username": d.get("user_name", ""),
                "size": 0 if recording else duration * 20_000,
                "type": type,
                "status": status,
                "policy_id": det_uuid(self.seed, "policy"),
                "obs_bucket": "workspace-screen-records",
                "file_directory": f"{self.project_id}/{rid}",
                "video_filename": f"{rid}.mp4",
                "video_file_sha256": det_hex(64, self.seed, "video", n),
                "event_filename": f"{rid}.json",
                "event_file_sha256": det_hex(64, self.seed, "events", n),
                "start_time": iso_millis(start),
                "end_time": "" if recording else iso_millis(start + duration),
                "update_time": iso_millis(self.now()),
                "duration": duration,
                "upload_type": "OBS",
                "site_type": "CENTER",
            }
            rec.update(fields)
            self._screens.append(rec)
            self._ops.setdefault(str(rec["id"]), [])
            return copy.deepcopy(rec)

    def set_record_status(self, record_id: str, status: str) -> JsonDict:
        with self._lock:
            for rec in self._screens:
                if rec["id"] == record_id:
                    now = self.now()
                    rec["status"] = status
                    rec["update_time"] = iso_millis(now)
                    if status != "RECORDING" and not rec.get("end_time"):
                        rec["end_time"] = iso_millis(now)
                        rec["duration"] = max(0, int(now - (parse_iso(rec["start_time"]) or now)))
                    return copy.deepcopy(rec)
            raise KeyError(record_id)

    def advance_recording(self, record_id: str) -> JsonDict:
        """Move a recording to the next status of the ``recording_path`` switch.

        On the ``upload`` path every step after ``REC_COMPLETED`` also adds one operation
        stamped now: operations that arrive after the recording was completed.
        ValueError when the recording already is in the path's final status.
        """
        with self._lock:
            rec = next((r for r in self._screens if r["id"] == record_id), None)
            if rec is None:
                raise KeyError(record_id)
            path = _PATHS[self.recording_path]
            status = str(rec["status"])
            if status not in path or status == path[-1]:
                where = f"no next status on path {self.recording_path}"
                raise ValueError(f"recording {record_id} is {status}: {where}")
            nxt = path[path.index(status) + 1]
            changed = self.set_record_status(record_id, nxt)
            if path.index(nxt) > path.index("REC_COMPLETED"):
                self.add_operation(
                    record_id, "HDP", "HDP_PRINT", "INFO", operation_time=self.now(), event_data=f"late:{nxt}"
                )
            return changed

    @property
    def screen_records(self) -> list[JsonDict]:
        with self._lock:
            return copy.deepcopy(self._screens)

    def add_operation(
        self,
        record_id: str,
        event_type: str = "APP",
        event_id: str = "APP_CRASH",
        event_level: str = "ERROR",
        event_data: str | None = None,
        operation_time: str | float | None = None,
        **fields: Any,
    ) -> JsonDict:
        """Add an ``OperationForList`` to screen record ``record_id`` (KeyError if unknown)."""
        with self._lock:
            rec = next((r for r in self._screens if r["id"] == record_id), None)
            if rec is None:
                raise KeyError(record_id)
            ops = self._ops.setdefault(record_id, [])
            self._op_seq += 1
            rec_start = parse_iso(rec.get("start_time")) or math.floor(self.now())
            t = parse_iso(operation_time)
            if t is None:
                t = rec_start + 10 * (len(ops) + 1)
            op: JsonDict = {
                "id": det_uuid(self.seed, "operation", self._op_seq),
                "project_id": self.project_id,
                "desktop_id": rec.get("desktop_id", ""),
                "screen_record_id": record_id,
                "username": rec.get("username", ""),
                "event_type": event_type,
                "event_level": event_level,
                "event_id": event_id,
                "event_data": event_data
                if event_data is not None
                else f'{{"process_name":"app{self._op_seq}.exe","pid":{1000 + self._op_seq}}}',
                "operation_time": operation_time if isinstance(operation_time, str) else iso_millis(t),
                "relative_start_time": max(0, int(t - rec_start)),
            }
            op.update(fields)
            ops.append(op)
            return copy.deepcopy(op)

    def query_screen_records(
        self, matches: Callable[[JsonDict, float], bool], descending: bool
    ) -> list[JsonDict]:
        with self._lock:
            out = [
                copy.deepcopy(r) for r in self._screens if matches(r, parse_iso(r.get("start_time")) or 0.0)
            ]
        out.sort(key=lambda r: parse_iso(r.get("start_time")) or 0.0, reverse=descending)
        return out

    def query_operations(self, record_id: str) -> list[JsonDict] | None:
        """Operations of a record in the ``operations_order``, or None when it does not exist."""
        with self._lock:
            if not any(r["id"] == record_id for r in self._screens):
                return None
            ops = copy.deepcopy(self._ops.get(record_id, []))
            order = self.operations_order
        if order == "unordered":
            ops.sort(key=lambda o: unit(self.seed, "order", o.get("id")))
        else:
            ops.sort(key=lambda o: parse_iso(o.get("operation_time")) or 0.0, reverse=order == "newest_first")
        return ops
