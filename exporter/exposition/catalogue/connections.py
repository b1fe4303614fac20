"""Families of the connection records (:mod:`exporter.sources.connections`), rendered by
:mod:`exporter.exposition.connections`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_CONN = "each connection record counted once, refreshed every connections.interval"
_CONN_API = "connections"  # or login_records with connections.api: v1.0
CONNECTIONS = Family(
    "connections",
    "counter",
    f"Connection attempts seen in the Workspace connection records ({_CONN}). Extra labels from "
    "connections.extra_labels when configured.",
    (),
    _CONN_API,
)
CONNECTION_FAILURES = Family(
    "connection_failures",
    "counter",
    f"Failed connection attempts by the numeric code of connection_failure_reason ({_CONN}); "
    '"unknown" when the reason has no numeric code.',
    ("reason_code",),
    _CONN_API,
)
CONNECTION_NETWORK_RTT = Family(
    "connection_network_rtt_seconds",
    "histogram",
    f"Network round-trip time of connections that did not fail ({_CONN}).",
    (),
    _CONN_API,
)
CONNECTION_E2E_RTT = Family(
    "connection_e2e_rtt_seconds",
    "histogram",
    f"End-to-end round-trip time of connections that did not fail ({_CONN}).",
    (),
    _CONN_API,
)
CONNECTION_SETUP_DURATION = Family(
    "connection_setup_duration_seconds",
    "histogram",
    f"Time from connection start to connection setup of successful connections ({_CONN}).",
    (),
    _CONN_API,
)
CONNECTION_LABEL_OVERFLOW = Family(
    "connection_label_overflow",
    "counter",
    'Connection records whose labels were replaced by "other" because connections.max_label_sets '
    "(or the reason_code cap) was reached.",
)
CONNECTION_DEDUPE_KEYS = Family(
    "connection_dedupe_keys",
    "gauge",
    "Connection record keys remembered to count each record once (bounded by connections.dedupe_max_keys).",
)
CONNECTION_FAMILIES: tuple[Family, ...] = (
    CONNECTIONS,
    CONNECTION_FAILURES,
    CONNECTION_NETWORK_RTT,
    CONNECTION_E2E_RTT,
    CONNECTION_SETUP_DURATION,
    CONNECTION_LABEL_OVERFLOW,
    CONNECTION_DEDUPE_KEYS,
)
