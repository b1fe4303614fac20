"""Families of the key desktop events (:mod:`exporter.sources.events`), rendered by
:mod:`exporter.exposition.events`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family
from exporter.sources.event_records import LABELS as EVENT_LABELS

DESKTOP_EVENTS = Family(
    "desktop_events",
    "counter",
    "Key desktop events from screen recordings (os-operations), each operation counted once since the "
    "exporter started; refreshed every events.interval. event_level is info, alarm or error; unknown "
    "values are lower-cased and sanitised. Without desktop_id when events.desktop_id_label is false.",
    EVENT_LABELS,
    "os_operations",
)
SCREEN_RECORDS = Family(
    "screen_records",
    "gauge",
    "Screen recordings that started within events.recordings_window, by status (cached, refreshed "
    "every events.interval).",
    ("status",),
    "screen_records",
)
EVENT_FAMILIES: tuple[Family, ...] = (DESKTOP_EVENTS, SCREEN_RECORDS)
