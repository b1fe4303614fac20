"""The legacy v1.0 login-records API, which the official SDK does not model.

``GET /v1.0/{project_id}/desktop-users/login-records`` is absent from
huaweicloudsdkworkspace 3.1.219 (no operation there uses a ``/v1.0/`` path), so no SDK
model can referee it. Its request and its answers are held instead to the seed document
(../shared/workspace-api.md, section A2, from the OpenStackClient_Workspace plug-in):
query ``start_time``/``end_time`` (minute precision ``YYYY-MM-DDTHH:MMZ``),
``user_name``, ``computer_name``, ``terminal_type``, ``offset``, ``limit``; the list
under ``records``; the fourteen record fields below; a failed attempt has a
``"<numeric code>:<message>"`` reason and null setup and end times.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from exporter.fake import FakeWorkspace
from tests.contract.cases import MINUTES, NOT_IN_SDK, OUR_CALLS
from tests.contract.conftest import CaptureProxy
from tests.contract.test_requests import first_call, our_client, seeded_context

API = "login_records"
QUERY = {"start_time", "end_time", "user_name", "computer_name", "terminal_type", "offset", "limit"}
STR, BOOL, INT = "str", "bool", "int"
# The seed's record fields and their JSON types (None is allowed where the seed shows null).
RECORD: dict[str, str] = {
    "computer_name": STR,
    "user_name": STR,
    "terminal_mac": STR,
    "terminal_name": STR,
    "terminal_ip": STR,
    "client_version": STR,
    "terminal_type": STR,
    "agent_version": STR,
    "desktop_ip": STR,
    "connection_start_time": STR,
    "connection_setup_time": STR,
    "connection_end_time": STR,
    "is_reconnect": BOOL,
    "connection_failure_reason": STR,
}
# The seed names only ``records``; the v2 schema it was renamed into adds ``total_count``.
BODY: dict[str, str] = {"records": "list", "total_count": INT}
_TYPES: dict[str, Any] = {STR: str, BOOL: bool, INT: int, "list": list}


def schema_problems(doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return [f"body is a {type(doc).__name__}, not an object"]
    out = [f"$.{k}: not in the seed document" for k in doc if k not in BODY]
    out += [f"$.{k}: not a {t}" for k, t in BODY.items() if k in doc and not isinstance(doc[k], _TYPES[t])]
    out += [f"$.{k}: bool is not an int" for k in ("total_count",) if isinstance(doc.get(k), bool)]
    for i, rec in enumerate(doc.get("records") or []):
        if not isinstance(rec, dict):
            out.append(f"$.records[{i}]: not an object")
            continue
        for key, value in rec.items():
            if key not in RECORD:
                out.append(f"$.records[*].{key}: not in the seed document")
            elif value is not None and not isinstance(value, _TYPES[RECORD[key]]):
                out.append(f"$.records[*].{key}: {type(value).__name__}, the seed says {RECORD[key]}")
        reason = rec.get("connection_failure_reason")
        if reason:
            if not re.match(r"^\d+:.+", str(reason)):
                out.append(f"$.records[*].connection_failure_reason: {reason!r} lacks the numeric code")
            if rec.get("connection_setup_time") is not None or rec.get("connection_end_time") is not None:
                out.append("$.records[*]: a failed attempt has null setup and end times")
    return list(dict.fromkeys(out))


def test_the_sdk_does_not_model_it() -> None:
    from huaweicloudsdkworkspace.v2 import workspace_client

    source = Path(workspace_client.__file__).read_text(encoding="utf-8")
    assert "/v1.0/" not in source and "login-records" not in source
    assert API in NOT_IN_SDK


@pytest.mark.parametrize("variant", ["coded", "text"])
def test_our_request_and_the_fake_answer_hold_to_the_seed(
    variant: str, state: FakeWorkspace, proxy: CaptureProxy
) -> None:
    ctx = seeded_context(state)
    state.configure(failure_reason_format=variant)  # v2's variant must not leak into v1.0
    client = our_client(proxy.url, state)
    try:
        OUR_CALLS[API](client, ctx)
    finally:
        client.close()
    rec = first_call(proxy.take(), API)
    assert (rec.method, rec.path) == ("GET", f"/v1.0/{state.project_id}/desktop-users/login-records")
    assert set(rec.query) <= QUERY, set(rec.query) - QUERY
    for name in ("start_time", "end_time"):
        assert all(re.match(MINUTES, v) for v in rec.query[name]), rec.query[name]
    # Signed like every other Workspace call (the contract the SDK sets for the v2 APIs).
    assert rec.headers.get("content-type") == "application/json"
    assert rec.signed_headers == ["content-type", "host", "x-project-id", "x-sdk-date"]
    assert rec.status == 200
    doc = json.loads(rec.response)
    assert any(r.get("connection_failure_reason") for r in doc["records"]), "seed a failure to check it"
    assert schema_problems(doc) == []


def test_the_schema_check_catches_what_the_seed_rules_out() -> None:
    bad = {
        "records": [
            {"user_name": 1, "transaction_id": "t", "connection_failure_reason": "no code"},
            {"connection_failure_reason": "400200:x", "connection_setup_time": "2024-01-01T00:00Z"},
        ],
        "total_count": True,
        "extra": 1,
    }
    assert schema_problems(bad) == [
        "$.extra: not in the seed document",
        "$.total_count: bool is not an int",
        "$.records[*].user_name: int, the seed says str",
        "$.records[*].transaction_id: not in the seed document",
        "$.records[*].connection_failure_reason: 'no code' lacks the numeric code",
        "$.records[*]: a failed attempt has null setup and end times",
    ]
