"""``check-config --online``: the probes of the fleet sources (pools, quotas, tasks, agents,
alarms, user events), one smallest call per API each enabled source makes.

A source whose action is missing from the IAM policy is down at run time while the rest
of the exporter works; here its row fails with the action to grant, so the policy can be
completed before (or after) an upgrade turns the source on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from exporter.config.settings import Config
from exporter.sources import agents, alarms, pools, quotas, tasks, user_events
from exporter.timeutil import fmt_seconds
from exporter.upstream.client import Params, WorkspaceClient

# User events of the last few minutes: the smallest window worth asking for.
USER_EVENTS_WINDOW_S = 600.0
ONE: Params = {"offset": 0, "limit": 1}


class Checker(Protocol):
    """What the probes use of :class:`exporter.cli.online.TargetCheck`."""

    client: WorkspaceClient

    def check(self, api: str, call: Callable[[], Any], note: str = "") -> Any: ...

    def skip(self, api: str, why: str, needs: str) -> None: ...

    def listing(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        json_body: object = None,
    ) -> dict[str, Any]: ...


def check_fleet(c: Checker, cfg: Config, now: float) -> None:
    """Probe the APIs of every enabled fleet source, in the order the sources call them."""
    request = c.client.request
    if cfg.pools.enabled:
        c.check(pools.POOLS_API, lambda: c.listing(pools.POOLS_API, "desktop_pools", ONE))
        stats: Params = {"statistics_type": pools.STATISTICS_TYPES}
        c.check(pools.STATS_API, lambda: request(pools.STATS_API, None, stats))
    if cfg.quotas.enabled:
        c.check(quotas.API, lambda: request(quotas.API))
    if cfg.tasks.enabled:
        _tasks(c)
    if cfg.agents.enabled:
        c.check(agents.VERSIONS_API, lambda: request(agents.VERSIONS_API))
        c.check(agents.UPGRADES_API, lambda: c.listing(agents.UPGRADES_API, "tasks", ONE))
        if cfg.agents.monitoring_plugins:
            c.check(agents.PLUGINS_API, lambda: c.listing(agents.PLUGINS_API, "agents_condition", ONE))
    if cfg.alarms.enabled:
        c.check(alarms.STATS_API, lambda: request(alarms.STATS_API))
        level: Params = {"level": alarms.LEVEL_NUMBER[cfg.alarms.levels[0]], **ONE}
        c.check(alarms.LIST_API, lambda: c.listing(alarms.LIST_API, "alarm_histories", level))
    if cfg.user_events.enabled:
        end = float(int(now))
        window: Params = {
            "start_time": fmt_seconds(end - USER_EVENTS_WINDOW_S),
            "end_time": fmt_seconds(end),
            **ONE,
        }
        c.check(user_events.API, lambda: c.listing(user_events.API, "items", window))


def _tasks(c: Checker) -> None:
    listing = c.check(tasks.LIST_API, lambda: c.listing(tasks.LIST_API, "scheduled_tasks", ONE))
    items = listing.get("scheduled_tasks") if isinstance(listing, dict) else None
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    task_id = first.get("id")
    if not isinstance(task_id, str) or not task_id:
        c.skip(tasks.RECORDS_API, "no scheduled task to ask about", tasks.LIST_API)
        return
    c.check(
        tasks.RECORDS_API,
        lambda: c.client.request(tasks.RECORDS_API, {"task_id": task_id}, {"offset": 0, "limit": 1}),
    )
