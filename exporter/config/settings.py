"""Configuration: dataclasses for the whole config, YAML + environment loading, validation.

The loader is driven by the dataclass fields themselves, so a new section (a new
source) is one more dataclass and one more field on :class:`Config`. Every problem
is reported with its dotted key path and what is expected, and all problems are
collected before :class:`~exporter.errors.ConfigError` is raised.

Credentials never live in the YAML: they come from the Huawei Cloud SDK
environment variables or from ``*_file`` paths (a mounted Kubernetes Secret).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.apis import APIS
from exporter.config.credential_chain import METHODS
from exporter.config.credentials import Credentials, resolve_credentials
from exporter.config.endpoints import Endpoints, resolve_endpoints
from exporter.config.schema import build as _build
from exporter.config.schema import meta as _meta
from exporter.config.yamlfile import excerpt, load_yaml_file
from exporter.errors import ConfigError

DEFAULT_PORT = 10187
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
_ASCII_NUMBER = re.compile(r"[0-9]{1,6}")


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointsConfig:
    workspace: str = field(
        default="",
        metadata=_meta(
            "Workspace API base URL (`http://` allowed for proxies and tests; a comma-separated "
            "list: the first, the others as fall-backs). Empty: env "
            "`HUAWEICLOUD_SDK_REGION_WORKSPACE_<REGION>` (upper case, `_` for `-`), the regions file, "
            "the SDK's region table (see [Regions and endpoints](#regions-and-endpoints))"
        ),
    )
    iam: str = field(
        default="",
        metadata=_meta(
            "IAM base URL (tokens, project discovery, federation). Empty: env "
            "`HUAWEICLOUD_SDK_IAM_ENDPOINT`, `HUAWEICLOUD_SDK_REGION_IAM_<REGION>`, the regions file, "
            "the SDK's region table, else the global `https://iam.myhuaweicloud.com`"
        ),
    )
    ces: str = field(
        default="",
        metadata=_meta(
            "Cloud Eye base URL. Empty: env `HUAWEICLOUD_SDK_REGION_CES_<REGION>` (upper case, `_` "
            "for `-`), the regions file, the SDK's region table"
        ),
    )
    sts: str = field(
        default="",
        metadata=_meta(
            "STS base URL (OIDC credentials). Empty: env `HUAWEICLOUD_SDK_STS_ENDPOINT`, else "
            "`https://sts.cn-north-4.myhuaweicloud.com` (the SDK's default)"
        ),
    )


@dataclass(frozen=True)
class AuthConfig:
    method: str = field(
        default="chain",
        metadata=_meta(
            "`chain`: the SDK's credential chain (OIDC, environment, profile file, ECS metadata, CCE "
            "pod identity; see [Credentials](#credentials)); or one method pinned: `aksk` (AK/SK "
            "from `ak_env`/`sk_env` or the files), `token` (IAM user token; needs `project_id`), "
            "`oidc`, `idp`, `profile`, `metadata`, `pod_identity`",
            choices=METHODS,
        ),
    )
    ak_file: str = field(default="", metadata=_meta("file holding the access key. Empty: env `ak_env`"))
    sk_file: str = field(default="", metadata=_meta("file holding the secret key. Empty: env `sk_env`"))
    security_token_file: str = field(
        default="",
        metadata=_meta("file holding the security token of temporary AK/SK. Empty: env `security_token_env`"),
    )
    username: str = field(
        default="", metadata=_meta("token auth: IAM user name. Empty: env `WORKSPACE_EXPORTER_IAM_USERNAME`")
    )
    domain_name: str = field(
        default="",
        metadata=_meta("token auth: account (domain) name. Empty: env `WORKSPACE_EXPORTER_IAM_DOMAIN`"),
    )
    password_file: str = field(
        default="", metadata=_meta("token auth: file holding the IAM password. Empty: env `password_env`")
    )
    # Names of the environment variables to read when no *_file is set (per target).
    ak_env: str = field(
        default="HUAWEICLOUD_SDK_AK",
        metadata=_meta("environment variable the access key is read from when `ak_file` is empty"),
    )
    sk_env: str = field(
        default="HUAWEICLOUD_SDK_SK",
        metadata=_meta("environment variable the secret key is read from when `sk_file` is empty"),
    )
    security_token_env: str = field(
        default="HUAWEICLOUD_SDK_SECURITY_TOKEN",
        metadata=_meta("environment variable of the security token when `security_token_file` is empty"),
    )
    password_env: str = field(
        default="WORKSPACE_EXPORTER_IAM_PASSWORD",
        metadata=_meta("environment variable of the IAM password when `password_file` is empty"),
    )
    metadata_url: str = field(
        default="http://169.254.169.254",
        metadata=_meta("ECS metadata service base URL (`metadata` credentials; agency temporary AK/SK)"),
    )
    # IAM tokens live 24 hours: refreshing earlier than that before expiry would refresh constantly.
    token_refresh_before: float = field(
        default=3600.0,
        metadata=_meta(
            "fetch a new IAM token this long before the current one expires (tokens live 24 h); "
            'a 401 "token expires" refreshes once at once',
            duration=True,
            minimum=60,
            maximum=23 * 3600,
        ),
    )


@dataclass(frozen=True)
class HTTPConfig:
    connect_timeout: float = field(
        default=5.0,
        metadata=_meta("TCP/TLS connect timeout per upstream call", duration=True, minimum=0.1, maximum=300),
    )
    read_timeout: float = field(
        default=30.0,
        metadata=_meta("time to wait for each read of the answer", duration=True, minimum=0.1, maximum=600),
    )
    tls_verify: bool = field(default=True, metadata=_meta("verify upstream TLS certificates"))
    ca_file: str = field(
        default="", metadata=_meta("extra CA bundle (PEM), e.g. for a TLS-intercepting proxy")
    )
    max_retries: int = field(
        default=3,
        metadata=_meta("retries after 429, 5xx or network errors", minimum=0, maximum=10),
    )
    retry_max_elapsed: float = field(
        default=60.0,
        metadata=_meta(
            "stop retrying once a call has taken this long", duration=True, minimum=0, maximum=900
        ),
    )
    backoff_initial: float = field(
        default=1.0,
        metadata=_meta(
            "first backoff; doubles per retry, with full jitter", duration=True, minimum=0.01, maximum=60
        ),
    )
    backoff_max: float = field(
        default=30.0,
        metadata=_meta("largest single backoff", duration=True, minimum=0.01, maximum=600),
    )
    throttle_backoff: float = field(
        default=3.0,
        metadata=_meta(
            "minimum wait after a 429 (Huawei advises 2–5 s); `Retry-After` is honoured",
            duration=True,
            minimum=0,
            maximum=60,
        ),
    )
    # Total time for one exchange (connect, headers and whole body), whatever the socket timeouts.
    call_deadline: float = field(
        default=60.0,
        metadata=_meta(
            "total time of one exchange, headers and whole body (see [Upstream](#upstream))",
            duration=True,
            minimum=1,
            maximum=900,
        ),
    )
    # Largest decoded (decompressed) answer body: 500 desktops of detail at up to ~6 kB each
    # (about 3 MB) is the largest documented page; 8 MiB leaves room without risking the pod limit.
    max_body_bytes: int = field(
        default=8 * 1024 * 1024,
        metadata=_meta(
            "largest answer body in bytes, counted decompressed; a page past it is asked again at "
            "half the size (down to 10)",
            minimum=65536,
            maximum=1 << 30,
        ),
    )
    # 300 pages: 150,000 desktops of desktops/detail, or 300,000 records (a 30-day lookback of
    # 10,000 logins a day) in 5 minutes at the default 60 calls a minute.
    max_pages_per_listing: int = field(
        default=300,
        metadata=_meta(
            "pages one listing reads at most; past it the listing stops, what was read is used and "
            "`api_listings_truncated_total` counts it",
            minimum=1,
            maximum=100000,
        ),
    )
    # Export files are not pages: one may hold a month of connection records.
    max_file_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata=_meta(
            "largest export file `export-connections` downloads, in bytes, counted decompressed",
            minimum=1 << 20,
            maximum=1 << 32,
        ),
    )


@dataclass(frozen=True)
class BudgetConfig:
    per_api: dict[str, float] = field(
        default_factory=dict,
        metadata=_meta(
            "requests per minute per API, e.g. `{desktop_monitor: 100}`; unlisted APIs keep the "
            "defaults of [Request budget](#request-budget)",
            maximum=1_000_000,
        ),
    )
    burst: int = field(
        default=5, metadata=_meta("requests an idle API may send back to back", minimum=1, maximum=1000)
    )
    max_concurrency: int = field(
        default=4, metadata=_meta("upstream calls in flight at once, across all APIs", minimum=1, maximum=64)
    )
    throttle_recovery: float = field(
        default=120.0,
        metadata=_meta(
            "after a 429 an API's rate is halved, then climbs back linearly over this time",
            duration=True,
            minimum=1,
            maximum=3600,
        ),
    )


@dataclass(frozen=True)
class InventoryConfig:
    interval: float = field(
        default=300.0,
        metadata=_meta("desktop list refresh", duration=True, minimum=30, maximum=86400),
    )
    tag_labels: list[str] = field(
        default_factory=list,
        metadata=_meta("desktop tag keys to add to `desktop_info` as `tag_<key>`"),
    )
    user_name_label: bool = field(default=True, metadata=_meta("keep `user_name` on `desktop_info`"))
    # Twice the largest fleet README sizes for (10,000 desktops); per shard, so sharding raises it.
    max_desktops: int = field(
        default=20_000,
        metadata=_meta(
            "desktops this process keeps (after sharding); past it the listing stops, the first ones "
            "are exported and `api_listings_truncated_total` counts it",
            minimum=1,
            maximum=1_000_000,
        ),
    )
    max_lookups: int = field(
        default=50,
        metadata=_meta(
            "lookups by id per refresh of desktops a listing missed (a desktop leaves when one says "
            "it is gone, or after two listings miss it); 0: only the second listing decides",
            minimum=0,
            maximum=10_000,
        ),
    )


@dataclass(frozen=True)
class MonitoringConfig:
    enabled: bool = field(default=True, metadata=_meta("per-desktop monitoring data"))
    interval: float = field(
        default=300.0,
        metadata=_meta(
            "how often each desktop is refreshed; Cloud Eye aggregates every 5 minutes",
            duration=True,
            minimum=60,
            maximum=86400,
        ),
    )
    window: float = field(
        default=3600.0,
        metadata=_meta(
            "query window per call (the API requires at least 1 hour)",
            duration=True,
            minimum=3600,
            maximum=30 * 86400,
        ),
    )
    max_age: float = field(
        default=1800.0,
        metadata=_meta(
            "values not refreshed for this long are dropped (at least `monitoring.interval`)",
            duration=True,
            minimum=60,
            maximum=7 * 86400,
        ),
    )
    # Where the per-desktop metrics come from: one desktop-monitor call per desktop, Cloud Eye
    # batch queries (see sources/cloudeye.py), or auto: whichever fits the fleet and the budget
    # (see sources/monitoring_paths.py).
    source: str = field(
        default="auto",
        metadata=_meta(
            "`auto` (per-desktop calls while the fleet fits the budget, Cloud Eye when not), "
            "`workspace` (one desktop-monitor call per desktop) or `cloudeye` (batch queries); "
            "see [Monitoring source](#monitoring-source-auto-per-desktop-calls-cloud-eye); "
            "a reload switches at once",
            choices=("auto", "workspace", "cloudeye"),
        ),
    )
    cloudeye_namespace: str = field(
        default="SYS.Workspace", metadata=_meta("Cloud Eye namespace of the desktop metrics")
    )
    # Cloud Eye dimension whose value is the desktop id; "" = discover from the metric list at start-up.
    cloudeye_dimension: str = field(
        default="",
        metadata=_meta("Cloud Eye dimension holding the desktop id. Empty: discovered at start-up"),
    )
    # Cloud Eye queries end this long before now, so datapoints still being ingested are not missed.
    cloudeye_delay: float = field(
        default=60.0,
        metadata=_meta(
            "Cloud Eye queries end this long before now (ingestion lag)",
            duration=True,
            minimum=0,
            maximum=3600,
        ),
    )


CONNECTION_LABELS = ("user_name", "computer_name", "desktop_id", "terminal_type")


@dataclass(frozen=True)
class ConnectionsConfig:
    """Login/connection records: counters and latency histograms."""

    enabled: bool = field(
        default=True,
        metadata=_meta(
            "connection-record counters and histograms (a reload switches them, but "
            "if they were off at start-up, turning them on needs a restart)"
        ),
    )
    api: str = field(
        default="v2",
        metadata=_meta(
            "`v2` = `GET /v2/{project_id}/connections/desktops`; `v1.0` = legacy "
            "`GET /v1.0/{project_id}/desktop-users/login-records` (no rtt, no transaction_id)",
            choices=("v2", "v1.0"),
        ),
    )
    interval: float = field(
        default=60.0, metadata=_meta("poll interval", duration=True, minimum=30, maximum=3600)
    )
    overlap: float = field(
        default=300.0,
        metadata=_meta(
            "each poll re-reads this much before the previous poll's end, so late-arriving records "
            "are still counted (once); keep ≥ `1m`",
            duration=True,
            minimum=0,
            maximum=86400,
        ),
    )
    lookback: float = field(
        default=0.0,
        metadata=_meta(
            "at start-up also count records up to this long before the start (read at start-up)",
            duration=True,
            minimum=0,
            maximum=30 * 86400,
        ),
    )
    extra_labels: list[str] = field(
        default_factory=list,
        metadata=_meta(
            "extra counter labels from `user_name`, `computer_name`, `desktop_id`, `terminal_type` — "
            "**cardinality warning**: every combination is a series for ever"
        ),
    )
    max_label_sets: int = field(
        default=1000,
        metadata=_meta(
            "hard cap on distinct extra-label combinations; more are counted under `other` and in "
            "`connection_label_overflow_total`",
            minimum=1,
            maximum=100000,
        ),
    )
    # Bound of the set of record keys remembered to count each record once (see README).
    dedupe_max_keys: int = field(
        default=200_000,
        metadata=_meta(
            "bound of the de-duplication key set (~400 bytes per key, so 200000 ≈ 80 MB; normally only "
            "the last ~7 minutes of records are held; read at start-up)",
            minimum=1000,
            maximum=10_000_000,
        ),
    )

    # 300 pages of 1,000: a 30-day lookback of 10,000 logins a day in 5 minutes at 60 calls/min.
    max_records_per_window: int = field(
        default=300_000,
        metadata=_meta(
            "records one poll window reads at most; a larger window is split (halved, then "
            "advanced), and a one-minute window past it is cut and counted",
            minimum=1000,
            maximum=10_000_000,
        ),
    )


@dataclass(frozen=True)
class EventsConfig:
    """Key desktop events from screen recordings."""

    enabled: bool = field(
        default=True,
        metadata=_meta(
            "key desktop events from screen recordings (a reload switches them, but "
            "if they were off at start-up, turning them on needs a restart)"
        ),
    )
    interval: float = field(
        default=60.0,
        metadata=_meta(
            "how often recordings are listed and live ones re-read", duration=True, minimum=30, maximum=3600
        ),
    )
    recordings_window: float = field(
        default=86400.0,
        metadata=_meta(
            "recordings that started this long ago are listed; a recording running longer drops out",
            duration=True,
            minimum=3600,
            maximum=15 * 86400,
        ),
    )
    lookback: float = field(
        default=0.0,
        metadata=_meta(
            "at start-up, also count events up to this long before the start (at most "
            "`events.recordings_window`)",
            duration=True,
            minimum=0,
            maximum=15 * 86400,
        ),
    )
    event_types: list[str] = field(
        default_factory=list, metadata=_meta("only count these types (APP, FILE, REG, HDP); empty: all")
    )
    event_levels: list[str] = field(
        default_factory=list, metadata=_meta("only count these levels (info, alarm, error); empty: all")
    )
    desktop_id_label: bool = field(
        default=True,
        metadata=_meta("`false`: counts aggregate per type/id/level (very large fleets)"),
    )
    # os-operations calls per refresh; 0 = 80% of what the os_operations budget allows per interval.
    max_calls_per_cycle: int = field(
        default=0,
        metadata=_meta(
            "os-operations calls per refresh (0: 80% of the os_operations budget per interval); a "
            "backlog takes several refreshes, newest first",
            minimum=0,
            maximum=100000,
        ),
    )
    # Newest recordings considered per refresh (bounds the screen-records listing and memory).
    max_recordings: int = field(
        default=10000,
        metadata=_meta(
            "newest recordings considered per refresh; past it the older ones wait and "
            "`api_listings_truncated_total` counts it",
            minimum=1,
            maximum=100000,
        ),
    )
    # Operations read per recording per visit, and operation keys kept per recording: about 80
    # bytes a key, so 10,000 keys are under 1 MB per recording in progress.
    max_operations_per_recording: int = field(
        default=10_000,
        metadata=_meta(
            "operations read (and remembered, to count each once) per recording; past it the rest "
            "is not counted and `api_listings_truncated_total` counts the cut",
            minimum=100,
            maximum=1_000_000,
        ),
    )


@dataclass(frozen=True)
class WebConfig:
    listen_address: str = field(
        default=f":{DEFAULT_PORT}",
        metadata=_meta("HOST:PORT to serve on; `--web.listen-address` overrides it"),
    )
    config_file: str = field(
        default="",
        metadata=_meta("TLS / basic auth file (see [TLS and basic auth](#tls-and-basic-auth))"),
    )
    ready_timeout: float = field(
        default=120.0,
        metadata=_meta(
            "see `/-/ready` under [Command line](#command-line)", duration=True, minimum=0, maximum=3600
        ),
    )


@dataclass(frozen=True)
class LogConfig:
    level: str = field(
        default="info", metadata=_meta("log level", choices=("debug", "info", "warn", "error"))
    )
    format: str = field(default="logfmt", metadata=_meta("log line format", choices=("logfmt", "json")))


@dataclass(frozen=True)
class ShardConfig:
    """Split one project's desktops over ``count`` processes by a stable hash of desktop_id."""

    index: int = field(
        default=0,
        metadata=_meta(
            "keep only desktops with `crc32(desktop_id) mod count == index`; env "
            "`WORKSPACE_EXPORTER_SHARD_INDEX` overrides it",
            minimum=0,
            maximum=1023,
        ),
    )
    count: int = field(
        default=1,
        metadata=_meta(
            "number of shards; env `WORKSPACE_EXPORTER_SHARD_COUNT` overrides it", minimum=1, maximum=1024
        ),
    )


@dataclass(frozen=True)
class Config:
    region: str = field(default="", metadata=_meta("region id, e.g. `ap-southeast-1` (required)"))
    project_id: str = field(
        default="",
        metadata=_meta(
            "project the desktops belong to. Empty: env `HUAWEICLOUD_SDK_PROJECT_ID`, else discovered "
            "from IAM by region name (AK/SK auth only)"
        ),
    )
    endpoints: EndpointsConfig = field(default_factory=EndpointsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    http: HTTPConfig = field(default_factory=HTTPConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    connections: ConnectionsConfig = field(default_factory=ConnectionsConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # Add project_id/region labels: "auto" = only when more than one target is configured.
    target_labels: str = field(
        default="auto",
        metadata=_meta(
            "add `project_id`/`region` labels: `auto` = only with more than one target, `always`",
            choices=("auto", "always"),
        ),
    )
    shard: ShardConfig = field(default_factory=ShardConfig)


# Top-level keys read before the dataclasses see the document (exporter.config.targets).
TOP_LEVEL_ONLY_KEYS = ("targets",)


@dataclass(frozen=True)
class Settings:
    """Everything the running exporter needs: the config with effective values filled in."""

    config: Config
    credentials: Credentials
    source: str = ""  # file the config came from, for logs
    # Every endpoint of each service, fall-backs included; ``config.endpoints`` holds the
    # first of each. None: only those (settings built by hand, in tests).
    endpoints: Endpoints | None = None


_TAG_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


def tag_label_name(key: str) -> str:
    """``"cost-center"`` → ``"tag_cost_center"`` (a valid, prefixed label name)."""
    return "tag_" + _TAG_LABEL_BAD.sub("_", key)


def _validate(cfg: Config, problems: list[str]) -> None:
    if not cfg.region:
        problems.append("region: is required (for example ap-southeast-1)")
    elif not _REGION_RE.match(cfg.region):
        problems.append(f"region: must be a region id such as ap-southeast-1 (got {excerpt(cfg.region)})")
    if not re.match(r"^https?://[^/\s?#]+/?$", cfg.auth.metadata_url):
        got = excerpt(cfg.auth.metadata_url)
        problems.append(f"auth.metadata_url: must be an http:// or https:// base URL (got {got})")
    for api in cfg.budget.per_api:
        if api not in APIS:
            problems.append(f"budget.per_api.{api}: unknown API (known: {', '.join(sorted(APIS))})")
    label_of: dict[str, tuple[int, str]] = {}  # label name -> first tag key giving it
    for i, key in enumerate(cfg.inventory.tag_labels):
        if not key:
            problems.append(f"inventory.tag_labels[{i}]: must be a non-empty tag key")
            continue
        first = label_of.setdefault(tag_label_name(key), (i, key))
        if first[1] != key:
            problems.append(
                f"inventory.tag_labels[{i}]: {excerpt(key)} and inventory.tag_labels[{first[0]}] "
                f"{excerpt(first[1])} both become label {tag_label_name(key)}; keep only one of them"
            )
    if cfg.monitoring.max_age < cfg.monitoring.interval:
        problems.append(
            f"monitoring.max_age: must be at least monitoring.interval ({cfg.monitoring.interval:g}s) "
            "so values survive until the next refresh"
        )
    _validate_cloudeye(cfg.monitoring, problems)
    for i, label in enumerate(cfg.connections.extra_labels):
        if label not in CONNECTION_LABELS:
            allowed = ", ".join(CONNECTION_LABELS)
            problems.append(f"connections.extra_labels[{i}]: must be one of {allowed} (got {excerpt(label)})")
        elif label in cfg.connections.extra_labels[:i]:
            problems.append(f"connections.extra_labels[{i}]: {excerpt(label)} is listed twice")
    _validate_events(cfg.events, problems)
    if cfg.shard.index >= cfg.shard.count:
        problems.append(f"shard.index: must be below shard.count ({cfg.shard.count}) (got {cfg.shard.index})")
    if cfg.http.backoff_max < cfg.http.backoff_initial:
        problems.append("http.backoff_max: must be at least http.backoff_initial")
    try:
        parse_listen_address(cfg.web.listen_address)
    except ValueError as e:
        problems.append(f"web.listen_address: {e}")
    if cfg.http.ca_file and not Path(cfg.http.ca_file).is_file():
        problems.append(f"http.ca_file: file {excerpt(cfg.http.ca_file)} does not exist")
    if cfg.web.config_file and not Path(cfg.web.config_file).is_file():
        problems.append(f"web.config_file: file {excerpt(cfg.web.config_file)} does not exist")


_CES_NAMESPACE_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]*\.[a-zA-Z][0-9a-zA-Z_]*$")
_CES_DIMENSION_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,31}$")


def _validate_cloudeye(mon: MonitoringConfig, problems: list[str]) -> None:
    ns = mon.cloudeye_namespace
    if not _CES_NAMESPACE_RE.match(ns) or not 3 <= len(ns) <= 32:
        problems.append(
            "monitoring.cloudeye_namespace: must be a Cloud Eye namespace such as SYS.Workspace "
            f"(got {excerpt(ns)})"
        )
    dim = mon.cloudeye_dimension
    if dim and not _CES_DIMENSION_RE.match(dim):
        problems.append(
            "monitoring.cloudeye_dimension: must be empty (discover) or a dimension name such as "
            f"instance_id: a letter, then up to 31 letters, digits, _ or - (got {excerpt(dim)})"
        )


EVENT_LEVELS = ("info", "alarm", "error")


def _validate_events(ev: EventsConfig, problems: list[str]) -> None:
    for i, level in enumerate(ev.event_levels):
        if level.lower() not in EVENT_LEVELS:
            allowed = ", ".join(EVENT_LEVELS)
            problems.append(f"events.event_levels[{i}]: must be one of {allowed} (got {excerpt(level)})")
    for i, etype in enumerate(ev.event_types):
        if not etype.strip():
            problems.append(f"events.event_types[{i}]: must be a non-empty event type such as APP")
    if ev.lookback > ev.recordings_window:
        problems.append(
            f"events.lookback: must be at most events.recordings_window ({ev.recordings_window:g}s); "
            "older recordings are never listed"
        )


def parse_listen_address(addr: str) -> tuple[str, int]:
    """``":10187"`` → ("0.0.0.0", 10187); ``"127.0.0.1:0"``; ``"[::1]:9"``. Raises ValueError."""
    host, sep, port_s = addr.rpartition(":")
    if not sep or not _ASCII_NUMBER.fullmatch(port_s):
        raise ValueError(
            f"must be HOST:PORT such as :{DEFAULT_PORT} or 127.0.0.1:{DEFAULT_PORT} (got {excerpt(addr)})"
        )
    port = int(port_s)
    if port > 65535:
        raise ValueError(f"port must be 0-65535 (got {port})")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - binding all interfaces is the documented default
    return host, port


def _apply_env(cfg: Config, env: Mapping[str, str], problems: list[str]) -> tuple[Config, Endpoints]:
    """Fill in effective values from the SDK environment variables and region tables."""
    project_id = cfg.project_id or env.get("HUAWEICLOUD_SDK_PROJECT_ID", "")
    configured = {name: getattr(cfg.endpoints, name) for name in ("workspace", "iam", "ces", "sts")}
    found = resolve_endpoints(cfg.region, configured, env, problems)
    endpoints = EndpointsConfig(
        workspace=found.workspace[0], iam=found.iam[0], ces=found.ces[0], sts=found.sts[0]
    )
    return dataclasses.replace(cfg, project_id=project_id, endpoints=endpoints), found


def _apply_shard_env(raw: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    """``WORKSPACE_EXPORTER_SHARD_INDEX``/``_COUNT`` override ``shard.*`` (one chart Deployment per shard)."""
    for key in ("index", "count"):
        name = f"WORKSPACE_EXPORTER_SHARD_{key.upper()}"
        value = env.get(name)
        if value is None:
            continue
        if not _ASCII_NUMBER.fullmatch(value.strip()):
            problems.append(f"{name}: must be a whole number written in digits 0-9 (got {excerpt(value)})")
            continue
        shard = raw.get("shard")
        shard = dict(shard) if isinstance(shard, dict) else {}
        shard[key] = int(value)
        raw["shard"] = shard


def parse_config(raw: object, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed YAML document and resolve it against ``env``. Raises ConfigError."""
    env = os.environ if env is None else env
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"config: the top level must be a mapping of keys (got {type(raw).__name__})"])
    raw = dict(raw)
    _apply_shard_env(raw, env, problems)
    cfg: Config = _build(Config, raw, "", problems, TOP_LEVEL_ONLY_KEYS)
    _validate(cfg, problems)
    if problems:
        raise ConfigError(problems)
    cfg, endpoints = _apply_env(cfg, env, problems)
    if problems:
        raise ConfigError(problems)
    credentials = resolve_credentials(cfg.auth, cfg.project_id, env)
    if not cfg.project_id and credentials.project_id:  # the profile file names one, as in the SDK
        cfg = dataclasses.replace(cfg, project_id=credentials.project_id)
    return Settings(config=cfg, credentials=credentials, endpoints=endpoints)


def read_yaml(path: str | os.PathLike[str]) -> object:
    """The parsed YAML document at ``path``, read within the bounds of :mod:`exporter.config.yamlfile`."""
    return load_yaml_file(path, "config", path_key="--config.file", bare_paths=True)
