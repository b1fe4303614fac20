"""Deterministic fleet records for the fake, in the SDK models' shapes: pools, statistics,
scheduled and upgrade tasks, alarm records, agent conditions and user events.

Pure functions of their arguments (a seed, a desktop, a time), like :mod:`exporter.fake.data`;
:class:`exporter.fake.fleet.FleetMixin` keeps the state they are built from.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from exporter.fake.data import (
    AGENT_VERSION,
    DYNAMIC_POOL,
    STATIC_POOL,
    JsonDict,
    det_hex,
    det_uuid,
    iso_seconds,
    pool_id,
)

TASK_ZONE = "Asia/Shanghai"  # the zone the office's tasks are scheduled in
TASK_TIME = "%Y-%m-%d %H:%M:%S"
SITE_ID = "147258369"
PLUGIN = "ces-agent"  # the monitoring plug-in's name is not documented: a placeholder
_ATTACH = {"ATTACHED": "attached_num", "UNATTACHED": "unattached_num", "ATTACHING": "attaching_num"}
_RUN = {"ACTIVE": "active_num", "SHUTOFF": "stop_num", "ERROR": "error_num", "HIBERNATED": "hibernated_num"}
_LOGIN = {
    "CONNECTED": "in_use_num",
    "UNREGISTER": "unregistered_num",
    "REGISTERED": "ready_num",
    "DISCONNECTED": "disconnected_num",
}
_KINDS = {
    "attach-state": "attach_statistics",
    "login-state": "login_state_statistics",
    "run-state": "run_state_statistics",
}


def task_time(t: float, zone: str = TASK_ZONE) -> str:
    """``yyyy-MM-dd HH:mm:ss`` of ``t`` in ``zone`` (how the task APIs write times)."""
    return datetime.fromtimestamp(math.floor(t), tz=ZoneInfo(zone)).strftime(TASK_TIME)


def statistics_of(desktops: list[JsonDict]) -> JsonDict:
    """``/statistics`` counts of ``desktops`` by attach, run and login state."""
    attach = dict.fromkeys(("attached_num", "unattached_num", "attaching_num", "attach_error_num"), 0)
    run = dict.fromkeys(_RUN.values(), 0)
    login = dict.fromkeys(("in_use_num", "unregistered_num", "unable_to_connect_num", "ready_num"), 0)
    login["disconnected_num"] = 0
    for d in desktops:
        attach[_ATTACH.get(str(d.get("attach_state")), "attach_error_num")] += 1
        run[_RUN.get(str(d.get("status")), "error_num")] += 1
        login[_LOGIN.get(str(d.get("login_status")), "unable_to_connect_num")] += 1
    return {
        "total_num": len(desktops),
        "attach_statistics": attach,
        "run_state_statistics": run,
        "login_state_statistics": login,
    }


def only(stats: JsonDict, kinds: list[str]) -> JsonDict:
    """``stats`` with only the ``statistics_type`` objects asked for (none: the total alone)."""
    return {"total_num": stats["total_num"], **{_KINDS[k]: stats[_KINDS[k]] for k in kinds if k in _KINDS}}


def pool_defs(seed: int) -> list[JsonDict]:
    """The office's pools, without their sizes (the desktops give those)."""
    common = {"created_time": "2026-01-05T08:00:00.000Z", "availability_zone": "ap-southeast-1a"}
    dynamic = {
        "id": pool_id(seed, DYNAMIC_POOL),
        "name": DYNAMIC_POOL,
        "type": "DYNAMIC",
        "description": "Hot desks for the sales floor",
        "charging_mode": "1",
        "disconnected_retention_period": 30,
        "enable_autoscale": False,
        "status": "STEADY",
        "in_maintenance_mode": False,
        "enterprise_project_id": "0",
        "tags": [{"key": "team", "value": "sales"}],
        **common,
    }
    static = {
        "id": pool_id(seed, STATIC_POOL),
        "name": STATIC_POOL,
        "type": "STATIC",
        "charging_mode": "0",
        "enable_autoscale": True,
        "autoscale_policy": {
            "autoscale_type": "AUTO_CREATED",
            "max_auto_created": 6,
            "min_idle": 1,
            "min_retention": 2,
            "idle_retention_duration": 60,
        },
        "status": "STEADY",
        "in_maintenance_mode": False,
        **common,
    }
    return [dynamic, static]


def scheduled_task(seed: int, name: str, task_type: str, scheduled: str, description: str) -> JsonDict:
    return {
        "id": det_uuid(seed, "scheduled-task", name),
        "task_name": name,
        "task_type": task_type,
        "scheduled_type": scheduled,
        "enable": True,
        "description": description,
        "priority": 1,
        "time_zone": TASK_ZONE,
        "wait_time": 0,
        "extra_params": "{}",
    }


def upgrade_task(seed: int) -> JsonDict:
    """The agent rollout that brought most desktops to :data:`AGENT_VERSION`."""
    return {
        "id": det_uuid(seed, "upgrade", 1),
        "task_name": "hda-24.6-rollout",
        "task_type": 0,
        "scheduled_type": "FIXED_TIME",
        "timezone": TASK_ZONE,
        "last_execute_status": "SUCCESS",
        "next_execute_time": "",
        "is_enable": 1,
        "target_version": AGENT_VERSION,
        "execute_strategy": 1,
        "description": "Grey rollout of HDA 24.6",
    }


def alarm_record(seed: int, n: int, level: int, at: float, status: str, desktop: str) -> JsonDict:
    """Alarm record number ``n`` of the Workspace desktop-status rule of ``level``."""
    return {
        "record_id": det_hex(16, seed, "alarm", n, math.floor(at)),
        "alarm_id": f"al{det_hex(13, seed, 'rule', level)}",
        "name": f"workspace-desktop-status-level{level}",
        "status": status,
        "type": "EVENT.SYS",
        "level": level,
        "begin_time": iso_seconds(at),
        "metric": {
            "namespace": "SYS.Workspace",
            "metric_name": "desktopStatusAbnormal",
            "dimensions": [{"name": "instance_id", "value": desktop or "none"}],
        },
        "condition": {
            "period": 0,
            "filter": "average",
            "comparison_operator": ">=",
            "value": 1.0,
            "unit": "count",
            "count": 1,
            "suppress_duration": 0,
        },
        "additional_info": {"resource_id": desktop, "resource_name": "", "event_id": ""},
        "data_points": [{"time": iso_seconds(at), "value": 1.0}],
    }


def agent_condition(d: JsonDict) -> JsonDict:
    """A desktop's monitoring plug-in: installed on desktops with the current agent."""
    installed = d.get("agent_version") == AGENT_VERSION
    plugin = {"agent_name": PLUGIN, "agent_version": "2.7.2" if installed else "", "is_installed": installed}
    return {
        "desktop_id": d["desktop_id"],
        "desktop_name": d.get("computer_name", ""),
        "desktop_pool_id": d.get("pool_id", ""),
        "status": d.get("status", ""),
        "task_status": "",
        "ip_address": d.get("ipv4", ""),
        "enterprise_project_id": "0",
        "process": None,
        "agent_info": [plugin],
    }


def user_event(project_id: str, record: JsonDict, at: float) -> JsonDict:
    """A connection record (started at ``at``) as a ``LOGIN`` user event."""
    reason = str(record.get("connection_failure_reason") or "")
    code, _, message = reason.partition(":")
    return {
        "project_id": project_id,
        "username": record.get("user_name", ""),
        "workspace_id": "ws-0001",
        "event_trace_id": record["transaction_id"],
        "event_type": "LOGIN",
        "event_time": iso_seconds(at),
        "resource_type": "DESKTOP",
        "resource_id": record.get("desktop_id", ""),
        "resource_name": record.get("computer_name", ""),
        "client_type": str(record.get("terminal_type", "")),
        "client_ip": str(record.get("terminal_ip", "")),
        "client_mac": str(record.get("terminal_mac", "")),
        "client_version": str(record.get("client_version", "")),
        "source_ip": str(record.get("public_ip", "")),
        "is_success": not reason,
        "error_code": code.strip() if reason else "",
        "error_msg": message.strip() if reason else "",
        "action_type": "USER",
    }
