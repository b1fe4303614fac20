"""Sections ``pools``, ``quotas``, ``tasks``, ``agents``, ``alarms`` and ``user_events``:
fleet capacity and health, one project-wide source each."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.config.schema import meta as _meta
from exporter.config.yamlfile import excerpt

ALARM_LEVELS = ("critical", "major", "minor", "info")  # list_alarms level 1..4
_TARGET_VERSION = re.compile(r"^([^=\s]{1,64})=(\d{1,9}(?:\.\d{1,9}){0,7})$")

_ON_AT_START = (
    "(a reload switches it, but if it was off at start-up, turning it on needs a restart); "
    "it needs the IAM actions in the README's Permissions table"
)


def _enabled(what: str, default: bool = True) -> bool:
    return field(default=default, metadata=_meta(f"{what} {_ON_AT_START}"))


def _interval(default: float, what: str, lo: float, hi: float) -> float:
    meta = _meta(f"how often {what}", duration=True, minimum=lo, maximum=hi)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class PoolsConfig:
    """Desktop pools and Workspace's desktop statistics."""

    enabled: bool = _enabled("desktop pool capacity and the desktop statistics by state")
    interval: float = _interval(300.0, "pools and statistics are read", 30, 3600)
    max_pools: int = field(
        default=500,
        metadata=_meta(
            "pools exported; past it the rest are not exported and `api_listings_truncated_total` "
            "counts the cut",
            minimum=1,
            maximum=10000,
        ),
    )


@dataclass(frozen=True)
class QuotasConfig:
    """Quotas of the project and its sites."""

    enabled: bool = _enabled("quota and usage per resource")
    interval: float = _interval(900.0, "the quotas are read", 60, 86400)


@dataclass(frozen=True)
class TasksConfig:
    """Scheduled tasks and the outcome of their latest run."""

    enabled: bool = _enabled("scheduled tasks and their latest run")
    interval: float = _interval(
        900.0, "the tasks are listed (records are read for tasks that ran)", 60, 86400
    )
    include_triggered: bool = field(
        default=False,
        metadata=_meta("also list triggered (LIFE_CYCLE) tasks, which the API returns only when asked"),
    )
    max_tasks: int = field(
        default=200,
        metadata=_meta(
            "tasks exported, those with the next execution first; past it the rest are not exported",
            minimum=1,
            maximum=5000,
        ),
    )


@dataclass(frozen=True)
class AgentsConfig:
    """Agent versions, upgrade tasks and (opt-in) monitoring plug-ins."""

    enabled: bool = _enabled("desktops per agent version and agent upgrade tasks")
    interval: float = _interval(3600.0, "versions and upgrade tasks are read", 60, 86400)
    target_versions: list[str] = field(
        default_factory=list,
        metadata=_meta(
            "`OS=version` entries (e.g. `Windows=24.6.0.1`): the version each OS's agents are compared "
            "with; empty or an OS not listed: the newest version on `agents.reference_min_share` of "
            "its desktops"
        ),
    )
    reference_min_share: float = field(
        default=0.2,
        metadata=_meta(
            "share (0–1) of an OS's desktops a version needs to become the reference (a pilot does not)",
            minimum=0.01,
            maximum=1,
        ),
    )
    max_versions: int = field(
        default=50,
        metadata=_meta(
            "versions exported per OS (the most common); the rest are summed as `other`",
            minimum=1,
            maximum=1000,
        ),
    )
    monitoring_plugins: bool = field(
        default=False,
        metadata=_meta(
            "also read which desktops have the monitoring plug-in (one call per 100 desktops; the IAM action "
            "is not published)"
        ),
    )


@dataclass(frozen=True)
class AlarmsConfig:
    """Workspace's own alarms (from Cloud Eye) by level."""

    enabled: bool = _enabled("Workspace alarms by level")
    interval: float = _interval(300.0, "the alarms are read", 30, 3600)
    levels: list[str] = field(
        default_factory=lambda: ["critical", "major"],
        metadata=_meta("levels whose active alarms are read per rule (critical, major, minor, info)"),
    )
    max_rules: int = field(
        default=100,
        metadata=_meta("alarm rules exported; past it they are summed as `other`", minimum=1, maximum=1000),
    )
    max_records: int = field(
        default=1000,
        metadata=_meta(
            "alarm records read per level and refresh; past it the listing stops and "
            "`api_listings_truncated_total` counts the cut",
            minimum=100,
            maximum=100000,
        ),
    )


@dataclass(frozen=True)
class UserEventsConfig:
    """User events (logins and other user actions), counted once each."""

    enabled: bool = _enabled("user events by type, result and error code", default=False)
    interval: float = _interval(60.0, "user events are polled", 30, 3600)
    overlap: float = field(
        default=300.0,
        metadata=_meta(
            "each poll re-reads this much before the last one, for late events", duration=True, maximum=86400
        ),
    )
    lookback: float = field(
        default=0.0,
        metadata=_meta(
            "at start-up, also count events up to this long before the start",
            duration=True,
            minimum=0,
            maximum=29 * 86400,
        ),
    )
    max_event_types: int = field(
        default=50, metadata=_meta("event types exported; past it `other`", minimum=1, maximum=1000)
    )
    max_error_codes: int = field(
        default=100, metadata=_meta("error codes exported; past it `other`", minimum=1, maximum=1000)
    )
    max_events_per_poll: int = field(
        default=100000,
        metadata=_meta(
            "events read per poll; past it the rest waits for the next poll and "
            "`api_listings_truncated_total` counts the cut",
            minimum=1000,
            maximum=10_000_000,
        ),
    )
    dedupe_max_keys: int = field(
        default=200000,
        metadata=_meta("event keys remembered to count each event once", minimum=1000, maximum=10_000_000),
    )


def target_versions(entries: list[str]) -> dict[str, tuple[int, ...]]:
    """``["Windows=24.6.0.1"]`` → ``{"Windows": (24, 6, 0, 1)}`` (entries checked by :func:`problems`)."""
    out: dict[str, tuple[int, ...]] = {}
    for entry in entries:
        m = _TARGET_VERSION.match(entry)
        if m:
            out[m.group(1)] = tuple(int(p) for p in m.group(2).split("."))
    return out


def problems(agents: AgentsConfig, alarms: AlarmsConfig) -> list[str]:
    """The rules of these sections that field metadata cannot say, one line each."""
    out = []
    seen: set[str] = set()
    for i, entry in enumerate(agents.target_versions):
        m = _TARGET_VERSION.match(entry)
        if m is None:
            out.append(
                f"agents.target_versions[{i}]: must be OS=version with a dotted numeric version, such as "
                f"Windows=24.6.0.1 (got {excerpt(entry)})"
            )
        elif m.group(1) in seen:
            out.append(f"agents.target_versions[{i}]: {m.group(1)} is listed twice")
        else:
            seen.add(m.group(1))
    for i, level in enumerate(alarms.levels):
        if level not in ALARM_LEVELS:
            allowed = ", ".join(ALARM_LEVELS)
            out.append(f"alarms.levels[{i}]: must be one of {allowed} (got {excerpt(level)})")
        elif level in alarms.levels[:i]:
            out.append(f"alarms.levels[{i}]: {level} is listed twice")
    return out
