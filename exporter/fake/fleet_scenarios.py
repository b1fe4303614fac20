"""The demo's fleet incidents (pools, quotas, tasks, agents, alarms, a missing permission):
what each changes in the fake when it starts, at each step and when it ends.

:mod:`exporter.fake.scenarios` declares them with their alerts and times and calls these;
they act on the fleet state of :class:`~exporter.fake.fleet.FleetMixin` only, so they run
side by side with the per-desktop incidents.
"""

from __future__ import annotations

from typing import Any

from exporter.fake.data import AGENT_VERSION, DYNAMIC_POOL, is_linux, pool_id
from exporter.fake.state import FakeWorkspace

FLEET_SCENARIOS = (
    "pool-nearly-full",
    "pool-exhausted",
    "quota-nearly-full",
    "quota-exhausted",
    "nightly-task-fails",
    "agents-outdated",
    "cloud-alarm",
    "permission-missing",
)
QUOTA = "general_instances"  # the quota a pool's growth takes from
OLD_AGENT = "23.12.0.5"
OUTDATED_SHARE = 0.5  # of the Windows desktops, well above the alert's 20%
TASK_FAILURES = 3  # desktops the nightly task fails on
DENIED_API = "quotas"  # the permission an upgrade's policy lacks in permission-missing


def _dynamic_pool(ws: FakeWorkspace) -> str:
    return pool_id(ws.seed, DYNAMIC_POOL)


def _nightly(ws: FakeWorkspace) -> str:
    return str(ws.scheduled_tasks[0]["id"])


def start(ws: FakeWorkspace, name: str, now: float) -> dict[str, Any]:
    """Stage fleet incident ``name``; returns what :func:`end` needs to undo it."""
    if name == "nightly-task-fails":
        ws.run_task(_nightly(ws), now, failed=TASK_FAILURES)
    elif name == "agents-outdated":
        windows = [d for d in ws.desktops if not is_linux(d) and d.get("agent_version") == AGENT_VERSION]
        changed = [d["desktop_id"] for d in windows[: max(2, round(len(windows) * OUTDATED_SHARE))]]
        for did in changed:
            ws.update_desktop(did, agent_version=OLD_AGENT)
        ws.set_upgrade_status(ws.upgrade_tasks[0]["task_name"], "FAILED")
        return {"desktops": changed}
    elif name == "cloud-alarm":
        return {"record": ws.add_alarm(1, now)["record_id"]}
    elif name == "permission-missing":
        ws.deny(DENIED_API)
    else:
        step(ws, name)
    return {}


def step(ws: FakeWorkspace, name: str) -> None:
    """Per-step effect: the pool or the quota held nearly full (about 90% and 95%) or full,
    whatever the office does meanwhile."""
    if name in ("pool-nearly-full", "pool-exhausted"):
        pid = _dynamic_pool(ws)
        size = sum(1 for d in ws.desktops if d.get("pool_id") == pid)
        free = max(1, size // 10) if name == "pool-nearly-full" else 0
        ws.pool_used_override[pid] = max(0, size - free)
    elif name in ("quota-nearly-full", "quota-exhausted"):
        limit = ws.quota_limits[QUOTA]
        ws.quota_used_override[QUOTA] = limit - max(1, limit // 20) if name == "quota-nearly-full" else limit


def end(ws: FakeWorkspace, name: str, now: float, extra: dict[str, Any]) -> None:
    """Undo fleet incident ``name``."""
    if name in ("pool-nearly-full", "pool-exhausted"):
        ws.pool_used_override.pop(_dynamic_pool(ws), None)
    elif name in ("quota-nearly-full", "quota-exhausted"):
        ws.quota_used_override.pop(QUOTA, None)
    elif name == "nightly-task-fails":
        ws.run_task(_nightly(ws), now)  # rerun by hand, cleanly
    elif name == "agents-outdated":
        for did in extra.get("desktops", ()):
            if ws.desktop(did) is not None:
                ws.update_desktop(did, agent_version=AGENT_VERSION)
        ws.set_upgrade_status(ws.upgrade_tasks[0]["task_name"], "SUCCESS")
    elif name == "cloud-alarm":
        ws.set_alarm_status(str(extra["record"]), "ok")
    elif name == "permission-missing":
        ws.allow(DENIED_API)
