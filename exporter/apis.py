"""The upstream APIs the exporter calls: one :class:`ApiSpec` per operation.

This table is the single place that names an API. The client uses it for paths and
page sizes (each API's largest ``limit`` comes from the constraint table,
:mod:`exporter.constraints`), the budget for default rates, the config for validating
``budget.per_api`` keys, and the self-metrics for the bounded ``api`` label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from exporter.constraints import page_limit

Service = Literal["workspace", "iam", "ces"]


@dataclass(frozen=True)
class ApiSpec:
    name: str
    method: str
    path: str  # with {project_id} and other {placeholders}
    service: Service = "workspace"
    per_minute: float = 100.0  # default request budget (documented in README)
    # False for a call with a side effect (it creates something): never retried, since a
    # retry after a lost answer would repeat the side effect.
    idempotent: bool = True
    # Largest `limit` the API accepts (0: not paged by `limit`), from the constraint table.
    page_limit: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "page_limit", page_limit(self.name))


def _specs(*specs: ApiSpec) -> dict[str, ApiSpec]:
    return {s.name: s for s in specs}


APIS: dict[str, ApiSpec] = _specs(
    ApiSpec("iam_tokens", "POST", "/v3/auth/tokens", service="iam", per_minute=10),
    ApiSpec("iam_projects", "GET", "/v3/projects", service="iam", per_minute=10),
    ApiSpec("desktops_detail", "GET", "/v2/{project_id}/desktops/detail", per_minute=60),
    ApiSpec("desktops_list", "GET", "/v2/{project_id}/desktops", per_minute=60),
    # One desktop by id: confirms that a desktop a listing missed is gone (show_desktop_detail).
    ApiSpec("desktop_detail", "GET", "/v2/{project_id}/desktops/{desktop_id}", per_minute=60),
    ApiSpec("desktop_monitor", "GET", "/v2/{project_id}/desktop-monitor/{desktop_id}", per_minute=100),
    ApiSpec("connections", "GET", "/v2/{project_id}/connections/desktops", per_minute=60),
    ApiSpec(
        "login_records",
        "GET",
        "/v1.0/{project_id}/desktop-users/login-records",
        per_minute=60,
    ),
    ApiSpec("connections_export", "GET", "/v2/{project_id}/connections/desktops/export", per_minute=10),
    ApiSpec(
        "connections_export_v3",
        "GET",
        "/v3/{project_id}/desktops/connections/export",
        per_minute=10,
        idempotent=False,  # creates an export task
    ),
    ApiSpec("export_tasks", "GET", "/v2/{project_id}/export-tasks", per_minute=60),
    ApiSpec("export_download", "GET", "/v2/{project_id}/export-tasks/{task_id}/download", per_minute=10),
    ApiSpec("screen_records", "GET", "/v2/{project_id}/screen-records", per_minute=60),
    ApiSpec(
        "os_operations",
        "GET",
        "/v2/{project_id}/screen-records/{record_id}/os-operations",
        per_minute=100,
    ),
    # Fleet capacity and health (the pools, quotas, tasks, agents, alarms and user_events sources).
    ApiSpec("desktop_pools", "GET", "/v2/{project_id}/desktop-pools", per_minute=30),
    ApiSpec("desktops_statistics", "GET", "/v2/{project_id}/statistics", per_minute=30),
    ApiSpec("quotas", "GET", "/v2/{project_id}/quotas", per_minute=10),
    ApiSpec("scheduled_tasks", "GET", "/v2/{project_id}/scheduled-tasks", per_minute=30),
    ApiSpec(
        "scheduled_task_records", "GET", "/v2/{project_id}/scheduled-tasks/{task_id}/records", per_minute=60
    ),
    ApiSpec("upgrade_tasks", "GET", "/v2/{project_id}/upgrade-tasks", per_minute=10),
    ApiSpec(
        "desktop_version_statistics", "GET", "/v2/{project_id}/desktops/statistics/by-version", per_minute=10
    ),
    # Only ever GET: a POST on the same path installs monitoring plug-ins (batch_install_agent).
    ApiSpec("agents_install", "GET", "/v2/{project_id}/desktops/agents", per_minute=60),
    ApiSpec("alarms", "GET", "/v2/{project_id}/alarms", per_minute=30),
    ApiSpec("alarm_statistics", "GET", "/v2/{project_id}/statistics/alarms", per_minute=10),
    ApiSpec("user_events", "GET", "/v2/{project_id}/user-events", per_minute=60),
    ApiSpec("ces_metrics", "GET", "/V1.0/{project_id}/metrics", service="ces", per_minute=60),
    ApiSpec(
        "ces_batch_v1", "POST", "/V1.0/{project_id}/batch-query-metric-data", service="ces", per_minute=100
    ),
    ApiSpec(
        "ces_batch_v2",
        "POST",
        "/v2/{project_id}/batch-query-metric-data",
        service="ces",
        per_minute=100,
    ),
)

#: The IAM actions a caller needs for each API, per the Huawei Cloud API reference: the
#: API's own action first, then the actions it depends on (desktop-monitor reads Cloud Eye).
#: Empty where the reference names none. ``check-config --online`` prints them for a 403.
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "iam_tokens": (),
    "iam_projects": ("iam:projects:listProjects",),
    "desktops_detail": ("workspace:desktops:listDetail",),
    "desktops_list": ("workspace:desktops:list",),
    "desktop_detail": (),  # the reference excerpts checked name no action for it
    "desktop_monitor": ("workspace:desktops:getMonitor", "ces:metricData:get"),
    "connections": ("workspace:connections:securityList",),
    "login_records": (),
    "connections_export": ("workspace:connections:securityExport",),
    "connections_export_v3": (),
    "export_tasks": ("workspace:tenants:listExportTasks",),
    "export_download": ("workspace:tenants:exportData",),
    "screen_records": (),
    "os_operations": (),
    "desktop_pools": ("workspace:desktopPools:list", "ims:images:list", "workspace:sites:get"),
    "desktops_statistics": ("workspace:statistics:listDesktopStatus",),
    "quotas": ("workspace:quotas:get",),
    "scheduled_tasks": ("workspace:scheduledTasks:list",),
    "scheduled_task_records": ("workspace:scheduledTasks:listRecords",),
    "upgrade_tasks": ("workspace:upgradeTask:list",),
    "desktop_version_statistics": ("workspace:desktops:listVersionStatistics",),
    "agents_install": (),  # the reference page has no authorization section
    "alarms": ("workspace:statistics:listAlarm", "ces:alarmHistory:list"),
    "alarm_statistics": ("workspace:statistics:getAlarm", "ces:alarmHistory:list"),
    "user_events": ("workspace:userEvents:list",),
    "ces_metrics": ("ces:metrics:list",),
    "ces_batch_v1": ("ces:metricData:list",),
    "ces_batch_v2": ("ces:metricData:list",),
}
