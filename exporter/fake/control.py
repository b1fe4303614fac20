"""The ``/_fake/`` control plane: JSON endpoints (no auth) to steer a fake running elsewhere.

Tests that run the exporter as a subprocess use these to inject faults, add data and read
call counts. Bodies are JSON objects; answers are JSON; a bad request gets 400 ``{"error"}``.
Control requests are not counted as upstream calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from exporter.fake import identity
from exporter.fake.proto import Response, json_response
from exporter.fake.state import FakeWorkspace

Body = dict[str, Any]
_Op = Callable[[FakeWorkspace, Body], Any]


def _times(body: Body) -> int | None:
    value = body.get("times", 1)
    return None if value is None else int(value)


def _desktops(state: FakeWorkspace, body: Body) -> Any:
    added, removed = [], []
    add = body.get("add", 0)
    for overrides in [{}] * add if isinstance(add, int) else add:
        added.append(state.add_desktop(**overrides)["desktop_id"])
    for desktop_id in body.get("remove", []):
        state.remove_desktop(desktop_id)
        removed.append(desktop_id)
    return {"added": added, "removed": removed, "count": len(state.desktops)}


def _connection_records(state: FakeWorkspace, body: Body) -> Any:
    front = bool(body.get("front", False))
    added = [state.add_connection_record(front=front, **fields) for fields in body.get("add", [])]
    updated = []
    for fields in body.get("update", []):
        fields = dict(fields)
        updated.append(state.update_connection_record(fields.pop("transaction_id"), **fields))
    if body.get("shift"):
        state.insert_shift(int(body["shift"]), str(body.get("api", "connections")))
    return {"added": added, "updated": updated}


def _screen_records(state: FakeWorkspace, body: Body) -> Any:
    added = [state.add_screen_record(**fields) for fields in body.get("add", [])]
    changed = [state.set_record_status(s["record_id"], s["status"]) for s in body.get("status", [])]
    changed += [state.advance_recording(str(record_id)) for record_id in body.get("advance", [])]
    return {"added": added, "changed": changed}


def _operations(state: FakeWorkspace, body: Body) -> Any:
    added = []
    for fields in body.get("add", []):
        fields = dict(fields)
        record_id = fields.pop("record_id", body.get("record_id"))
        added.append(state.add_operation(str(record_id), **fields))
    return {"added": added}


_POST: dict[str, _Op] = {
    "reset-calls": lambda s, b: s.reset_calls(),
    "reset-faults": lambda s, b: s.reset_faults(),
    "expire-tokens": lambda s, b: s.expire_tokens(),
    "fail": lambda s, b: s.fail(
        b["api"], int(b.get("status", 500)), _times(b), str(b.get("error_code", "WKS.00211401"))
    ),
    "throttle": lambda s, b: s.throttle(b["api"], _times(b)),
    "deny": lambda s, b: s.deny(b["api"], None if b.get("times") is None else int(b["times"])),
    "rate-limit": lambda s, b: s.set_rate_limit(
        b["api"], None if b.get("per_minute") is None else int(b["per_minute"])
    ),
    "latency": lambda s, b: s.set_latency(b["api"], float(b.get("seconds", 0))),
    "garbage": lambda s, b: s.garbage(b["api"], _times(b), str(b.get("kind", "notjson"))),
    "desktops": _desktops,
    "monitor": lambda s, b: s.set_monitor(b["desktop_id"], b.get("data")),
    "connection-records": _connection_records,
    "screen-records": _screen_records,
    "operations": _operations,
    "config": lambda s, b: s.configure(**b),
    "seed-activity": lambda s, b: s.seed_activity(**b),
    "scenario": lambda s, b: s.trigger_scenario(
        str(b["name"]), None if b.get("duration") is None else float(b["duration"])
    ),
    **identity.CONTROL,
}


def _scenario_status(state: FakeWorkspace) -> Any:
    status = getattr(state.live, "scenario_status", None)
    if status is None:
        return {"running": [], "available": {}, "unavailable": {}, "note": "no simulated office here"}
    return status()


_GET: dict[str, Callable[[FakeWorkspace], Any]] = {
    "health": lambda s: {"ok": True},
    "scenario": _scenario_status,
    "calls": lambda s: s.call_counts(),
    "call-log": lambda s: [rec._asdict() for rec in s.call_log],
    "violations": lambda s: [v._asdict() for v in s.violations],
    "desktops": lambda s: {"desktops": s.desktops},
    "connection-records": lambda s: {"records": s.connection_records},
    "screen-records": lambda s: {"screen_records": s.screen_records},
    "config": lambda s: s.switches(),
    "auth-failures": lambda s: [f._asdict() for f in s.auth_failures()],
    "credentials": lambda s: {
        "ak": s.ak,
        "sk": s.sk,
        "project_id": s.project_id,
        "region": s.region,
        "iam_user": s.iam_user,
        "iam_password": s.iam_password,
        "iam_domain": s.iam_domain,
    },
}


def handle(state: FakeWorkspace, method: str, raw_path: str, body: bytes) -> Response:
    """Serve ``/_fake/<name>``."""
    name = raw_path.removeprefix("/_fake/").strip("/")
    try:
        if method == "GET" and name in _GET:
            return json_response(_GET[name](state))
        if method == "POST" and name in _POST:
            doc = json.loads(body or b"{}")
            if not isinstance(doc, dict):
                raise TypeError("the body must be a JSON object")
            result = _POST[name](state, doc)
            return json_response({"ok": True} if result is None else result)
    except (ValueError, KeyError, TypeError) as exc:
        return json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)
    return json_response({"error": f"no control endpoint {method} /_fake/{name}"}, 404)
