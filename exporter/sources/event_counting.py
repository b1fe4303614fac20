"""The counters of key desktop events: by desktop, event type, event id and level.

Nothing documents the order ``os-operations`` returns and it has no sort parameter, so
no offset can mark "read so far": every visit reads a recording's operations in full,
and :func:`operation_key` gives each one a stable key (its ``id``, else a hash of the
fields that identify it) so that it is counted once
(:class:`~exporter.sources.event_tracking.RecordingTracker` keeps the keys).
:class:`EventCounter` applies the configured filters and the bounded label values of
:mod:`exporter.sources.event_records`, and adds the operation to its counter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from exporter.config.settings import EventsConfig
from exporter.sources.event_records import (
    EVENT_IDS,
    EVENT_LEVELS,
    EVENT_TYPES,
    FINAL_STATUSES,
    LABELS,
    LIVE_STATUSES,
    LabelValues,
    Recording,
    desktop_id_label,
)

# Fields that identify an operation without an id (none of them changes later).
_KEY_FIELDS: tuple[str, ...] = (
    "operation_time",
    "event_type",
    "event_id",
    "event_level",
    "desktop_id",
    "event_data",
)
_KEY_FIELDS += ("relative_start_time", "username", "id")


def operation_key(raw: Mapping[str, Any]) -> int:
    """A stable 63-bit key of one operation: its ``id``, else the fields that identify it."""
    op_id = raw.get("id")
    if isinstance(op_id, str) and op_id.strip():
        ident = "i:" + op_id.strip()
    else:
        ident = "f:" + json.dumps([str(raw.get(f)) for f in _KEY_FIELDS])
    digest = hashlib.blake2b(ident.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class EventCounter:
    """Counts of operations by (desktop_id, event type, event id, level), filtered as the
    config asks; and recordings by status."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, ...], int] = {}
        self._types = LabelValues({v: v for v in EVENT_TYPES})
        self._ids = LabelValues({v: v for v in EVENT_IDS})
        self._levels = LabelValues(EVENT_LEVELS)
        self._statuses = LabelValues({v: v for v in LIVE_STATUSES + FINAL_STATUSES})
        self._allowed_types: frozenset[str] = frozenset()
        self._allowed_levels: frozenset[str] = frozenset()

    def configure(self, cfg: EventsConfig) -> None:
        """Take ``events.event_types`` and ``events.event_levels`` (empty: every one)."""
        self._allowed_types = frozenset(self._types.canonical(t) for t in cfg.event_types)
        self._allowed_levels = frozenset(self._levels.canonical(v) for v in cfg.event_levels)

    def count(self, raw: Mapping[str, Any], recording_desktop: str) -> None:
        """Add one valid operation, unless the filters leave it out."""
        etype, eid, level = raw.get("event_type"), raw.get("event_id"), raw.get("event_level")
        if self._allowed_types and self._types.canonical(etype) not in self._allowed_types:
            return
        if self._allowed_levels and self._levels.canonical(level) not in self._allowed_levels:
            return
        did = desktop_id_label(raw.get("desktop_id"), recording_desktop)
        key = (did, self._types(etype), self._ids(eid), self._levels(level))
        self._counts[key] = self._counts.get(key, 0) + 1

    def by_status(self, recordings: Iterable[Recording]) -> dict[str, int]:
        """Recordings per status label, every known status present."""
        out = dict.fromkeys(LIVE_STATUSES + FINAL_STATUSES, 0)
        for rec in recordings:
            label = self._statuses(rec.status)
            out[label] = out.get(label, 0) + 1
        return out

    def counts(self, with_desktop_id: bool) -> tuple[tuple[str, ...], dict[tuple[str, ...], int]]:
        """The label names and a copy of the counts; without ``desktop_id`` summed over desktops."""
        if with_desktop_id:
            return LABELS, dict(self._counts)
        counts: dict[tuple[str, ...], int] = {}
        for key, n in self._counts.items():
            counts[key[1:]] = counts.get(key[1:], 0) + n
        return LABELS[1:], counts
