"""One contract case per upstream API in :data:`exporter.apis.APIS`.

``SDK_CASES`` maps each API name to the official SDK operation that refers it: the SDK
client, its method, and its request and response model classes. The legacy v1.0
login-records API is the one API the SDK does not model (see ``NOT_IN_SDK``).

``OUR_CALLS`` makes each call the way the exporter makes it: through
:class:`~exporter.upstream.client.WorkspaceClient`, with the parameters and time formats
its sources and CLI use (the same helpers from :mod:`exporter.timeutil`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huaweicloudsdkces.v1 import (
    BatchListMetricDataRequest,
    BatchListMetricDataResponse,
    ListMetricsRequest,
    ListMetricsResponse,
)
from huaweicloudsdkces.v2 import BatchListSpecifiedMetricDataRequest, BatchListSpecifiedMetricDataResponse
from huaweicloudsdkiam.v3 import (
    KeystoneCreateUserTokenByPasswordRequest,
    KeystoneCreateUserTokenByPasswordResponse,
    KeystoneListProjectsRequest,
    KeystoneListProjectsResponse,
)
from huaweicloudsdkworkspace.v2 import (
    DownloadExportFileRequest,
    DownloadExportFileResponse,
    ExportUserConnectionNewRequest,
    ExportUserConnectionNewResponse,
    ExportUserLoginInfoNewRequest,
    ExportUserLoginInfoNewResponse,
    ListAgentsInstallConditionRequest,
    ListAgentsInstallConditionResponse,
    ListAlarmsRequest,
    ListAlarmsResponse,
    ListAlarmStatisticsRequest,
    ListAlarmStatisticsResponse,
    ListDesktopOperationsRequest,
    ListDesktopOperationsResponse,
    ListDesktopPoolsRequest,
    ListDesktopPoolsResponse,
    ListDesktopsDetailRequest,
    ListDesktopsDetailResponse,
    ListDesktopsRequest,
    ListDesktopsResponse,
    ListDesktopsStatisticsRequest,
    ListDesktopsStatisticsResponse,
    ListDesktopStatisticsByVersionRequest,
    ListDesktopStatisticsByVersionResponse,
    ListExportTasksRequest,
    ListExportTasksResponse,
    ListLoginRecordsNewRequest,
    ListLoginRecordsNewResponse,
    ListScheduledTasksRecordsRequest,
    ListScheduledTasksRecordsResponse,
    ListScheduledTasksRequest,
    ListScheduledTasksResponse,
    ListScreenRecordsRequest,
    ListScreenRecordsResponse,
    ListUpgradeTasksRequest,
    ListUpgradeTasksResponse,
    ListUserEventsRequest,
    ListUserEventsResponse,
    ShowDesktopDetailRequest,
    ShowDesktopDetailResponse,
    ShowDesktopMonitorDataRequest,
    ShowDesktopMonitorDataResponse,
    ShowQuotasRequest,
    ShowQuotasResponse,
)

from exporter.cli.export_connections import ExportOptions
from exporter.constraints import page_limit
from exporter.sources.cloudeye import WINDOW_MS
from exporter.sources.pools import STATISTICS_TYPES
from exporter.sources.tasks import RECORDS_PAGE
from exporter.timeutil import fmt_seconds, fmt_space
from exporter.upstream.client import WorkspaceClient
from tests.desktops import list_desktops

# Time formats the API reference and the SDK docstrings give for each query parameter.
SECONDS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"  # 2021-05-11T11:45:42Z
MINUTES = r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$"  # 2016-08-20T21:11Z
SPACED = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"  # yyyy-MM-dd HH:mm:ss


@dataclass(frozen=True)
class SdkCase:
    service: str  # "workspace" | "ces_v1" | "ces_v2" | "iam"
    operation: str  # the SDK client's method
    request: type
    response: type
    time_formats: tuple[tuple[str, str], ...] = ()  # (query name, regex) the doc gives
    # Identity headers the two sides legitimately differ in (see the test that uses it).
    ignore_headers: frozenset[str] = frozenset()


SDK_CASES: dict[str, SdkCase] = {
    "iam_tokens": SdkCase(
        "iam",
        "keystone_create_user_token_by_password",
        KeystoneCreateUserTokenByPasswordRequest,
        KeystoneCreateUserTokenByPasswordResponse,
    ),
    # Our client lists projects by region name before it knows a project id (the SDK's
    # own project discovery does the same); the SDK operation is domain-scoped instead.
    "iam_projects": SdkCase(
        "iam",
        "keystone_list_projects",
        KeystoneListProjectsRequest,
        KeystoneListProjectsResponse,
        ignore_headers=frozenset({"x-domain-id"}),
    ),
    "desktops_detail": SdkCase(
        "workspace", "list_desktops_detail", ListDesktopsDetailRequest, ListDesktopsDetailResponse
    ),
    "desktops_list": SdkCase("workspace", "list_desktops", ListDesktopsRequest, ListDesktopsResponse),
    "desktop_detail": SdkCase(
        "workspace", "show_desktop_detail", ShowDesktopDetailRequest, ShowDesktopDetailResponse
    ),
    "desktop_monitor": SdkCase(
        "workspace",
        "show_desktop_monitor_data",
        ShowDesktopMonitorDataRequest,
        ShowDesktopMonitorDataResponse,
        (("start_time", SECONDS), ("end_time", SECONDS)),
    ),
    "connections": SdkCase(
        "workspace",
        "list_login_records_new",
        ListLoginRecordsNewRequest,
        ListLoginRecordsNewResponse,
        (("start_time", MINUTES), ("end_time", MINUTES)),
    ),
    "connections_export": SdkCase(
        "workspace",
        "export_user_login_info_new",
        ExportUserLoginInfoNewRequest,
        ExportUserLoginInfoNewResponse,
        (("start_time", MINUTES), ("end_time", MINUTES)),
    ),
    "connections_export_v3": SdkCase(
        "workspace",
        "export_user_connection_new",
        ExportUserConnectionNewRequest,
        ExportUserConnectionNewResponse,
        (("start_time", SECONDS), ("end_time", SECONDS)),
    ),
    "export_tasks": SdkCase(
        "workspace", "list_export_tasks", ListExportTasksRequest, ListExportTasksResponse
    ),
    "export_download": SdkCase(
        "workspace", "download_export_file", DownloadExportFileRequest, DownloadExportFileResponse
    ),
    "screen_records": SdkCase(
        "workspace",
        "list_screen_records",
        ListScreenRecordsRequest,
        ListScreenRecordsResponse,
        (("start_time", SPACED), ("end_time", SPACED)),
    ),
    "os_operations": SdkCase(
        "workspace", "list_desktop_operations", ListDesktopOperationsRequest, ListDesktopOperationsResponse
    ),
    "desktop_pools": SdkCase(
        "workspace", "list_desktop_pools", ListDesktopPoolsRequest, ListDesktopPoolsResponse
    ),
    "desktops_statistics": SdkCase(
        "workspace", "list_desktops_statistics", ListDesktopsStatisticsRequest, ListDesktopsStatisticsResponse
    ),
    "quotas": SdkCase("workspace", "show_quotas", ShowQuotasRequest, ShowQuotasResponse),
    "scheduled_tasks": SdkCase(
        "workspace", "list_scheduled_tasks", ListScheduledTasksRequest, ListScheduledTasksResponse
    ),
    "scheduled_task_records": SdkCase(
        "workspace",
        "list_scheduled_tasks_records",
        ListScheduledTasksRecordsRequest,
        ListScheduledTasksRecordsResponse,
    ),
    "upgrade_tasks": SdkCase(
        "workspace", "list_upgrade_tasks", ListUpgradeTasksRequest, ListUpgradeTasksResponse
    ),
    "desktop_version_statistics": SdkCase(
        "workspace",
        "list_desktop_statistics_by_version",
        ListDesktopStatisticsByVersionRequest,
        ListDesktopStatisticsByVersionResponse,
    ),
    "agents_install": SdkCase(
        "workspace",
        "list_agents_install_condition",
        ListAgentsInstallConditionRequest,
        ListAgentsInstallConditionResponse,
    ),
    "alarms": SdkCase("workspace", "list_alarms", ListAlarmsRequest, ListAlarmsResponse),
    "alarm_statistics": SdkCase(
        "workspace", "list_alarm_statistics", ListAlarmStatisticsRequest, ListAlarmStatisticsResponse
    ),
    "user_events": SdkCase(
        "workspace",
        "list_user_events",
        ListUserEventsRequest,
        ListUserEventsResponse,
        (("start_time", SECONDS), ("end_time", SECONDS)),
    ),
    "ces_metrics": SdkCase("ces_v1", "list_metrics", ListMetricsRequest, ListMetricsResponse),
    "ces_batch_v1": SdkCase(
        "ces_v1", "batch_list_metric_data", BatchListMetricDataRequest, BatchListMetricDataResponse
    ),
    "ces_batch_v2": SdkCase(
        "ces_v2",
        "batch_list_specified_metric_data",
        BatchListSpecifiedMetricDataRequest,
        BatchListSpecifiedMetricDataResponse,
    ),
}

#: APIs the SDK 3.1.219 does not model, with the reason; each has a hand-written schema test.
NOT_IN_SDK: dict[str, str] = {
    "login_records": (
        "GET /v1.0/{project_id}/desktop-users/login-records is not in huaweicloudsdkworkspace 3.1.219 "
        "(no operation uses a /v1.0/ path); its shape is held to the seed document instead"
    ),
}


@dataclass
class Ctx:
    """What our calls need from the fake: ids that exist and the current time."""

    now: float
    desktop_id: str
    record_id: str
    task_id: str
    scheduled_task_id: str = ""


OurCall = Callable[[WorkspaceClient, Ctx], Any]


def _export_options(ctx: Ctx, asynchronous: bool) -> ExportOptions:
    return ExportOptions(
        output=Path("unused.xlsx"),
        start=ctx.now - 3600,
        end=ctx.now,
        user_name="user0001",
        computer_name="ws-0001",
        terminal_type="WI",
        language="en_US",
        asynchronous=asynchronous,
        timeout=10.0,
        poll_interval=0.1,
    )


def _connections(api: str) -> OurCall:
    from exporter.timeutil import fmt_minutes

    def call(c: WorkspaceClient, ctx: Ctx) -> Any:
        params = {"start_time": fmt_minutes(ctx.now - 3600), "end_time": fmt_minutes(ctx.now)}
        return list(c.paginate(api, "records", params))

    return call


def _ces_v1(c: WorkspaceClient, ctx: Ctx) -> Any:
    to_ms = math.floor(ctx.now * 1000)
    dims = [{"name": "instance_id", "value": ctx.desktop_id}]
    metrics = [{"namespace": "SYS.Workspace", "metric_name": "cpu_util", "dimensions": dims}]
    return c.ces_batch_series(metrics, 300, to_ms - 600_000, to_ms)  # as the v1 path asks


#: Our client's call of each API, as the exporter makes it.
OUR_CALLS: dict[str, OurCall] = {
    # iam_tokens: made by the token provider before the first call of a token-auth client.
    "iam_tokens": lambda c, ctx: list_desktops(c),
    # iam_projects: made when no project_id is configured.
    "iam_projects": lambda c, ctx: c.ensure_project_id(),
    "desktops_detail": lambda c, ctx: list_desktops(c),
    # No source calls it yet: the one list that carries pool_id, paged by the client's helper.
    "desktops_list": lambda c, ctx: list(c.paginate("desktops_list", "desktops")),
    # The inventory's lookup of a desktop a listing missed.
    "desktop_detail": lambda c, ctx: c.desktop_detail(ctx.desktop_id),
    "desktop_monitor": lambda c, ctx: c.desktop_monitor(
        ctx.desktop_id, fmt_seconds(ctx.now - 3600), fmt_seconds(ctx.now)
    ),
    "connections": _connections("connections"),
    "login_records": _connections("login_records"),
    "connections_export": lambda c, ctx: c.request_raw(
        "connections_export", params=_export_options(ctx, False).params()
    ),
    "connections_export_v3": lambda c, ctx: c.request(
        "connections_export_v3", params=_export_options(ctx, True).params()
    ),
    "export_tasks": lambda c, ctx: c.request("export_tasks", params={"task_id": ctx.task_id, "limit": 10}),
    "export_download": lambda c, ctx: c.request_raw("export_download", {"task_id": ctx.task_id}),
    "screen_records": lambda c, ctx: c.request(
        "screen_records",
        None,
        {
            "start_time": fmt_space(ctx.now - 86400),
            "end_time": fmt_space(ctx.now),
            "sort_field": "start_time",
            "sort_type": "desc",
            "offset": 0,
            "limit": page_limit("screen_records"),
        },
    ),
    "os_operations": lambda c, ctx: c.request(
        "os_operations", {"record_id": ctx.record_id}, {"offset": 0, "limit": page_limit("os_operations")}
    ),
    # The fleet sources' calls (exporter/sources/pools.py, quotas.py, tasks.py, agents.py,
    # alarms.py, user_events.py): listings paged by the client, statistics with repeated keys.
    "desktop_pools": lambda c, ctx: list(c.paginate("desktop_pools", "desktop_pools")),
    "desktops_statistics": lambda c, ctx: c.request(
        "desktops_statistics", None, {"desktop_type": ["POOLED"], "statistics_type": STATISTICS_TYPES}
    ),
    "quotas": lambda c, ctx: c.request("quotas"),
    "scheduled_tasks": lambda c, ctx: list(c.paginate("scheduled_tasks", "scheduled_tasks")),
    "scheduled_task_records": lambda c, ctx: c.request(
        "scheduled_task_records", {"task_id": ctx.scheduled_task_id}, {"offset": 0, "limit": RECORDS_PAGE}
    ),
    "upgrade_tasks": lambda c, ctx: list(c.paginate("upgrade_tasks", "tasks", total_key="total")),
    "desktop_version_statistics": lambda c, ctx: c.request("desktop_version_statistics"),
    "agents_install": lambda c, ctx: list(c.paginate("agents_install", "agents_condition")),
    "alarms": lambda c, ctx: list(c.paginate("alarms", "alarm_histories", {"level": 1}, total_key="count")),
    "alarm_statistics": lambda c, ctx: c.request("alarm_statistics"),
    "user_events": lambda c, ctx: list(
        c.paginate(
            "user_events",
            "items",
            {"start_time": fmt_seconds(ctx.now - 3600), "end_time": fmt_seconds(ctx.now)},
            total_key="count",
        )
    ),
    "ces_metrics": lambda c, ctx: c.ces_list_metrics("SYS.Workspace", max_pages=1),
    "ces_batch_v1": _ces_v1,
    "ces_batch_v2": lambda c, ctx: c.ces_batch_latest(
        "SYS.Workspace",
        "cpu_util",
        "instance_id",
        math.floor(ctx.now * 1000) - WINDOW_MS,
        math.floor(ctx.now * 1000),
    ),
}
