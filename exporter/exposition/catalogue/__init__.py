"""The metric catalogue: every family name, type, help text and label set, in one place.

Names follow the Prometheus naming rules: one namespace, base units (seconds, bytes,
0–1 ratios), ``_total`` only on counters (prometheus_client appends it, so counter
names here have no suffix), ``_info`` for metadata. The README metric table is
checked against this catalogue by a test.

One module per group of families: :mod:`.desktops` (inventory and monitoring),
:mod:`.selfmetrics` (the exporter's own), :mod:`.connections` and :mod:`.events`, each
named after the exposition module that renders it; :mod:`.family` is the entry's shape.
This package names them all and orders them in :data:`ALL`.
"""

from __future__ import annotations

from exporter.exposition.catalogue.connections import (
    CONNECTION_DEDUPE_KEYS,
    CONNECTION_E2E_RTT,
    CONNECTION_FAILURES,
    CONNECTION_FAMILIES,
    CONNECTION_LABEL_OVERFLOW,
    CONNECTION_NETWORK_RTT,
    CONNECTION_SETUP_DURATION,
    CONNECTIONS,
)
from exporter.exposition.catalogue.desktops import (
    DESKTOP_FAMILIES,
    DESKTOP_INFO,
    DESKTOP_MONITORING_TIMESTAMP,
    DESKTOP_ONLINE_STATUS,
    DESKTOP_SESSION_END,
    DESKTOP_SESSION_START,
    MONITORING,
    MONITORING_FAMILIES,
)
from exporter.exposition.catalogue.events import (
    DESKTOP_EVENTS,
    EVENT_FAMILIES,
    SCREEN_RECORDS,
)
from exporter.exposition.catalogue.family import (
    NAMESPACE,
    Family,
    Kind,
)
from exporter.exposition.catalogue.selfmetrics import (
    API_BUDGET,
    API_DURATION,
    API_DURATION_BUCKETS,
    API_ERROR_RESPONSES,
    API_INVALID,
    API_LISTINGS_TRUNCATED,
    API_PAGE_SHRINKS,
    API_REQUESTS,
    API_RETRIES,
    API_THROTTLED,
    AUTH_BREAKER_OPEN,
    AUTH_EXPIRY,
    AUTH_FAILURES,
    AUTH_INFO,
    BUILD_INFO,
    CONFIG_RELOAD_SUCCESS,
    CONFIG_RELOAD_TIME,
    LAST_REFRESH,
    MONITORED_DESKTOPS,
    MONITORING_PATH,
    MONITORING_PATHS,
    REFRESH_DURATION,
    RENDER_ERRORS,
    SELF_FAMILIES,
    UP,
)

ALL: tuple[Family, ...] = (*DESKTOP_FAMILIES, *SELF_FAMILIES, *CONNECTION_FAMILIES, *EVENT_FAMILIES)

__all__ = [
    "ALL",
    "API_BUDGET",
    "API_DURATION",
    "API_DURATION_BUCKETS",
    "API_ERROR_RESPONSES",
    "API_INVALID",
    "API_LISTINGS_TRUNCATED",
    "API_PAGE_SHRINKS",
    "API_REQUESTS",
    "API_RETRIES",
    "API_THROTTLED",
    "AUTH_BREAKER_OPEN",
    "AUTH_EXPIRY",
    "AUTH_FAILURES",
    "AUTH_INFO",
    "BUILD_INFO",
    "CONFIG_RELOAD_SUCCESS",
    "CONFIG_RELOAD_TIME",
    "CONNECTIONS",
    "CONNECTION_DEDUPE_KEYS",
    "CONNECTION_E2E_RTT",
    "CONNECTION_FAILURES",
    "CONNECTION_FAMILIES",
    "CONNECTION_LABEL_OVERFLOW",
    "CONNECTION_NETWORK_RTT",
    "CONNECTION_SETUP_DURATION",
    "DESKTOP_EVENTS",
    "DESKTOP_FAMILIES",
    "DESKTOP_INFO",
    "DESKTOP_MONITORING_TIMESTAMP",
    "DESKTOP_ONLINE_STATUS",
    "DESKTOP_SESSION_END",
    "DESKTOP_SESSION_START",
    "EVENT_FAMILIES",
    "LAST_REFRESH",
    "MONITORED_DESKTOPS",
    "MONITORING",
    "MONITORING_FAMILIES",
    "MONITORING_PATH",
    "MONITORING_PATHS",
    "NAMESPACE",
    "REFRESH_DURATION",
    "RENDER_ERRORS",
    "SCREEN_RECORDS",
    "SELF_FAMILIES",
    "UP",
    "Family",
    "Kind",
]
