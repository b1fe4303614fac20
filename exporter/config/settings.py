"""The whole config: :class:`Config` (the tree of sections), :class:`Settings` (the config
with effective values filled in) and :func:`parse_config`, which turns one YAML document into
them.

The loader is driven by the dataclass fields themselves (:mod:`exporter.config.schema`), so a
new section (a new source) is one more dataclass in :mod:`exporter.config.sections` and one
more field on :class:`Config`. Every problem is reported with its dotted key path and what is
expected, and all problems are collected before :class:`~exporter.errors.ConfigError` is
raised.

Credentials never live in the YAML: they come from the Huawei Cloud SDK
environment variables or from ``*_file`` paths (a mounted Kubernetes Secret).

The sections' classes and helpers are re-exported here, so the rest of the exporter imports
the config from one place.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.apis import APIS
from exporter.config.credentials import Credentials, resolve_credentials
from exporter.config.endpoints import Endpoints, resolve_endpoints
from exporter.config.schema import build as _build
from exporter.config.schema import meta as _meta
from exporter.config.sections.access import AuthConfig, EndpointsConfig
from exporter.config.sections.connections import CONNECTION_LABELS, ConnectionsConfig
from exporter.config.sections.events import EVENT_LEVELS, EventsConfig
from exporter.config.sections.http import BudgetConfig, HTTPConfig
from exporter.config.sections.inventory import InventoryConfig, tag_label_name
from exporter.config.sections.monitoring import MonitoringConfig
from exporter.config.sections.process import (
    DEFAULT_PORT,
    LogConfig,
    ShardConfig,
    WebConfig,
    apply_shard_env,
    parse_listen_address,
)
from exporter.config.yamlfile import excerpt, load_yaml_file
from exporter.errors import ConfigError

__all__ = [
    "DEFAULT_PORT",
    "TOP_LEVEL_ONLY_KEYS",
    "AuthConfig",
    "BudgetConfig",
    "Config",
    "ConnectionsConfig",
    "EndpointsConfig",
    "EventsConfig",
    "HTTPConfig",
    "InventoryConfig",
    "LogConfig",
    "MonitoringConfig",
    "Settings",
    "ShardConfig",
    "WebConfig",
    "parse_config",
    "parse_listen_address",
    "read_yaml",
    "tag_label_name",
]

_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")


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


def _apply_env(cfg: Config, env: Mapping[str, str], problems: list[str]) -> tuple[Config, Endpoints]:
    """Fill in effective values from the SDK environment variables and region tables."""
    project_id = cfg.project_id or env.get("HUAWEICLOUD_SDK_PROJECT_ID", "")
    configured = {name: getattr(cfg.endpoints, name) for name in ("workspace", "iam", "ces", "sts")}
    found = resolve_endpoints(cfg.region, configured, env, problems)
    endpoints = EndpointsConfig(
        workspace=found.workspace[0], iam=found.iam[0], ces=found.ces[0], sts=found.sts[0]
    )
    return dataclasses.replace(cfg, project_id=project_id, endpoints=endpoints), found


def parse_config(raw: object, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed YAML document and resolve it against ``env``. Raises ConfigError."""
    env = os.environ if env is None else env
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"config: the top level must be a mapping of keys (got {type(raw).__name__})"])
    raw = dict(raw)
    apply_shard_env(raw, env, problems)
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
