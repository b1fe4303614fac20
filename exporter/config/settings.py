"""Loading the config: :func:`parse_config` turns one YAML document into :class:`Settings`.

The document is converted section by section from the dataclass fields themselves
(:mod:`exporter.config.schema`), checked against the rules between keys
(:mod:`exporter.config.checks`), then resolved against the environment: endpoints by the
SDK's region rules, the project id, the credentials. Every problem is reported with its
dotted key path and what is expected, and all problems of a stage are collected before
:class:`~exporter.errors.ConfigError` is raised.

Credentials never live in the YAML: they come from the Huawei Cloud SDK
environment variables or from ``*_file`` paths (a mounted Kubernetes Secret).

This is also the config's one import surface: the tree (:mod:`exporter.config.tree`) and
the sections (:mod:`exporter.config.sections`) are re-exported here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from exporter.config.checks import validate
from exporter.config.credentials import resolve_credentials
from exporter.config.endpoints import Endpoints, resolve_endpoints
from exporter.config.schema import build as _build
from exporter.config.sections.access import AuthConfig, EndpointsConfig
from exporter.config.sections.connections import ConnectionsConfig
from exporter.config.sections.events import EventsConfig
from exporter.config.sections.fleet import (
    AgentsConfig,
    AlarmsConfig,
    PoolsConfig,
    QuotasConfig,
    TasksConfig,
    UserEventsConfig,
)
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
from exporter.config.tree import TOP_LEVEL_ONLY_KEYS, Config, Settings
from exporter.config.yamlfile import load_yaml_file
from exporter.errors import ConfigError

__all__ = [
    "DEFAULT_PORT",
    "TOP_LEVEL_ONLY_KEYS",
    "AgentsConfig",
    "AlarmsConfig",
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
    "PoolsConfig",
    "QuotasConfig",
    "Settings",
    "ShardConfig",
    "TasksConfig",
    "UserEventsConfig",
    "WebConfig",
    "parse_config",
    "parse_listen_address",
    "read_yaml",
    "tag_label_name",
]


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
    validate(cfg, problems)
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
