"""The metric catalogue: every family name, type, help text and label set, in one place.

Names follow the Prometheus naming rules: one namespace, base units (seconds, bytes,
0–1 ratios), ``_total`` only on counters (prometheus_client appends it, so counter
names here have no suffix), ``_info`` for metadata. The README metric table is
checked against this catalogue by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exporter.sources.event_records import LABELS as EVENT_LABELS

NAMESPACE = "huaweicloud_workspace"

Kind = Literal["gauge", "counter", "histogram", "info"]


@dataclass(frozen=True)
class Family:
    name: str  # without namespace; counters without _total; info without _info
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    api: str = ""  # upstream API the data comes from ("" = the exporter itself)

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}_{self.name}"

    @property
    def exposed_name(self) -> str:
        """The sample name Prometheus sees (with ``_total`` / ``_info``)."""
        suffix = {"counter": "_total", "info": "_info"}.get(self.kind, "")
        return self.full_name + suffix


_MON = "(newest 5-minute datapoint; cached, refreshed every monitoring.interval)"
_MON_API = "desktop_monitor"

DESKTOP_INFO = Family(
    "desktop",
    "info",
    "Desktop metadata from the inventory (cached, refreshed every inventory.interval). Always 1.",
    (
        "desktop_id",
        "computer_name",
        "user_name",
        "status",
        "login_status",
        "availability_zone",
        "os_type",
        "product_id",
        "desktop_type",
        "pool_id",
    ),
    api="desktops_detail",
)

# Keyed by the metric keys of exporter.sources.monitoring.FIELDS.
MONITORING: dict[str, Family] = {
    f.name.removeprefix("desktop_"): f
    for f in (
        Family(
            "desktop_cpu_usage_ratio",
            "gauge",
            f"CPU usage of the desktop, 0-1 {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_memory_usage_ratio",
            "gauge",
            f"Memory usage, 0-1; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_usage_ratio",
            "gauge",
            f"Disk usage, 0-1; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_read_bytes_per_second",
            "gauge",
            f"Disk read throughput in bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_write_bytes_per_second",
            "gauge",
            f"Disk write throughput in bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_read_requests_per_second",
            "gauge",
            f"Disk read operations per second {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_write_requests_per_second",
            "gauge",
            f"Disk write operations per second {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_inband_receive_bytes_per_second",
            "gauge",
            f"Network receive rate measured inside the guest (in-band), bytes/s; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_inband_transmit_bytes_per_second",
            "gauge",
            f"Network transmit rate measured inside the guest (in-band), bytes/s; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_outband_receive_bytes_per_second",
            "gauge",
            f"Network receive rate measured by the host (out-band), bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_outband_transmit_bytes_per_second",
            "gauge",
            f"Network transmit rate measured by the host (out-band), bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_connections",
            "gauge",
            f"Network connections of the desktop {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
    )
}

DESKTOP_MONITORING_TIMESTAMP = Family(
    "desktop_monitoring_timestamp_seconds",
    "gauge",
    "Time of the newest monitoring datapoint of the desktop, epoch seconds (cached).",
    ("desktop_id",),
    _MON_API,
)
DESKTOP_ONLINE_STATUS = Family(
    "desktop_online_status",
    "gauge",
    "Login state of the desktop: 1 for the current state, 0 for the others (cached).",
    ("desktop_id", "state"),
    _MON_API,
)
DESKTOP_SESSION_START = Family(
    "desktop_session_start_timestamp_seconds",
    "gauge",
    "Start of the desktop's latest user session, epoch seconds (cached; absent without a session).",
    ("desktop_id",),
    _MON_API,
)
DESKTOP_SESSION_END = Family(
    "desktop_session_end_timestamp_seconds",
    "gauge",
    "End of the desktop's latest user session, epoch seconds (cached; absent while it is open).",
    ("desktop_id",),
    _MON_API,
)

# Self-metrics
UP = Family(
    "up",
    "gauge",
    "1 if the last refresh of the data source succeeded (or had nothing to fetch) and no refresh has "
    "run past its deadline since, else 0.",
    ("source",),
)
LAST_REFRESH = Family(
    "last_refresh_timestamp_seconds",
    "gauge",
    "Time of the last successful refresh of the data source, epoch seconds.",
    ("source",),
)
REFRESH_DURATION = Family(
    "refresh_duration_seconds",
    "gauge",
    "Duration of the last refresh of the data source (for monitoring: of the last full pass over all "
    "desktops), seconds.",
    ("source",),
)
API_REQUESTS = Family(
    "api_requests",
    "counter",
    'Upstream API calls by API and HTTP status code ("error" = no answer).',
    ("api", "code"),
)
API_DURATION = Family("api_request_duration_seconds", "histogram", "Upstream API call latency.", ("api",))
API_THROTTLED = Family(
    "api_throttled", "counter", "Upstream calls answered with throttling (HTTP 429).", ("api",)
)
API_RETRIES = Family(
    "api_retries", "counter", "Upstream calls retried after a throttle, 5xx or network error.", ("api",)
)
API_INVALID = Family(
    "api_invalid_responses",
    "counter",
    "Upstream answers or records that were malformed and skipped.",
    ("api",),
)
API_ERROR_RESPONSES = Family(
    "api_error_responses",
    "counter",
    "Upstream answers that refused a call (HTTP 4xx/5xx) or could not be used (error_code "
    '"invalid_body": not JSON, the wrong shape, over http.max_body_bytes), by API, HTTP status '
    'and the error code of the body ("none" without one, "other" when it does not look like a '
    "code or past the first 50 codes). Retried answers count too.",
    ("api", "status", "error_code"),
)
API_PAGE_SHRINKS = Family(
    "api_page_shrinks",
    "counter",
    "Pages asked again with a smaller limit: reason=body_too_large (the answer passed "
    "http.max_body_bytes: half the page, down to 10, kept for the API until a reload) or "
    "bad_request (a 400 to a page: retried once per listing with a tenth of it).",
    ("api", "reason"),
)
API_LISTINGS_TRUNCATED = Family(
    "api_listings_truncated",
    "counter",
    "Listings stopped at a configured cap with more left; key names the config key (what was read "
    "is still used).",
    ("api", "key"),
)
API_BUDGET = Family(
    "api_budget_requests_per_minute",
    "gauge",
    "Effective request budget per API (lowered for a while after throttling).",
    ("api",),
)
MONITORED_DESKTOPS = Family(
    "monitored_desktops", "gauge", "Desktops with monitoring data younger than monitoring.max_age."
)
MONITORING_PATH = Family(
    "monitoring_path",
    "gauge",
    "1 for the path desktop monitoring data comes by now (workspace: per-desktop desktop_monitor "
    "calls; cloudeye_v2 / cloudeye_v1: Cloud Eye batch queries), 0 for the others; all 0 before "
    "the first choice.",
    ("path",),
)
MONITORING_PATHS = ("workspace", "cloudeye_v2", "cloudeye_v1")
BUILD_INFO = Family("build", "info", "Exporter build information. Always 1.", ("version", "python_version"))
CONFIG_RELOAD_SUCCESS = Family(
    "config_last_reload_successful", "gauge", "1 if the last configuration reload succeeded, else 0."
)
CONFIG_RELOAD_TIME = Family(
    "config_last_reload_success_timestamp_seconds", "gauge", "Time of the last successful configuration load."
)
AUTH_BREAKER_OPEN = Family(
    "auth_breaker_open",
    "gauge",
    "1 while the auth breaker is open after a credential failure: no upstream call is made and up "
    "reads 0 for every source until a probe succeeds (one per backoff step: 1 minute, doubling to "
    "30), else 0.",
)
AUTH_FAILURES = Family(
    "auth_failures",
    "counter",
    "Upstream calls refused for their credentials (a 401, a 403 about the signature, key or token, "
    "a failed token or credential fetch).",
)
AUTH_INFO = Family(
    "auth",
    "info",
    "The credentials in use: mode aksk, token, profile, oidc, idp, metadata or pod_identity. Always 1.",
    ("mode",),
)
AUTH_EXPIRY = Family(
    "auth_credentials_expiry_timestamp_seconds",
    "gauge",
    "When the temporary credentials or IAM token in use expire, epoch seconds (absent for permanent "
    "keys and before the first fetch); they are fetched again well before.",
)
RENDER_ERRORS = Family(
    "render_errors",
    "counter",
    "Renders of the exposition that failed; the last good exposition is served meanwhile.",
)

# --- Connection records (exporter/sources/connections.py) ---------------------------------
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
# --- end of connection records -------------------------------------------------------------

# --- Key desktop events (exporter/sources/events.py) --------------------------------------
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
# --- end of key desktop events -------------------------------------------------------------

ALL: tuple[Family, ...] = (
    DESKTOP_INFO,
    *MONITORING.values(),
    DESKTOP_MONITORING_TIMESTAMP,
    DESKTOP_ONLINE_STATUS,
    DESKTOP_SESSION_START,
    DESKTOP_SESSION_END,
    UP,
    LAST_REFRESH,
    REFRESH_DURATION,
    API_REQUESTS,
    API_DURATION,
    API_THROTTLED,
    API_RETRIES,
    API_INVALID,
    API_ERROR_RESPONSES,
    API_PAGE_SHRINKS,
    API_LISTINGS_TRUNCATED,
    API_BUDGET,
    MONITORED_DESKTOPS,
    MONITORING_PATH,
    BUILD_INFO,
    CONFIG_RELOAD_SUCCESS,
    CONFIG_RELOAD_TIME,
    AUTH_BREAKER_OPEN,
    AUTH_FAILURES,
    AUTH_INFO,
    AUTH_EXPIRY,
    RENDER_ERRORS,
    *CONNECTION_FAMILIES,
    *EVENT_FAMILIES,
)

# Buckets for upstream API latency: Workspace calls take tens of ms to tens of seconds.
API_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
