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
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.apis import APIS
from exporter.errors import ConfigError
from exporter.secret import Secret

DEFAULT_PORT = 10187
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _meta(
    doc: str = "",
    *,
    duration: bool = False,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, Any]:
    return {"doc": doc, "duration": duration, "choices": choices, "min": minimum, "max": maximum}


def parse_duration(value: object) -> float:
    """``300``, ``"300"``, ``"5m"``, ``"1h"``, ``"1.5s"`` → seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    raise ValueError("not a duration")


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointsConfig:
    workspace: str = field(default="", metadata=_meta("Workspace API base URL"))
    iam: str = field(default="", metadata=_meta("IAM base URL"))
    ces: str = field(default="", metadata=_meta("Cloud Eye base URL"))


@dataclass(frozen=True)
class AuthConfig:
    method: str = field(default="aksk", metadata=_meta(choices=("aksk", "token")))
    ak_file: str = ""
    sk_file: str = ""
    security_token_file: str = ""
    username: str = ""
    domain_name: str = ""
    password_file: str = ""
    # Names of the environment variables to read when no *_file is set (per target).
    ak_env: str = "HUAWEICLOUD_SDK_AK"
    sk_env: str = "HUAWEICLOUD_SDK_SK"
    security_token_env: str = "HUAWEICLOUD_SDK_SECURITY_TOKEN"  # noqa: S105 - a variable name
    password_env: str = "WORKSPACE_EXPORTER_IAM_PASSWORD"  # noqa: S105 - a variable name
    token_refresh_before: float = field(default=3600.0, metadata=_meta(duration=True, minimum=60))


@dataclass(frozen=True)
class HTTPConfig:
    connect_timeout: float = field(default=5.0, metadata=_meta(duration=True, minimum=0.1, maximum=300))
    read_timeout: float = field(default=30.0, metadata=_meta(duration=True, minimum=0.1, maximum=600))
    tls_verify: bool = True
    ca_file: str = ""
    max_retries: int = field(default=3, metadata=_meta(minimum=0, maximum=10))
    retry_max_elapsed: float = field(default=60.0, metadata=_meta(duration=True, minimum=0, maximum=900))
    backoff_initial: float = field(default=1.0, metadata=_meta(duration=True, minimum=0.01, maximum=60))
    backoff_max: float = field(default=30.0, metadata=_meta(duration=True, minimum=0.01, maximum=600))
    throttle_backoff: float = field(default=3.0, metadata=_meta(duration=True, minimum=0, maximum=60))


@dataclass(frozen=True)
class BudgetConfig:
    per_api: dict[str, float] = field(default_factory=dict)
    burst: int = field(default=5, metadata=_meta(minimum=1, maximum=1000))
    max_concurrency: int = field(default=4, metadata=_meta(minimum=1, maximum=64))
    throttle_recovery: float = field(default=120.0, metadata=_meta(duration=True, minimum=1, maximum=3600))


@dataclass(frozen=True)
class InventoryConfig:
    interval: float = field(default=300.0, metadata=_meta(duration=True, minimum=30, maximum=86400))
    tag_labels: list[str] = field(default_factory=list)
    user_name_label: bool = True


@dataclass(frozen=True)
class MonitoringConfig:
    enabled: bool = True
    interval: float = field(default=300.0, metadata=_meta(duration=True, minimum=60, maximum=86400))
    window: float = field(default=3600.0, metadata=_meta(duration=True, minimum=3600, maximum=30 * 86400))
    max_age: float = field(default=1800.0, metadata=_meta(duration=True, minimum=60, maximum=7 * 86400))
    # Where the per-desktop metrics come from: one desktop-monitor call per desktop, or Cloud Eye
    # batch queries (one paged call per metric for every desktop; see sources/cloudeye.py).
    source: str = field(default="workspace", metadata=_meta(choices=("workspace", "cloudeye")))
    cloudeye_namespace: str = "SYS.Workspace"
    # Cloud Eye dimension whose value is the desktop id; "" = discover from the metric list at start-up.
    cloudeye_dimension: str = ""
    # Cloud Eye queries end this long before now, so datapoints still being ingested are not missed.
    cloudeye_delay: float = field(default=60.0, metadata=_meta(duration=True, minimum=0, maximum=3600))


CONNECTION_LABELS = ("user_name", "computer_name", "desktop_id", "terminal_type")


@dataclass(frozen=True)
class ConnectionsConfig:
    """Login/connection records (issue: login failures and connection records)."""

    enabled: bool = True
    api: str = field(default="v2", metadata=_meta(choices=("v2", "v1.0")))
    interval: float = field(default=60.0, metadata=_meta(duration=True, minimum=30, maximum=3600))
    overlap: float = field(default=300.0, metadata=_meta(duration=True, minimum=0, maximum=86400))
    lookback: float = field(default=0.0, metadata=_meta(duration=True, minimum=0, maximum=30 * 86400))
    extra_labels: list[str] = field(default_factory=list)
    max_label_sets: int = field(default=1000, metadata=_meta(minimum=1, maximum=100000))
    # Bound of the set of record keys remembered to count each record once (see README).
    dedupe_max_keys: int = field(default=200_000, metadata=_meta(minimum=1000, maximum=10_000_000))


@dataclass(frozen=True)
class EventsConfig:
    """Key desktop events from screen recordings (issue: key desktop events)."""

    enabled: bool = True
    interval: float = field(default=60.0, metadata=_meta(duration=True, minimum=30, maximum=3600))
    recordings_window: float = field(
        default=86400.0, metadata=_meta(duration=True, minimum=3600, maximum=15 * 86400)
    )
    lookback: float = field(default=0.0, metadata=_meta(duration=True, minimum=0, maximum=15 * 86400))
    event_types: list[str] = field(default_factory=list)
    event_levels: list[str] = field(default_factory=list)
    desktop_id_label: bool = True
    # os-operations calls per refresh; 0 = 80% of what the os_operations budget allows per interval.
    max_calls_per_cycle: int = field(default=0, metadata=_meta(minimum=0, maximum=100000))
    # Newest recordings considered per refresh (bounds the screen-records listing and memory).
    max_recordings: int = field(default=10000, metadata=_meta(minimum=1, maximum=100000))


@dataclass(frozen=True)
class WebConfig:
    listen_address: str = f":{DEFAULT_PORT}"
    config_file: str = ""
    ready_timeout: float = field(default=120.0, metadata=_meta(duration=True, minimum=0, maximum=3600))


@dataclass(frozen=True)
class LogConfig:
    level: str = field(default="info", metadata=_meta(choices=("debug", "info", "warn", "error")))
    format: str = field(default="logfmt", metadata=_meta(choices=("logfmt", "json")))


@dataclass(frozen=True)
class ShardConfig:
    """Split one project's desktops over ``count`` processes by a stable hash of desktop_id."""

    index: int = field(default=0, metadata=_meta(minimum=0, maximum=1023))
    count: int = field(default=1, metadata=_meta(minimum=1, maximum=1024))


@dataclass(frozen=True)
class Config:
    region: str = ""
    project_id: str = ""
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
    target_labels: str = field(default="auto", metadata=_meta(choices=("auto", "always")))
    shard: ShardConfig = field(default_factory=ShardConfig)


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials. Secret parts are wrapped, so printing this is safe."""

    method: str
    ak: str = ""
    sk: Secret = field(default_factory=lambda: Secret(""))
    security_token: Secret = field(default_factory=lambda: Secret(""))
    username: str = ""
    domain_name: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))


@dataclass(frozen=True)
class Settings:
    """Everything the running exporter needs: the config with effective values filled in."""

    config: Config
    credentials: Credentials
    source: str = ""  # file the config came from, for logs


# --------------------------------------------------------------------------------------
# Generic loader
# --------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return "a list of strings"
    if origin is dict:
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _convert(path: str, tp: Any, meta: Mapping[str, Any], raw: object, problems: list[str]) -> Any:
    """Convert one raw YAML value to the field type, appending problems; returns None on error."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            problems.append(f"{path}: must be a mapping of keys (got {type(raw).__name__})")
            return None
        return _build(tp, raw, path, problems)
    origin = typing.get_origin(tp)
    if meta.get("duration"):
        try:
            value: Any = parse_duration(raw)
        except ValueError:
            problems.append(f"{path}: must be a duration such as 30s, 5m or 1h (got {raw!r})")
            return None
    elif origin is list:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            problems.append(f"{path}: must be a list of strings (got {raw!r})")
            return None
        value = list(raw)
    elif origin is dict:
        if raw is None:
            return {}
        _, vtype = typing.get_args(tp)
        if not isinstance(raw, dict):
            problems.append(f"{path}: must be a mapping (got {type(raw).__name__})")
            return None
        value = {}
        for k, v in raw.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                problems.append(f"{path}.{k}: must be a positive number (got {v!r})")
                continue
            value[str(k)] = vtype(v)
    elif tp is bool:
        if not isinstance(raw, bool):
            problems.append(f"{path}: must be true or false (got {raw!r})")
            return None
        value = raw
    elif tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.append(f"{path}: must be an integer (got {raw!r})")
            return None
        value = raw
    elif tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.append(f"{path}: must be a number (got {raw!r})")
            return None
        value = float(raw)
    elif tp is str:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            problems.append(f"{path}: must be a string (got {raw!r})")
            return None
        value = raw
    else:  # pragma: no cover - a programming error in the dataclasses
        raise TypeError(f"unsupported config type {tp!r} at {path}")
    choices = meta.get("choices") or ()
    if choices and value not in choices:
        problems.append(f"{path}: must be one of {', '.join(choices)} (got {value!r})")
        return None
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(value, int | float) and not isinstance(value, bool):
        unit = "s" if meta.get("duration") else ""
        if lo is not None and value < lo:
            problems.append(f"{path}: must be at least {lo:g}{unit} (got {value:g}{unit})")
            return None
        if hi is not None and value > hi:
            problems.append(f"{path}: must be at most {hi:g}{unit} (got {value:g}{unit})")
            return None
    return value


def _build(cls: type, raw: Mapping[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            known = ", ".join(sorted(names))
            problems.append(f"{where}: unknown key (known keys here: {known})")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        path = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if isinstance(tp, types.UnionType):  # pragma: no cover - not used today
            tp = typing.get_args(tp)[0]
        value = _convert(path, tp, f.metadata, raw[f.name], problems)
        if value is not None:
            kwargs[f.name] = value
    return cls(**kwargs)


def _env_region_key(region: str) -> str:
    return "HUAWEICLOUD_SDK_REGION_WORKSPACE_" + region.upper().replace("-", "_")


def _validate(cfg: Config, problems: list[str]) -> None:
    if not cfg.region:
        problems.append("region: is required (for example ap-southeast-1)")
    elif not _REGION_RE.match(cfg.region):
        problems.append(f"region: must be a region id such as ap-southeast-1 (got {cfg.region!r})")
    for name in ("workspace", "iam", "ces"):
        url = getattr(cfg.endpoints, name)
        if url and not re.match(r"^https?://[^/\s]+", url):
            problems.append(f"endpoints.{name}: must be an http:// or https:// URL (got {url!r})")
    for api in cfg.budget.per_api:
        if api not in APIS:
            problems.append(f"budget.per_api.{api}: unknown API (known: {', '.join(sorted(APIS))})")
    for i, key in enumerate(cfg.inventory.tag_labels):
        if not key:
            problems.append(f"inventory.tag_labels[{i}]: must be a non-empty tag key")
    if cfg.monitoring.max_age < cfg.monitoring.interval:
        problems.append(
            f"monitoring.max_age: must be at least monitoring.interval ({cfg.monitoring.interval:g}s) "
            "so values survive until the next refresh"
        )
    _validate_cloudeye(cfg.monitoring, problems)
    for i, label in enumerate(cfg.connections.extra_labels):
        if label not in CONNECTION_LABELS:
            allowed = ", ".join(CONNECTION_LABELS)
            problems.append(f"connections.extra_labels[{i}]: must be one of {allowed} (got {label!r})")
        elif label in cfg.connections.extra_labels[:i]:
            problems.append(f"connections.extra_labels[{i}]: {label!r} is listed twice")
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
        problems.append(f"http.ca_file: file {cfg.http.ca_file!r} does not exist")
    if cfg.web.config_file and not Path(cfg.web.config_file).is_file():
        problems.append(f"web.config_file: file {cfg.web.config_file!r} does not exist")


_CES_NAMESPACE_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]*\.[a-zA-Z][0-9a-zA-Z_]*$")
_CES_DIMENSION_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,31}$")


def _validate_cloudeye(mon: MonitoringConfig, problems: list[str]) -> None:
    ns = mon.cloudeye_namespace
    if not _CES_NAMESPACE_RE.match(ns) or not 3 <= len(ns) <= 32:
        problems.append(
            f"monitoring.cloudeye_namespace: must be a Cloud Eye namespace such as SYS.Workspace (got {ns!r})"
        )
    dim = mon.cloudeye_dimension
    if dim and not _CES_DIMENSION_RE.match(dim):
        problems.append(
            "monitoring.cloudeye_dimension: must be empty (discover) or a dimension name such as "
            f"instance_id: a letter, then up to 31 letters, digits, _ or - (got {dim!r})"
        )


EVENT_LEVELS = ("info", "alarm", "error")


def _validate_events(ev: EventsConfig, problems: list[str]) -> None:
    for i, level in enumerate(ev.event_levels):
        if level.lower() not in EVENT_LEVELS:
            allowed = ", ".join(EVENT_LEVELS)
            problems.append(f"events.event_levels[{i}]: must be one of {allowed} (got {level!r})")
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
    if not sep or not port_s.isdigit():
        raise ValueError(
            f"must be HOST:PORT such as :{DEFAULT_PORT} or 127.0.0.1:{DEFAULT_PORT} (got {addr!r})"
        )
    port = int(port_s)
    if port > 65535:
        raise ValueError(f"port must be 0-65535 (got {port})")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - binding all interfaces is the documented default
    return host, port


def _read_secret_file(path: str, key: str, problems: list[str]) -> str | None:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        problems.append(f"{key}: cannot read {path!r} ({e.strerror or type(e).__name__})")
        return None
    if not value:
        problems.append(f"{key}: file {path!r} is empty")
        return None
    return value


def _secret(
    env: Mapping[str, str], file_path: str, key: str, env_name: str, problems: list[str]
) -> str | None:
    if file_path:
        return _read_secret_file(file_path, key, problems)
    return env.get(env_name) or None


def resolve_credentials(cfg: Config, env: Mapping[str, str]) -> Credentials:
    problems: list[str] = []
    a = cfg.auth
    if a.method == "aksk":
        ak = _secret(env, a.ak_file, "auth.ak_file", a.ak_env, problems)
        sk = _secret(env, a.sk_file, "auth.sk_file", a.sk_env, problems)
        token = _secret(
            env, a.security_token_file, "auth.security_token_file", a.security_token_env, problems
        )
        if ak is None and not a.ak_file:
            problems.append(f"auth: no access key: set {a.ak_env} or auth.ak_file")
        if sk is None and not a.sk_file:
            problems.append(f"auth: no secret key: set {a.sk_env} or auth.sk_file")
        if problems:
            raise ConfigError(problems)
        return Credentials(
            method="aksk", ak=ak or "", sk=Secret(sk or ""), security_token=Secret(token or "")
        )
    username = a.username or env.get("WORKSPACE_EXPORTER_IAM_USERNAME", "")
    domain = a.domain_name or env.get("WORKSPACE_EXPORTER_IAM_DOMAIN", "")
    password = _secret(env, a.password_file, "auth.password_file", a.password_env, problems)
    if not username:
        problems.append(
            "auth.username: is required for auth.method token (or set WORKSPACE_EXPORTER_IAM_USERNAME)"
        )
    if not domain:
        problems.append(
            "auth.domain_name: is required for auth.method token (or set WORKSPACE_EXPORTER_IAM_DOMAIN)"
        )
    if password is None and not a.password_file:
        problems.append(f"auth: no IAM password: set {a.password_env} or auth.password_file")
    if not cfg.project_id:
        problems.append("project_id: is required for auth.method token (or set HUAWEICLOUD_SDK_PROJECT_ID)")
    if problems:
        raise ConfigError(problems)
    return Credentials(method="token", username=username, domain_name=domain, password=Secret(password or ""))


def _apply_env(cfg: Config, env: Mapping[str, str]) -> Config:
    """Fill in effective values from the SDK environment variables and region defaults."""
    project_id = cfg.project_id or env.get("HUAWEICLOUD_SDK_PROJECT_ID", "")
    region = cfg.region
    ep = cfg.endpoints
    workspace = (
        ep.workspace
        or env.get(_env_region_key(region), "")
        or f"https://workspace.{region}.myhuaweicloud.com"
    )
    iam = ep.iam or env.get("HUAWEICLOUD_SDK_IAM_ENDPOINT", "") or f"https://iam.{region}.myhuaweicloud.com"
    ces = ep.ces or env.get("HUAWEICLOUD_SDK_REGION_CES_" + region.upper().replace("-", "_"), "")
    ces = ces or f"https://ces.{region}.myhuaweicloud.com"
    endpoints = EndpointsConfig(workspace=workspace.rstrip("/"), iam=iam.rstrip("/"), ces=ces.rstrip("/"))
    return dataclasses.replace(cfg, project_id=project_id, endpoints=endpoints)


def _apply_shard_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """``WORKSPACE_EXPORTER_SHARD_INDEX``/``_COUNT`` override ``shard.*`` (one chart Deployment per shard)."""
    for key in ("index", "count"):
        value = env.get(f"WORKSPACE_EXPORTER_SHARD_{key.upper()}")
        if value is None:
            continue
        shard = raw.get("shard")
        shard = dict(shard) if isinstance(shard, dict) else {}
        shard[key] = int(value) if value.strip().isdigit() else value
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
    _apply_shard_env(raw, env)
    cfg: Config = _build(Config, raw, "", problems)
    _validate(cfg, problems)
    if problems:
        raise ConfigError(problems)
    cfg = _apply_env(cfg, env)
    for name in ("workspace", "iam", "ces"):
        url = getattr(cfg.endpoints, name)
        if not re.match(r"^https?://[^/\s]+", url):
            problems.append(f"endpoints.{name}: environment override must be an http(s) URL (got {url!r})")
    if problems:
        raise ConfigError(problems)
    credentials = resolve_credentials(cfg, env)
    return Settings(config=cfg, credentials=credentials)


TARGET_KEYS = ("region", "project_id", "endpoints", "auth")


def parse_targets(raw: object, env: Mapping[str, str] | None = None) -> list[Settings]:
    """One :class:`Settings` per watched project.

    Without ``targets`` the top level is the only target. With ``targets`` (a list of
    mappings of region, project_id, endpoints and auth) each item is merged over the
    top level, so shared keys (budget, monitoring, …) are written once.
    """
    env = os.environ if env is None else env
    if not isinstance(raw, dict) or "targets" not in raw:
        return [parse_config(raw, env)]
    targets = raw["targets"]
    base = {k: v for k, v in raw.items() if k != "targets"}
    if not isinstance(targets, list) or not targets:
        raise ConfigError(
            [f"targets: must be a non-empty list of mappings with keys {', '.join(TARGET_KEYS)}"]
        )
    problems: list[str] = []
    out: list[Settings] = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(targets):
        if not isinstance(item, dict):
            problems.append(f"targets[{i}]: must be a mapping with keys {', '.join(TARGET_KEYS)}")
            continue
        for key in item:
            if key not in TARGET_KEYS:
                problems.append(f"targets[{i}].{key}: unknown key (allowed here: {', '.join(TARGET_KEYS)})")
        merged = dict(base)
        for key in TARGET_KEYS:
            if key in item:
                inherited = base.get(key)
                value = item[key]
                both = isinstance(inherited, dict) and isinstance(value, dict)
                merged[key] = {**inherited, **value} if both else value  # type: ignore[dict-item]
        try:
            settings = parse_config(merged, env)
        except ConfigError as e:
            for p in e.problems:
                local = p.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0] in TARGET_KEYS
                line = f"targets[{i}].{p}" if local else p
                if line not in problems:
                    problems.append(line)
            continue
        key2 = (settings.config.region, settings.config.project_id)
        if key2 in seen:
            problems.append(f"targets[{i}]: same region and project_id as targets[{seen[key2]}]")
        seen[key2] = i
        out.append(settings)
    if problems:
        raise ConfigError(problems)
    return out


def _read_yaml(path: str | os.PathLike[str]) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(
            [f"--config.file: cannot read {str(path)!r} ({e.strerror or type(e).__name__})"]
        ) from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"config: not valid YAML{where}: {getattr(e, 'problem', e)}"]) from e


def load_targets(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> list[Settings]:
    """Read, validate and resolve every target of the YAML config at ``path``."""
    return [dataclasses.replace(s, source=str(path)) for s in parse_targets(_read_yaml(path), env)]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and resolve a single-target YAML config at ``path``. Raises ConfigError."""
    return dataclasses.replace(parse_config(_read_yaml(path), env), source=str(path))
