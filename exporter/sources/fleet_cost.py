"""Upstream calls per hour of the fleet sources, from their config and the shape of a tenant.

The README's fleet cost table (``scripts/gen-docs.py``) is computed here, and
tests/unit/test_fleet_cost.py checks the formulas against the calls the sources make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.apis import APIS
from exporter.config.settings import Config
from exporter.sources.agents import MAX_UPGRADE_TASKS
from exporter.sources.tasks import RECHECK_S


@dataclass(frozen=True)
class Tenant:
    """What the fleet sources' calls depend on."""

    desktops: int
    pools: int
    tasks: int
    task_runs_per_day: float
    upgrade_tasks: int
    alarm_records_per_level: int  # records the alarms API returns per level, history included
    user_events_per_minute: float


#: The tenants of the README table: 100 desktops, and a 10,000-desktop one.
SMALL = Tenant(100, 2, 5, 5, 1, 10, 10)
LARGE = Tenant(10_000, 50, 100, 100, 5, 200, 1000)


def _pages(n: float, api: str) -> int:
    """Calls of one listing of ``n`` items (an empty listing still takes one)."""
    return max(1, math.ceil(n / APIS[api].page_limit))


def calls_per_hour(cfg: Config, t: Tenant) -> dict[str, dict[str, float]]:
    """source -> api -> calls per hour, for the enabled fleet sources."""
    out: dict[str, dict[str, float]] = {}
    if cfg.pools.enabled:
        per = 3600 / cfg.pools.interval
        out["pools"] = {
            "desktop_pools": per * _pages(t.pools, "desktop_pools"),
            "desktops_statistics": per * 2,
        }
    if cfg.quotas.enabled:
        out["quotas"] = {"quotas": 3600 / cfg.quotas.interval}
    if cfg.tasks.enabled:
        listings = 2 if cfg.tasks.include_triggered else 1
        per = 3600 / cfg.tasks.interval
        # A run changes a task's listing: one records call each; every task again each RECHECK_S.
        records = t.task_runs_per_day / 24 + t.tasks * 3600 / RECHECK_S
        out["tasks"] = {
            "scheduled_tasks": per * listings * _pages(t.tasks, "scheduled_tasks"),
            "scheduled_task_records": records,
        }
    if cfg.agents.enabled:
        per = 3600 / cfg.agents.interval
        agents = {
            "desktop_version_statistics": per,
            "upgrade_tasks": per * _pages(min(t.upgrade_tasks, MAX_UPGRADE_TASKS), "upgrade_tasks"),
        }
        if cfg.agents.monitoring_plugins:
            agents["agents_install"] = per * _pages(t.desktops, "agents_install")
        out["agents"] = agents
    if cfg.alarms.enabled:
        per = 3600 / cfg.alarms.interval
        records = min(t.alarm_records_per_level, cfg.alarms.max_records)
        levels = len(cfg.alarms.levels) * _pages(records, "alarms")
        out["alarms"] = {"alarm_statistics": per, "alarms": per * levels}
    if cfg.user_events.enabled:
        per = 3600 / cfg.user_events.interval
        window = t.user_events_per_minute * (cfg.user_events.interval + cfg.user_events.overlap) / 60
        out["user_events"] = {"user_events": per * _pages(window, "user_events")}
    return out


def total(calls: dict[str, dict[str, float]]) -> float:
    return sum(n for per_api in calls.values() for n in per_api.values())
