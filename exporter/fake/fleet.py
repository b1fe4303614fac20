"""The fake's fleet data: pools, statistics, quotas, scheduled and upgrade tasks, agents,
alarms and user events, in the SDK models' shapes; a base of ``FakeWorkspace``.

Everything that follows from the desktops is computed from them on each request (pool
sizes, statistics by state, quota usage, agent versions, monitoring plug-ins), so the
answers agree with the inventory. What the desktops do not say is held here and changed by
tests and the demo's fleet scenarios (:mod:`exporter.fake.fleet_scenarios`): overrides of how
many desktops of a pool are bound and of quota use, the task runs, the upgrade tasks'
status, the alarm records. User events are the connection records seen as ``LOGIN`` events.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from exporter.fake.data import JsonDict, det_hex, parse_iso
from exporter.fake.fleet_data import (
    SITE_ID,
    TASK_ZONE,
    agent_condition,
    alarm_record,
    only,
    pool_defs,
    scheduled_task,
    statistics_of,
    task_time,
    upgrade_task,
    user_event,
)

MAX_TASK_RECORDS = 30  # runs kept per task
RECORD_ORDERS = ("newest_first", "oldest_first")
POOL_STATISTICS = ("per_pool", "missing")  # "missing": POOLED answers without desktop_pool_statistics


class FleetMixin:
    """Fleet state of one fake project (thread-safe with the workspace's lock)."""

    _lock: threading.RLock
    seed: int
    project_id: str
    now: Callable[[], float]

    _desktops: list[JsonDict]
    _records: list[JsonDict]  # the connection records (ConnectionMixin)

    def _rows(self) -> list[JsonDict]:
        with self._lock:
            return [dict(d) for d in self._desktops]

    def _init_fleet(self) -> None:
        """Called once the first desktops exist: quotas are sized from them."""
        now = self.now()
        n = len(self._rows())
        self.task_records_order = "newest_first"
        self.pool_statistics = "per_pool"
        # Desktops of a dynamic pool bound to a user: a test may set its own rule; without
        # one the fake counts the connected desktops (the office's sessions).
        self.pool_bound: Callable[[str, list[JsonDict]], int] | None = None
        self.pool_used_override: dict[str, int] = {}
        self.quota_limits: dict[str, int] = {
            "general_instances": max(25, math.ceil(n * 1.25)),
            "cores": 4 * max(25, math.ceil(n * 1.25)),
            "Memory": 8 * max(25, math.ceil(n * 1.25)),
            "volumes": 2 * max(25, math.ceil(n * 1.25)),
            "volume_gigabytes": 200 * max(25, math.ceil(n * 1.25)),
            "users": 3000,
            "gpu_instances": 0,
            "policy_groups": 10,
        }
        self.quota_used_override: dict[str, int] = {}
        self.scheduled_tasks: list[JsonDict] = [
            scheduled_task(self.seed, "nightly-reboot", "REBOOT", "DAY", "Reboot every desktop at 02:00"),
            scheduled_task(
                self.seed, "friday-shutdown", "STOP", "WEEK", "Stop the desktops on Friday evening"
            ),
            scheduled_task(
                self.seed, "post-create-setup", "EXECUTE_SCRIPT", "LIFE_CYCLE", "Set up new desktops"
            ),
        ]
        self.scheduled_tasks[0]["next_execution_time"] = task_time(now + 6 * 3600)
        self.scheduled_tasks[1]["next_execution_time"] = task_time(now + 4 * 86400)
        self.scheduled_tasks[2]["life_cycle_type"] = "POST_CREATE_DESKTOP_SUCCESS"
        self.task_records: dict[str, list[JsonDict]] = {t["id"]: [] for t in self.scheduled_tasks}
        self.run_task(self.scheduled_tasks[0]["id"], now - 18 * 3600)
        self.upgrade_tasks: list[JsonDict] = [upgrade_task(self.seed)]
        self.alarm_records: list[JsonDict] = []
        # A normal day's history: a minor alarm still active (not one the shipped rules alert
        # on), and two informational ones that have cleared.
        for i, level in enumerate((3, 4, 4)):
            self.add_alarm(level, now - 3600 * (i + 2), status="alarm" if i == 0 else "ok")

    # ------------------------------------------------------------------ pools and statistics

    def desktop_pools_view(self) -> list[JsonDict]:
        """``SimpleDesktopPoolInfo`` of every pool, sized from its desktops. The office's
        ``pool_bound`` is called without the workspace lock (it takes the office's own)."""
        rows = self._rows()
        with self._lock:
            bound, overrides = self.pool_bound, dict(self.pool_used_override)
        out = []
        for pool in pool_defs(self.seed):
            members = [d for d in rows if d.get("pool_id") == pool["id"]]
            if pool["type"] == "STATIC":
                used = sum(1 for d in members if d.get("user_name"))
            elif bound is not None:
                used = bound(pool["id"], members)
            else:
                used = sum(1 for d in members if d.get("login_status") == "CONNECTED")
            used = min(len(members), overrides.get(pool["id"], used))
            out.append({**pool, "desktop_count": len(members), "desktop_used": used})
        return out

    def statistics(self, desktop_types: set[str], kinds: list[str]) -> JsonDict:
        """``/statistics`` of the desktops of ``desktop_types`` (DEDICATED, POOLED; none: all);
        POOLED alone adds each pool's own (``desktop_pool_statistics``)."""
        rows = self._rows()
        pools = self.desktop_pools_view()
        if len(desktop_types) == 1:
            rows_of = [d for d in rows if d.get("desktop_type") in desktop_types]
        else:
            rows_of = rows
        body = only(statistics_of(rows_of), kinds)
        if desktop_types == {"POOLED"} and self.pool_statistics == "per_pool":
            body["desktop_pool_statistics"] = [
                {
                    "desktop_pool_id": p["id"],
                    "desktop_pool_name": p["name"],
                    **only(statistics_of([d for d in rows if d.get("pool_id") == p["id"]]), kinds),
                }
                for p in pools
            ]
        return body

    # ------------------------------------------------------------------ quotas

    def quotas_view(self) -> JsonDict:
        with self._lock:
            rows = self._rows()
            used = {
                "general_instances": len(rows),
                "cores": sum(int(d.get("product", {}).get("cpu", 0)) for d in rows),
                "Memory": sum(int(d.get("product", {}).get("memory", 0)) for d in rows),
                "volumes": len(rows),
                "volume_gigabytes": sum(int(d.get("root_volume", {}).get("size", 0)) for d in rows),
                "users": len({d.get("user_name") for d in rows}),
                "gpu_instances": 0,
                "policy_groups": 3,
            }
            used.update(self.quota_used_override)
            resources = []
            for name, limit in self.quota_limits.items():
                item: JsonDict = {"type": name, "quota": limit, "used": used.get(name, 0)}
                if name in ("Memory", "volume_gigabytes"):
                    item["unit"] = "GB"
                resources.append(item)
        site = {"site_id": SITE_ID, "resources": [{"type": "ies_instances", "quota": 50, "used": 0}]}
        return {"quotas": {"resources": resources}, "site_quotas": [site]}

    # ------------------------------------------------------------------ scheduled tasks

    def run_task(self, task_id: str, at: float, failed: int = 0) -> JsonDict:
        """A run of task ``task_id`` at ``at``: running desktops succeed (but ``failed`` of
        them), stopped ones are skipped."""
        with self._lock:
            rows = self._rows()
            task = next(t for t in self.scheduled_tasks if t["id"] == task_id)
            running = sum(1 for d in rows if d.get("status") == "ACTIVE")
            failed = min(failed, running)
            status = "FAIL" if failed else "SUCCESS"
            records = self.task_records.setdefault(task_id, [])
            record = {
                "id": det_hex(16, self.seed, "run", task_id, len(records), math.floor(at)),
                "start_time": task_time(at),
                "task_type": task["task_type"],
                "scheduled_type": task["scheduled_type"],
                "status": status,
                "success_num": running - failed,
                "failed_num": failed,
                "skip_num": len(rows) - running,
                "time_zone": TASK_ZONE,
            }
            records.insert(0, record)
            del records[MAX_TASK_RECORDS:]
            task["last_status"] = status
            period = {"DAY": 86400, "WEEK": 7 * 86400, "MONTH": 30 * 86400}.get(task["scheduled_type"])
            if period:
                task["next_execution_time"] = task_time(at + period)
            return dict(record)

    def tasks_view(self, scheduled_type: str | None) -> list[JsonDict]:
        """The tasks as listed: triggered (LIFE_CYCLE) ones only when asked for."""
        with self._lock:
            if scheduled_type is None:
                return [dict(t) for t in self.scheduled_tasks if t["scheduled_type"] != "LIFE_CYCLE"]
            return [dict(t) for t in self.scheduled_tasks if t["scheduled_type"] == scheduled_type]

    def records_view(self, task_id: str) -> list[JsonDict] | None:
        """A task's records in :attr:`task_records_order`, None for an unknown task."""
        with self._lock:
            records = self.task_records.get(task_id)
            if records is None:
                return None
            out = [dict(r) for r in records]
        return out if self.task_records_order == "newest_first" else out[::-1]

    def set_task(self, name: str, **fields: Any) -> None:
        with self._lock:
            next(t for t in self.scheduled_tasks if t["task_name"] == name).update(fields)

    # ------------------------------------------------------------------ agents

    def set_upgrade_status(self, name: str, status: str) -> None:
        with self._lock:
            next(t for t in self.upgrade_tasks if t["task_name"] == name)["last_execute_status"] = status

    def version_statistics(self) -> list[JsonDict]:
        counts: Counter[tuple[str, str]] = Counter()
        for d in self._rows():
            os_type = str(d.get("metadata", {}).get("os_type", ""))
            counts[(str(d.get("agent_version", "")), os_type)] += 1
        return [{"version": v, "os_type": o, "desktop_count": n} for (v, o), n in sorted(counts.items())]

    def agents_condition(self) -> list[JsonDict]:
        """Per desktop, the monitoring plug-in: installed on desktops with the current agent."""
        return [agent_condition(d) for d in self._rows()]

    # ------------------------------------------------------------------ alarms

    def add_alarm(self, level: int, at: float, *, status: str = "alarm", desktop: str = "") -> JsonDict:
        """An alarm record of the Workspace desktop-status rule of ``level``."""
        with self._lock:
            record = alarm_record(self.seed, len(self.alarm_records), level, at, status, desktop)
            self.alarm_records.insert(0, record)
            return dict(record)

    def set_alarm_status(self, record_id: str, status: str) -> None:
        with self._lock:
            next(r for r in self.alarm_records if r["record_id"] == record_id)["status"] = status

    def alarm_statistics(self) -> JsonDict:
        with self._lock:
            levels = Counter(int(r["level"]) for r in self.alarm_records)
        names = ("critical_count", "major_count", "minor_count", "info_count")
        out = {name: levels.get(i + 1, 0) for i, name in enumerate(names)}
        return {**out, "total": sum(out.values())}

    # ------------------------------------------------------------------ user events

    def user_events_in(self, start: float, end: float) -> list[JsonDict]:
        """The connection records started in [start, end] as ``LOGIN`` user events, oldest first."""
        with self._lock:
            timed = [(parse_iso(r.get("connection_start_time")), dict(r)) for r in self._records]
        records = sorted(
            ((t, r) for t, r in timed if t is not None and start <= t <= end), key=lambda x: x[0]
        )
        return [user_event(self.project_id, r, at) for at, r in records]
