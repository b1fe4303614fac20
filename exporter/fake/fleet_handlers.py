"""Handlers of the fake fleet endpoints: pools, statistics, quotas, scheduled and upgrade
tasks, agent versions and plug-ins, alarms and user events.

Answers have the SDK response models' shapes (tests/contract holds them to it). Requests
that break the constraint table never reach a handler (:mod:`exporter.fake.strict`).
"""

from __future__ import annotations

from exporter.fake.data import FMT_SECOND, parse_time
from exporter.fake.proto import (
    NOT_FOUND,
    BadRequest,
    Request,
    Response,
    error_response,
    json_response,
    page,
    paging,
)
from exporter.fake.state import FakeWorkspace


def desktop_pools(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "desktop_pools")
    pools = state.desktop_pools_view()
    if (kind := req.get("type")) is not None:
        pools = [p for p in pools if p["type"] == kind]
    if (name := req.get("name")) is not None:
        pools = [p for p in pools if name in p["name"]]
    if (maintenance := req.get("in_maintenance_mode")) is not None:
        pools = [p for p in pools if str(p["in_maintenance_mode"]).lower() == maintenance]
    return json_response({"total_count": len(pools), "desktop_pools": page(pools, offset, limit)})


def desktops_statistics(state: FakeWorkspace, req: Request) -> Response:
    types = set(req.multi.get("desktop_type", []))
    kinds = req.multi.get("statistics_type", [])
    return json_response(state.statistics(types, kinds))


def quotas(state: FakeWorkspace, req: Request) -> Response:
    return json_response(state.quotas_view())


def scheduled_tasks(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "scheduled_tasks")
    tasks = state.tasks_view(req.get("scheduled_type"))
    for key in ("task_type", "last_status"):
        if (value := req.get(key)) is not None:
            tasks = [t for t in tasks if t.get(key) == value]
    if (name := req.get("task_name")) is not None:
        tasks = [t for t in tasks if name in t["task_name"]]
    return json_response({"total_count": len(tasks), "scheduled_tasks": page(tasks, offset, limit)})


def scheduled_task_records(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "scheduled_task_records")
    records = state.records_view(req.path_params["task_id"])
    if records is None:
        return error_response(404, NOT_FOUND, "The scheduled task does not exist.")
    return json_response({"total_count": len(records), "tasks_records": page(records, offset, limit)})


def upgrade_tasks(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "upgrade_tasks")
    with state._lock:
        tasks = [dict(t) for t in state.upgrade_tasks]
    for key in ("id", "task_type", "is_enable", "last_execute_status", "scheduled_type"):
        value = req.get("task_id" if key == "id" else key)
        if value is not None:
            tasks = [t for t in tasks if str(t.get(key)) == value]
    return json_response({"total": len(tasks), "tasks": page(tasks, offset, limit)})


def desktop_version_statistics(state: FakeWorkspace, req: Request) -> Response:
    versions = set(req.multi.get("versions", []))
    stats = [s for s in state.version_statistics() if not versions or s["version"] in versions]
    return json_response({"version_statistics": stats})


def agents_install(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "agents_install")
    rows = state.agents_condition()
    for key in ("desktop_id", "desktop_pool_id", "status"):
        if (value := req.get(key)) is not None:
            rows = [r for r in rows if r.get(key) == value]
    return json_response({"total_count": len(rows), "agents_condition": page(rows, offset, limit)})


def alarms(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "alarms")
    with state._lock:
        records = [dict(r) for r in state.alarm_records]
    if (level := req.get("level")) is not None:
        records = [r for r in records if str(r["level"]) == level]
    return json_response({"count": len(records), "alarm_histories": page(records, offset, limit)})


def alarm_statistics(state: FakeWorkspace, req: Request) -> Response:
    return json_response(state.alarm_statistics())


def user_events(state: FakeWorkspace, req: Request) -> Response:
    offset, limit = paging(req, "user_events")
    start = parse_time(req.get("start_time") or "", FMT_SECOND)
    end = parse_time(req.get("end_time") or "", FMT_SECOND)
    if start is None or end is None:  # pragma: no cover - the constraint table refuses it first
        raise BadRequest("Invalid parameter: start_time and end_time are required")
    events = state.user_events_in(start, end)
    for key in ("username", "event_type", "resource_id", "resource_name"):
        if (value := req.get(key)) is not None:
            events = [e for e in events if e.get(key) in value.split(",")]
    return json_response({"count": len(events), "items": page(events, offset, limit)})
