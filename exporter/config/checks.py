"""The rules a field's metadata cannot say: between keys, against the API table, on the files
a key names. Each broken rule is one problem line naming the key and the fix."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.apis import APIS
from exporter.config.sections.connections import CONNECTION_LABELS
from exporter.config.sections.events import EVENT_LEVELS, EventsConfig
from exporter.config.sections.fleet import problems as fleet_problems
from exporter.config.sections.inventory import tag_label_name
from exporter.config.sections.monitoring import MonitoringConfig
from exporter.config.sections.process import parse_listen_address
from exporter.config.tree import Config
from exporter.config.yamlfile import excerpt

_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")


def validate(cfg: Config, problems: list[str]) -> None:
    """Append a problem line to ``problems`` for every rule ``cfg`` breaks."""
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
    problems.extend(fleet_problems(cfg.agents, cfg.alarms))
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
