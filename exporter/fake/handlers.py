"""Handlers of the fake Workspace endpoints (desktops, monitor, connections, exports, recordings).

Each handler takes the :class:`FakeWorkspace` and a parsed :class:`Request` and returns a
:class:`Response`. Requests that break the constraint table never reach a handler
(:mod:`exporter.fake.strict`): page sizes, formats, windows and value sets are checked
there. Auth, faults and call counting happen in the server before and after.
"""

from __future__ import annotations

import re

from exporter.fake.data import (
    CES_METRICS,
    FMT_MINUTE,
    FMT_SCREEN,
    FMT_SECOND,
    JsonDict,
    detail_view,
    list_view,
    parse_time,
)
from exporter.fake.proto import (
    NOT_FOUND,
    BadRequest,
    Request,
    Response,
    error_response,
    json_response,
    page,
    paging,
    to_int,
)
from exporter.fake.records import V1_FIELDS
from exporter.fake.state import FakeWorkspace

_CODE_PREFIX = re.compile(r"^\s*\d+\s*:\s*")
_CREDIT_METRICS = frozenset(
    {"cpu_credit_usage", "cpu_credit_balance", "cpu_surplus_credit_balance", "cpu_surplus_credit_charged"}
)


def _window(req: Request, fmt: tuple[str, ...], *, required: bool) -> tuple[float | None, float | None]:
    """``start_time``/``end_time`` parsed with ``fmt`` (None where not given); the constraint
    table holds them to their format, pairing and order before the handler runs."""
    raw_start, raw_end = req.get("start_time"), req.get("end_time")
    if required and (raw_start is None or raw_end is None):
        raise BadRequest("Invalid parameter: start_time and end_time are required")
    start = parse_time(raw_start, *fmt) if raw_start is not None else None
    end = parse_time(raw_end, *fmt) if raw_end is not None else None
    if (raw_start is not None and start is None) or (raw_end is not None and end is None):
        raise BadRequest(f"Invalid parameter: time format must be {fmt[0]}")
    return start, end


# ---------------------------------------------------------------------------- desktops


def desktops_detail(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "desktops_detail")
    ids = set(req.multi.get("desktop_id", []))
    tag = req.get("tag")
    tags = [tuple(t.split("=", 1)) for t in tag.split(",")] if tag else []
    out = []
    for d in state.desktop_rows():
        if ids and d["desktop_id"] not in ids:
            continue
        if (s := req.get("status")) and d.get("status") != s:
            continue
        if (u := req.get("user_name")) and u not in str(d.get("user_name", "")):
            continue
        if (c := req.get("computer_name")) and c not in str(d.get("computer_name", "")):
            continue
        if (ip := req.get("desktop_ip")) and ip not in d.get("ip_addresses", []):
            continue
        if (t := req.get("desktop_type")) and d.get("desktop_type") not in t.split(","):
            continue
        if (p := req.get("pool_id")) and d.get("pool_id") not in p.split(","):
            continue
        if tags:  # tags may hold anything a test put there: compare, never hash
            raw_tags = d.get("tags")
            have = (
                [(x.get("key"), x.get("value")) for x in raw_tags if isinstance(x, dict)]
                if isinstance(raw_tags, list)
                else []
            )
            if any(pair not in have for pair in tags):
                continue
        out.append(detail_view(d))
    sort_field = req.get("sort_field")
    if sort_field is not None:
        out.sort(
            key=lambda d: str(d.get(sort_field, "")),
            reverse=(req.get("sort_type") or "ASC").upper() == "DESC",
        )
    return json_response({"desktops": page(out, offset, limit), "total_count": len(out)})


def desktops_list(state: FakeWorkspace, req: Request) -> Response:
    """The light list: fewer fields than desktops/detail, but with ``pool_id``; 1000 a page."""
    offset, limit = paging(req, "desktops_list")
    ids = set(req.multi.get("desktop_id", []))
    users = req.multi.get("user_name", [])
    out = []
    for d in state.desktop_rows():
        if ids and d["desktop_id"] not in ids:
            continue
        if users and not any(u in str(d.get("user_name", "")) for u in users):
            continue
        if (p := req.get("pool_id")) and d.get("pool_id") not in p.split(","):
            continue
        if (s := req.get("status")) and d.get("status") != s:
            continue
        out.append(list_view(d, state.project_id, state.domain_id))
    return json_response({"total_count": len(out), "desktops": page(out, offset, limit)})


def desktop_detail(state: FakeWorkspace, req: Request) -> Response:
    """One desktop by id (``show_desktop_detail``): ``{"desktop": DesktopDetailInfo}``, or 404."""
    desktop = state.desktop(req.path_params["desktop_id"])
    if desktop is None:
        return error_response(404, NOT_FOUND, "The desktop does not exist.")
    return json_response({"desktop": detail_view(desktop)})


def desktop_monitor(state: FakeWorkspace, req: Request) -> Response:
    start, end = _window(req, (FMT_SECOND,), required=True)
    if start is None or end is None:  # pragma: no cover - required=True already raised
        raise BadRequest("Invalid parameter: start_time and end_time are required")
    metric = req.get("metric_name")
    key: str | None = None
    if metric is not None:
        if metric in _CREDIT_METRICS:
            return json_response({})
        if metric != "user_online_info" and metric not in CES_METRICS:
            raise BadRequest("Invalid parameter: metric_name")
        key = CES_METRICS.get(metric, metric)
    body = state.monitor_body(req.path_params["desktop_id"], start, end, key)
    if body is None:
        return error_response(404, NOT_FOUND, "The desktop does not exist.")
    return json_response(body)


# ---------------------------------------------------------------------------- connection records


def _records(state: FakeWorkspace, req: Request) -> list[JsonDict]:
    start, end = _window(req, (FMT_MINUTE,), required=False)
    return state.query_connection_records(
        start,
        end,
        user_name=req.get("user_name"),
        computer_name=req.get("computer_name"),
        terminal_type=req.get("terminal_type"),
    )


def _plain_reason(record: JsonDict) -> JsonDict:
    """``400200:The desktop is being prepared.`` -> ``The desktop is being prepared.``"""
    reason = record.get("connection_failure_reason")
    if isinstance(reason, str):
        return {**record, "connection_failure_reason": _CODE_PREFIX.sub("", reason, count=1)}
    return record


def connections(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "connections")
    records = _records(state, req)
    rows = page(records, offset, limit)
    if state.failure_reason_format == "text":  # the v1.0 form is documented, v2's is not
        rows = [_plain_reason(r) for r in rows]
    body = {"total_count": len(records), "records": rows}
    state.apply_shift("connections")
    return json_response(body)


def login_records(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "login_records")
    if state.login_records_page_cap:  # no maximum is published: a server may answer fewer
        limit = min(limit, state.login_records_page_cap)
    records = _records(state, req)
    rows = [{k: r.get(k) for k in V1_FIELDS} for r in page(records, offset, limit)]
    state.apply_shift("login_records")
    # The real v1.0 answer carries no total_count (../shared/workspace-api.md J): readers
    # must page until an empty page, and the fake gives them nothing else to lean on.
    return json_response({"records": rows})


def connections_export(state: FakeWorkspace, req: Request) -> Response:
    content, ctype = state.export_v2(req.query)
    name = "connection_records." + ("csv" if ctype == "text/csv" else "xlsx")
    return Response(200, content, ctype, {"Content-Disposition": f'attachment; filename="{name}"'})


def connections_export_v3(state: FakeWorkspace, req: Request) -> Response:
    start, end = _window(req, (FMT_SECOND,), required=False)
    lo, hi = req.get("min_e2e_rtt"), req.get("max_e2e_rtt")
    records = state.query_connection_records(
        start,
        end,
        user_name=req.get("user_name"),
        computer_name=req.get("computer_name"),
        terminal_type=req.get("terminal_type"),
        terminal_type_fuzzy=True,
        min_e2e_rtt=to_int(lo, "min_e2e_rtt") if lo is not None else None,
        max_e2e_rtt=to_int(hi, "max_e2e_rtt") if hi is not None else None,
        granularity=1,
    )
    return json_response({"task_id": state.create_export_task(records)})


def export_tasks(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "export_tasks")
    tasks = state.poll_export_tasks(req.get("task_id"), req.get("status"), req.get("file_name"))
    if (dl := req.get("is_download")) is not None:
        tasks = [t for t in tasks if str(t["is_download"]).lower() == dl.lower()]
    if (req.get("sort_type") or "desc").lower() == "asc":
        tasks.reverse()
    return json_response({"export_tasks": page(tasks, offset, limit), "count": len(tasks)})


def export_download(state: FakeWorkspace, req: Request) -> Response:
    task = state.export_task(req.path_params["task_id"])
    if task is None:
        return error_response(404, NOT_FOUND, "The export task does not exist.")
    if task.status != "SUCCESS":
        return error_response(400, "WKS.00211102", f"The export task is not ready (status {task.status}).")
    task.is_download = True
    ext = task.file_name.rsplit(".", 1)[-1]
    return Response(
        200,
        task.content,
        task.content_type,
        {"Content-Disposition": f'attachment; filename="connection_records.{ext}"'},
    )


# ---------------------------------------------------------------------------- screen records


def screen_records(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "screen_records")
    raw_start, raw_end = req.get("start_time"), req.get("end_time")
    start = parse_time(raw_start, FMT_SCREEN) if raw_start else state.now() - 15 * 86400
    end = parse_time(raw_end, FMT_SCREEN) if raw_end else None
    if start is None or (raw_end and end is None):
        raise BadRequest("Invalid parameter: time format must be yyyy-MM-dd HH:mm:ss")
    sort_type = req.get("sort_type") or "desc"
    names = set(n for n in (req.get("desktop_names") or "").split(",") if n)
    exact = {k: req.get(k) for k in ("desktop_id", "username", "status", "type")}

    def matches(rec: JsonDict, t: float) -> bool:
        if t < start or (end is not None and t > end):
            return False
        if names and rec.get("desktop_name") not in names:
            return False
        return all(v is None or rec.get(k) == v for k, v in exact.items())

    records = state.query_screen_records(matches, descending=sort_type == "desc")
    return json_response({"screen_records": page(records, offset, limit), "total_count": len(records)})


def os_operations(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "os_operations")
    ops = state.query_operations(req.path_params["record_id"])
    if ops is None:
        return error_response(404, NOT_FOUND, "The screen record does not exist.")
    for key in ("event_type", "event_id", "event_level"):
        if (value := req.get(key)) is not None:
            ops = [o for o in ops if o.get(key) == value]
    if (data := req.get("event_data")) is not None:
        ops = [o for o in ops if data in str(o.get("event_data", ""))]
    return json_response({"operations": page(ops, offset, limit), "total_count": len(ops)})
