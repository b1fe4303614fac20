"""Families of the user events (:mod:`exporter.sources.user_events`), rendered by
:mod:`exporter.exposition.user_events`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_ONCE = "each event counted once since the exporter started, refreshed every user_events.interval"

USER_EVENTS = Family(
    "user_events",
    "counter",
    f"User events by event_type and result (success or failure) ({_ONCE}).",
    ("event_type", "result"),
    "user_events",
)
USER_EVENT_FAILURES = Family(
    "user_event_failures",
    "counter",
    f'Failed user events by event_type and error_code ("unknown" when empty) ({_ONCE}).',
    ("event_type", "error_code"),
    "user_events",
)
USER_EVENT_LABEL_OVERFLOW = Family(
    "user_event_label_overflow",
    "counter",
    "User events whose event_type or error_code became other (user_events.max_event_types, max_error_codes).",
    (),
)
USER_EVENT_DEDUPE_KEYS = Family(
    "user_event_dedupe_keys", "gauge", "User event keys remembered to count each event once.", ()
)
USER_EVENT_FAMILIES: tuple[Family, ...] = (
    USER_EVENTS,
    USER_EVENT_FAILURES,
    USER_EVENT_LABEL_OVERFLOW,
    USER_EVENT_DEDUPE_KEYS,
)
