"""The constraint table's rows for the Workspace APIs the exporter calls.

Each row cites every source that states the constraint, with what it says; where they
disagree the row takes the strictest and ``choice`` says so (see docs/api-constraints.md).
"""

from __future__ import annotations

from exporter.constraints.kinds import Count, Format, IntRange, OneOf, Required, Together
from exporter.constraints.rules import MINUTE, SECOND, SPACED, Cite, Rule, TimeFormat
from exporter.constraints.windows import Recent, Span


def sdk(where: str, says: str) -> Cite:
    return Cite("sdk", f"huaweicloudsdkworkspace {where}", says)


def zh(page: str, says: str) -> Cite:
    return Cite("ref-zh", f"api-workspace/{page}.html", says)


def en(page: str, says: str) -> Cite:
    return Cite("ref-en", f"intl/en-us/api-workspace/{page}.html", says)


def shared(section: str, says: str) -> Cite:
    return Cite("shared", f"workspace-api.md {section}", says)


EXPORT_V3_MAX_AGE = 30 * 86400.0  # the v3 export covers the last 30 days

NOT_DOCUMENTED = (Cite("none", "-", "no source says whether the end may precede the start"),)
ORDER_CHOICE = (
    "Not documented: an end before the start is refused, as a real API plausibly would; "
    "the exporter never sends one."
)
STRICTEST = "Sources disagree: the strictest range is enforced and the exporter pages within it."

MONITOR_METRICS = (
    *("cpu_util", "mem_util", "disk_util_inband", "disk_read_bytes_rate", "disk_write_bytes_rate"),
    *("disk_read_requests_rate", "disk_write_requests_rate"),
    *("network_incoming_bytes_rate_inband", "network_outgoing_bytes_rate_inband"),
    *("network_incoming_bytes_aggregate_rate", "network_outgoing_bytes_aggregate_rate"),
    *("network_vm_connections", "cpu_credit_usage", "cpu_credit_balance"),
    *("cpu_surplus_credit_balance", "cpu_surplus_credit_charged", "user_online_info"),
)
EVENT_IDS = (
    *("APP_START", "APP_STOP", "APP_CRASH", "APP_HANG", "APP_INSTALL", "APP_UNINSTALL"),
    *("FILE_CREATE", "FILE_DELETE", "FILE_RENAME"),
    *("HDP_FILE", "HDP_USB", "HDP_CLIPBOARD", "HDP_INPUTIDLE", "HDP_PRINT"),
)


def _offset(api: str, model: str) -> IntRange:
    return IntRange(
        api=api, name="offset", param="offset", lo=0, default=0, cites=(sdk(f"{model}.offset", "from 0"),)
    )


def _order(api: str, fmt: TimeFormat = MINUTE) -> Span:
    return Span(
        api=api,
        name="order",
        start="start_time",
        end="end_time",
        fmt=fmt,
        cites=NOT_DOCUMENTED,
        choice=ORDER_CHOICE,
    )


def _records(api: str, model: str, page: str) -> list[Rule]:
    """The rows the v2 connection list and its v2 export share (minute windows in pairs)."""
    fmt = "like 2016-08-20T21:11Z"
    pair = "if one of start_time and end_time is given, the other is required"
    return [
        Format(
            api=api,
            name="time_format",
            params=("start_time", "end_time"),
            fmt=MINUTE,
            cites=(sdk(f"{model}.start_time", fmt), en(page, fmt)),
        ),
        Together(
            api=api,
            name="time_pair",
            params=("start_time", "end_time"),
            cites=(sdk(f"{model}.start_time/end_time", pair), en(page, pair)),
        ),
        _order(api),
    ]


def _language(api: str, model: str) -> OneOf:
    return OneOf(
        api=api,
        name="language",
        param="language",
        allowed=("zh_CN", "en_US"),
        cites=(sdk(f"{model}.language", "zh_CN or en_US, English by default"),),
    )


def _one_of(api: str, model: str, param: str, allowed: tuple[str, ...]) -> OneOf:
    listed = ", ".join(allowed) if len(allowed) <= 6 else f"{len(allowed)} listed values"
    return OneOf(api=api, name=param, param=param, allowed=allowed, cites=(sdk(f"{model}.{param}", listed),))


_DETAIL = "ListDesktopsDetailRequest"
_LIST = "ListDesktopsRequest"
_MONITOR = "ShowDesktopMonitorDataRequest"
_TASKS = "ListExportTasksRequest"
_SCREENS = "ListScreenRecordsRequest"
_OPS = "ListDesktopOperationsRequest"

WORKSPACE: list[Rule] = [
    # ------------------------------------------------------------------ desktops
    IntRange(
        api="desktops_detail",
        name="limit",
        param="limit",
        lo=0,
        hi=500,
        default=500,
        cites=(sdk(f"{_DETAIL}.limit", "0–500, default 500"), shared("B2", "0–500, default 500")),
    ),
    _offset("desktops_detail", _DETAIL),
    Count(
        api="desktops_detail",
        name="user_names",
        param="user_names",
        lo=0,
        hi=100,
        item="user",
        cites=(sdk(f"{_DETAIL}.user_names", "at most 100 users"), en("ListDesktopsDetail", "at most 100")),
    ),
    _one_of("desktops_detail", _DETAIL, "sort_field", ("created", "computer_name")),
    _one_of("desktops_detail", _DETAIL, "sort_type", ("ASC", "DESC")),
    IntRange(
        api="desktops_list",
        name="limit",
        param="limit",
        lo=0,
        hi=1000,
        default=1000,
        cites=(sdk(f"{_LIST}.limit", "0–1000, default 1000"), shared("B1", "0–1000, default 1000")),
    ),
    _offset("desktops_list", _LIST),
    Count(
        api="desktops_list",
        name="desktop_id",
        param="desktop_id",
        lo=0,
        hi=100,
        item="desktop",
        cites=(sdk(f"{_LIST}.desktop_id", "at most 100 desktop ids"), shared("B1", "at most 100 IDs")),
    ),
    # ------------------------------------------------------------------ desktop monitor
    Required(
        api="desktop_monitor",
        name="required",
        params=("start_time", "end_time"),
        cites=(en("ShowDesktopMonitorData", "start_time and end_time: Mandatory Yes"),),
    ),
    Format(
        api="desktop_monitor",
        name="time_format",
        params=("start_time", "end_time"),
        fmt=SECOND,
        cites=(
            sdk(f"{_MONITOR}.start_time", "UTC, e.g. 2021-05-11T11:45:42Z"),
            en("ShowDesktopMonitorData", "UTC format, for example, 2021-05-11T11:45:42Z"),
        ),
        choice="One example, in whole seconds: fractions and minute precision are refused.",
    ),
    Span(
        api="desktop_monitor",
        name="window",
        start="start_time",
        end="end_time",
        fmt=SECOND,
        lo=3600.0,
        hi=30 * 86400.0,
        cites=(
            zh("ShowDesktopMonitorData", "时间段(范围:1小时到30天)"),
            en("ShowDesktopMonitorData", "a time range (from 1 hour to 30 days)"),
            shared("J", "at least 1 h and at most 30 days"),
        ),
        choice="'From 1 hour to 30 days' names both ends as allowed values: both are accepted.",
    ),
    _one_of("desktop_monitor", _MONITOR, "metric_name", MONITOR_METRICS),
    # ------------------------------------------------------------------ connection records
    IntRange(
        api="connections",
        name="limit",
        param="limit",
        lo=0,
        hi=1000,
        default=20,
        cites=(
            sdk("ListLoginRecordsNewRequest.limit", "0–1000, default 20"),
            zh("ListLoginRecordsNew", "取值范围0-1000。如果不指定，默认为20"),
            en("ListLoginRecordsNew", "0 to 1,000. The default value is 20"),
        ),
    ),
    _offset("connections", "ListLoginRecordsNewRequest"),
    *_records("connections", "ListLoginRecordsNewRequest", "ListLoginRecordsNew"),
    IntRange(
        api="login_records",
        name="limit",
        param="limit",
        lo=0,
        hi=1000,
        default=20,
        cites=(
            shared("I", "default page size 20; no maximum is published"),
            Cite("osc", "workspaceclient/v1/desktop_user_mgr.py", "offset and limit, no range"),
        ),
        choice=(
            "No maximum is published: the fake takes the v2 list's 0–1000 (v2 supersedes this API "
            "and its definition still names the v1.0 response schema). A server may answer fewer "
            "than asked, so the exporter reads until an empty page."
        ),
    ),
    IntRange(
        api="login_records",
        name="offset",
        param="offset",
        lo=0,
        default=0,
        cites=(Cite("osc", "workspaceclient/v1/desktop_user_mgr.py", "offset"),),
    ),
    Format(
        api="login_records",
        name="time_format",
        params=("start_time", "end_time"),
        fmt=MINUTE,
        cites=(shared("A2", "minute precision, YYYY-MM-DDTHH:MMZ (OpenStackClient_Workspace)"),),
    ),
    Together(
        api="login_records",
        name="time_pair",
        params=("start_time", "end_time"),
        cites=(Cite("none", "-", "documented for the v2 list only"),),
        choice="Documented for v2 only; the v1.0 list is held to it too (the stricter reading).",
    ),
    _order("login_records"),
    *_records("connections_export", "ExportUserLoginInfoNewRequest", "ExportUserLoginInfoNew"),
    _language("connections_export", "ExportUserLoginInfoNewRequest"),
    Format(
        api="connections_export_v3",
        name="time_format",
        params=("start_time", "end_time"),
        fmt=SECOND,
        cites=(
            sdk("ExportUserConnectionNewRequest.start_time", "like 2016-08-20T21:11:11Z"),
            en("ExportUserConnectionNew", "The time format is 2016-08-20T21:11:11Z"),
        ),
    ),
    Recent(
        api="connections_export_v3",
        name="last_30_days",
        params=("start_time", "end_time"),
        fmt=SECOND,
        max_age=EXPORT_V3_MAX_AGE,
        cites=(
            sdk("ExportUserConnectionNewRequest.start_time/end_time", "must be within the last 30 days"),
            en("ExportUserConnectionNew", "The start time must be within the last 30 days"),
        ),
        choice="Read strictly: a time exactly 30 days old, or later than now, is refused.",
    ),
    _order("connections_export_v3", fmt=SECOND),
    _language("connections_export_v3", "ExportUserConnectionNewRequest"),
    *(
        IntRange(
            api="connections_export_v3",
            name=param,
            param=param,
            lo=None,
            cites=(sdk(f"ExportUserConnectionNewRequest.{param}", "an integer (ms)"),),
        )
        for param in ("min_e2e_rtt", "max_e2e_rtt")
    ),
    IntRange(
        api="export_tasks",
        name="limit",
        param="limit",
        lo=1,
        hi=100,
        default=20,
        cites=(sdk(f"{_TASKS}.limit", "1–100, default 20"),),
    ),
    _offset("export_tasks", _TASKS),
    _one_of("export_tasks", _TASKS, "status", ("CREATING", "SUCCESS", "FAIL", "EXPIRED")),
    _one_of("export_tasks", _TASKS, "sort_field", ("create_time",)),
    _one_of("export_tasks", _TASKS, "sort_type", ("ASC", "DESC")),
    _one_of("export_tasks", _TASKS, "is_download", ("true", "false")),
    # ------------------------------------------------------------------ screen recordings
    IntRange(
        api="screen_records",
        name="limit",
        param="limit",
        lo=0,
        hi=100,
        default=10,
        cites=(
            en("ListScreenRecords", "The value ranges from 0 to 100. The default value is 10."),
            sdk(f"{_SCREENS}.limit", "默认100。范围0~1000 (0–1000, default 100)"),
            zh("ListScreenRecords", "默认100。范围0~1000"),
        ),
        choice=STRICTEST,
    ),
    _offset("screen_records", _SCREENS),
    Format(
        api="screen_records",
        name="time_format",
        params=("start_time", "end_time"),
        fmt=SPACED,
        cites=(
            sdk(f"{_SCREENS}.start_time", "yyyy-MM-dd HH:mm:ss (UTC)"),
            en("ListScreenRecords", "The format is yyyy-MM-dd HH:mm:ss (UTC time"),
        ),
    ),
    _order("screen_records", fmt=SPACED),
    Count(
        api="screen_records",
        name="desktop_names",
        param="desktop_names",
        lo=0,
        hi=100,
        sep=",",
        item="desktop",
        cites=(sdk(f"{_SCREENS}.desktop_names", "comma-separated, at most 100 names"),),
    ),
    _one_of("screen_records", _SCREENS, "sort_field", ("start_time",)),
    _one_of("screen_records", _SCREENS, "sort_type", ("asc", "desc")),
    Together(
        api="screen_records",
        name="sort_pair",
        params=("sort_field", "sort_type"),
        cites=(sdk(f"{_SCREENS}.sort_type", "used together with sort_field"),),
        choice="'Used together' is read strictly: both or neither.",
    ),
    _one_of(
        "screen_records", _SCREENS, "status", ("RECORDING", "REC_COMPLETED", "UPLOADING", "UPLOAD_COMPLETED")
    ),
    _one_of("screen_records", _SCREENS, "type", ("FULL", "INTERVAL", "OPERATION", "SESSION")),
    IntRange(
        api="os_operations",
        name="limit",
        param="limit",
        lo=0,
        hi=100,
        default=10,
        cites=(
            Cite("seed", "key desktop events (os-operations)", "limit 0–100, default 10"),
            shared("J", "the seed page says 0–100, default 10; send ≤ 100"),
            sdk(f"{_OPS}.limit", "默认100。范围0~1000 (0–1000, default 100)"),
            zh("ListDesktopOperations", "默认100。范围0~1000"),
        ),
        choice=STRICTEST + " The SDK and the Chinese page repeat the screen-records text.",
    ),
    _offset("os_operations", _OPS),
    _one_of("os_operations", _OPS, "event_type", ("APP", "FILE", "REG", "HDP")),
    _one_of("os_operations", _OPS, "event_id", EVENT_IDS),
    _one_of("os_operations", _OPS, "event_level", ("INFO", "ALARM", "ERROR")),
]
