"""The exporter's own families: source health, upstream API calls, the request budget, the
monitoring path, build and reload, auth, render errors (rendered by
:mod:`exporter.exposition.selfmetrics`)."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

UP = Family(
    "up",
    "gauge",
    "1 if the last refresh of the data source succeeded (or had nothing to fetch) and no refresh has "
    "run past its deadline since, else 0.",
    ("source",),
)
SOURCE_PERMISSION_MISSING = Family(
    "source_permission_missing",
    "gauge",
    "1 while the last refresh of the data source failed because an API refused the call for a missing "
    "IAM permission (HTTP 403 that is not about the credentials): api is that API, action the IAM action "
    'to grant ("unpublished" where the API reference names none). Absent otherwise.',
    ("source", "api", "action"),
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

SELF_FAMILIES: tuple[Family, ...] = (
    UP,
    SOURCE_PERMISSION_MISSING,
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
)

# Buckets for upstream API latency: Workspace calls take tens of ms to tens of seconds.
API_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
