"""Screen recordings and their operations: parsing and bounded label values.

Pure helpers of the events source (:class:`~exporter.sources.events.EventsSource`; what
was read is kept by :mod:`exporter.sources.event_tracking`, the counters by
:mod:`exporter.sources.event_counting`). Label values are bounded: known
event types, ids, levels and recording statuses keep their canonical spelling; unknown
ones are sanitised (``[a-z0-9_]``, at most :data:`MAX_VALUE_LEN` characters) and, past
:data:`MAX_UNKNOWN_VALUES` distinct values per label, fold into ``other``
(:func:`~exporter.sources.labels.admit`, the cap connection labels use too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.sources.labels import OTHER, admit, bounded_id, clean_text
from exporter.timeutil import parse_time

MAX_UNKNOWN_VALUES = 50  # distinct unknown values per label before they fold into "other"
MAX_VALUE_LEN = 64
MAX_RECORD_ID_LEN = 128  # a longer (or unencodable) recording id is garbage, not an id

LIVE_STATUSES = ("RECORDING", "UPLOADING")
FINAL_STATUSES = ("REC_COMPLETED", "UPLOAD_COMPLETED", "REC_FAILED", "UPLOAD_FAILED")
EVENT_TYPES = ("APP", "FILE", "REG", "HDP")
EVENT_IDS = (
    *("APP_START", "APP_STOP", "APP_CRASH", "APP_HANG", "APP_INSTALL", "APP_UNINSTALL"),
    *("FILE_CREATE", "FILE_DELETE", "FILE_RENAME"),
    *("HDP_FILE", "HDP_USB", "HDP_CLIPBOARD", "HDP_INPUTIDLE", "HDP_PRINT"),
)
EVENT_LEVELS = {"info": "info", "information": "info", "alarm": "alarm", "error": "error"}
LABELS: tuple[str, ...] = ("desktop_id", "event_type", "event_id", "event_level")  # events counter

_BAD_CHARS = re.compile(r"[^a-z0-9_]+")


def sanitise(value: object) -> str:
    """Lower-case, ``[a-z0-9_]`` only, at most 64 characters; ``unknown`` when nothing is left."""
    text = value.strip().lower() if isinstance(value, str) else ""
    return _BAD_CHARS.sub("_", text).strip("_")[:MAX_VALUE_LEN] or "unknown"


class LabelValues:
    """Bounded label values: known ones canonical, unknown ones sanitised, then ``other``."""

    def __init__(self, known: Mapping[str, str], limit: int = MAX_UNKNOWN_VALUES) -> None:
        self._known = {k.lower(): v for k, v in known.items()}
        self._unknown: set[str] = set()
        self._limit = limit

    def canonical(self, raw: object) -> str:
        """The label value for ``raw`` without registering it (used for config filters)."""
        if isinstance(raw, str) and (hit := self._known.get(raw.strip().lower())):
            return hit
        return sanitise(raw)

    def __call__(self, raw: object) -> str:
        value = self.canonical(raw)
        if value in self._known.values() or admit(value, self._unknown, self._limit):
            return value
        return OTHER


def desktop_id_label(raw: object, fallback: str) -> str:
    """An operation's ``desktop_id`` (:func:`~exporter.sources.labels.bounded_id`), else its
    recording's."""
    return bounded_id(raw) or fallback


@dataclass(frozen=True)
class Recording:
    record_id: str
    desktop_id: str
    status: str  # as the API spells it
    start: float | None  # epoch seconds
    end: float | None

    @property
    def final(self) -> bool:
        return self.status.upper() in FINAL_STATUSES


def parse_recording(raw: object) -> Recording | None:
    """A :class:`Recording` from one ``ScreenRecordDetail``, or None without a usable id
    (missing, over 128 characters, or holding a lone surrogate: it goes into a URL path)."""
    if not isinstance(raw, dict):
        return None
    rid, did, status = raw.get("id"), raw.get("desktop_id"), raw.get("status")
    if not isinstance(rid, str) or not rid.strip():
        return None
    rid = rid.strip()
    if len(rid) > MAX_RECORD_ID_LEN or clean_text(rid) != rid:  # not a usable path segment
        return None
    return Recording(
        rid,
        bounded_id(did),
        status.strip() if isinstance(status, str) else "",
        parse_time(raw.get("start_time")),
        parse_time(raw.get("end_time")),
    )
