"""Agent versions across the fleet, agent upgrade tasks and (opt-in) monitoring plug-ins.

A refresh makes:

* ``GET /v2/{project_id}/desktops/statistics/by-version``: desktops per agent (HDA) version
  and OS. PromQL cannot compare version strings, so the source computes, per OS, the
  *reference* version (``agents.target_versions``, else the newest version on at least
  ``agents.reference_min_share`` of that OS's desktops, so a pilot desktop on a newer agent
  moves nothing) and how many desktops run an older one. Versions compare as dotted
  numbers; one that is not (``beta``) sorts lowest and is logged once. At most
  ``agents.max_versions`` versions per OS are exported (the most common), the rest as
  ``other``; at most :data:`MAX_OS` operating systems;
* ``GET /v2/{project_id}/upgrade-tasks``: the newest :data:`MAX_UPGRADE_TASKS` agent upgrade
  tasks (the API sorts by creation, newest first) with their last status and target version;
* with ``agents.monitoring_plugins``, ``GET /v2/{project_id}/desktops/agents`` (paged, one GET
  only: a POST there installs plug-ins): desktops by monitoring plug-in, version and whether
  it is installed. Only these sums are kept, never a per-desktop series.

The refresh is all or nothing (:mod:`exporter.sources.fleet_common`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exporter.config.sections.fleet import target_versions
from exporter.config.settings import AgentsConfig
from exporter.sources.base import next_version
from exporter.sources.fleet_common import Enum, FleetSource, Notes, count, flag
from exporter.sources.labels import OTHER, bounded_id, bounded_text

VERSIONS_API = "desktop_version_statistics"
UPGRADES_API = "upgrade_tasks"
PLUGINS_API = "agents_install"
MAX_OS = 10
MAX_UPGRADE_TASKS = 100
MAX_PLUGINS = 10
MAX_PLUGIN_VERSIONS = 20
_NUMERIC = re.compile(r"^\d{1,9}(?:\.\d{1,9}){0,7}$")

UPGRADE_STATUSES = ("SUCCESS", "FAILED", "RUNNING", "WAITING")
_UPGRADE_STATUSES = Enum(UPGRADE_STATUSES)
_TASK_TYPES = Enum({"0": "desktop", "1": "app_server", "2": "image"})
_SCHEDULED_TYPES = Enum(("FIXED_TIME", "DAY", "WEEK", "MONTH", "LIFE_CYCLE"))

Version = tuple[int, ...]


def version_key(text: str) -> Version | None:
    """``"24.6.0.1"`` → ``(24, 6, 0, 1)``; None for a version that is not dotted numbers."""
    return tuple(int(p) for p in text.split(".")) if _NUMERIC.match(text) else None


@dataclass(frozen=True)
class OsVersions:
    os_type: str
    versions: tuple[tuple[str, int], ...]  # (version or "other", desktops), most desktops first
    reference: str  # "" when no version qualifies
    reference_source: str  # "config" or "fleet"
    outdated: int


@dataclass(frozen=True)
class UpgradeTask:
    task_id: str
    name: str
    task_type: str
    scheduled_type: str
    target_version: str
    enabled: str  # "true", "false" or ""
    status: str  # "" when not said


@dataclass(frozen=True)
class AgentsSnapshot:
    systems: tuple[OsVersions, ...]
    upgrades: tuple[UpgradeTask, ...]
    plugins: tuple[tuple[tuple[str, str, str], int], ...] | None  # ((plugin, version, installed), n)
    version: int = field(default_factory=next_version, compare=False)


def reference_version(
    counts: dict[str, int], target: Version | None, min_share: float
) -> tuple[str, str, Version | None]:
    """(reference version text, its source, its key): the configured target, else the newest
    numeric version on at least ``min_share`` of the desktops."""
    if target is not None:
        return ".".join(map(str, target)), "config", target
    total = sum(counts.values())
    best: tuple[Version, str] | None = None
    for text, n in counts.items():
        key = version_key(text)
        if key is None or total == 0 or n / total < min_share:
            continue
        if best is None or key > best[0]:
            best = (key, text)
    return (best[1], "fleet", best[0]) if best else ("", "fleet", None)


def summarise(os_type: str, counts: dict[str, int], cfg: AgentsConfig, notes: Notes) -> OsVersions:
    target = target_versions(cfg.target_versions).get(os_type)
    ref, source, ref_key = reference_version(counts, target, cfg.reference_min_share)
    outdated = 0
    for text, n in counts.items():
        key = version_key(text)
        if key is None:
            notes.note("agent version not dotted numbers", f"{os_type} {text!r} counts as outdated")
        if ref_key is not None and (key is None or key < ref_key):
            outdated += n
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = ranked[: cfg.max_versions]
    rest = sum(n for _, n in ranked[cfg.max_versions :])
    if rest:
        kept.append((OTHER, rest))
    return OsVersions(os_type, tuple(kept), ref, source, outdated)


def parse_upgrade(raw: dict[str, Any]) -> UpgradeTask | None:
    task_id = bounded_id(raw.get("id"))
    if not task_id:
        return None
    enable = count(raw.get("is_enable"))
    status = raw.get("last_execute_status")
    task_type = raw.get("task_type")
    return UpgradeTask(
        task_id=task_id,
        name=bounded_text(raw.get("task_name")),
        task_type=_TASK_TYPES(str(task_type)) if count(task_type) is not None else "",
        scheduled_type=_SCHEDULED_TYPES(raw.get("scheduled_type")),
        target_version=bounded_text(raw.get("target_version"), 64),
        enabled={0: "false", 1: "true"}.get(enable, "") if enable is not None else "",
        status=_UPGRADE_STATUSES(status) if isinstance(status, str) and status else "",
    )


class AgentsSource(FleetSource[AgentsConfig]):
    """Keeps the latest :class:`AgentsSnapshot`; a failed refresh keeps the old one."""

    name = "agents"
    apis: tuple[str, ...] = (VERSIONS_API, UPGRADES_API, PLUGINS_API)
    snapshot: AgentsSnapshot | None = None

    def refresh(self) -> None:
        cfg = self.config
        if not cfg.enabled:
            return
        with self._lock:
            self.notes.begin()
            systems = self._versions(cfg)
            upgrades = self._upgrades()
            plugins = self._plugins() if cfg.monitoring_plugins else None
            self.notes.end()
            fresh = AgentsSnapshot(systems, upgrades, plugins)
            if fresh != self.snapshot:
                self.snapshot = fresh

    def _versions(self, cfg: AgentsConfig) -> tuple[OsVersions, ...]:
        body = self._client.request(VERSIONS_API)
        items = body.get("version_statistics")
        if not isinstance(items, list):
            self._sink.invalid_response(VERSIONS_API)
            items = []
        by_os: dict[str, Counter[str]] = {}
        for raw in items:
            n = count(raw.get("desktop_count")) if isinstance(raw, dict) else None
            version = bounded_text(raw.get("version"), 64) if isinstance(raw, dict) else ""
            os_type = bounded_text(raw.get("os_type"), 64) if isinstance(raw, dict) else ""
            if n is None or not version:
                self._sink.invalid_response(VERSIONS_API)
                continue
            os_type = os_type or "unknown"
            if os_type not in by_os and len(by_os) >= MAX_OS:
                self.notes.note("too many operating systems", f"more than {MAX_OS}; the rest as other")
                os_type = OTHER
            by_os.setdefault(os_type, Counter())[version] += n
        return tuple(summarise(o, dict(c), cfg, self.notes) for o, c in sorted(by_os.items()))

    def _upgrades(self) -> tuple[UpgradeTask, ...]:
        found: dict[str, UpgradeTask] = {}
        for page in self._client.listing(
            UPGRADES_API, "tasks", total_key="total", max_items=MAX_UPGRADE_TASKS
        ):
            for raw in page.items:
                task = parse_upgrade(raw)
                if task is None or task.task_id in found:
                    self._sink.invalid_response(UPGRADES_API)
                    continue
                found[task.task_id] = task
        return tuple(sorted(found.values(), key=lambda t: t.task_id))

    def _plugins(self) -> tuple[tuple[tuple[str, str, str], int], ...]:
        sums: Counter[tuple[str, str, str]] = Counter()
        names: set[str] = set()
        versions: dict[str, set[str]] = {}
        for page in self._client.listing(PLUGINS_API, "agents_condition"):
            for raw in page.items:
                infos = raw.get("agent_info")
                if not isinstance(infos, list):
                    self._sink.invalid_response(PLUGINS_API)
                    continue
                for info in infos:
                    installed = flag(info.get("is_installed")) if isinstance(info, dict) else None
                    name = bounded_text(info.get("agent_name"), 64) if isinstance(info, dict) else ""
                    if installed is None or not name:
                        self._sink.invalid_response(PLUGINS_API)
                        continue
                    version = bounded_text(info.get("agent_version"), 64) if installed else ""
                    if name not in names and len(names) >= MAX_PLUGINS:
                        name = OTHER
                    names.add(name)
                    seen = versions.setdefault(name, set())
                    if version not in seen and len(seen) >= MAX_PLUGIN_VERSIONS:
                        version = OTHER
                    seen.add(version)
                    sums[(name, version, str(installed).lower())] += 1
        return tuple(sorted(sums.items()))
