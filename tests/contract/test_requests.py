"""(a) Every request our client sends equals what the official SDK sends for the same call.

For each API in :data:`exporter.apis.APIS`, our :class:`WorkspaceClient` makes the call
the way the exporter does; the captured request is turned into the SDK request for the
same call (a query name or body key the SDK model lacks is a failure), the SDK client
sends it to the same capturing proxy, and the two captured requests are compared:
method, path with its exact case, query names and values, body, ``Content-Type``,
``X-Project-Id`` and the signed-header list. The fake's answers are checked against the
SDK response models on the way (see also test_responses.py).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from exporter.apis import APIS
from exporter.config.settings import parse_config
from exporter.fake import FakeWorkspace
from exporter.fake.routes import match
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from tests.contract.cases import NOT_IN_SDK, OUR_CALLS, SDK_CASES, Ctx
from tests.contract.conftest import Captured, CaptureProxy
from tests.contract.schema import model_violations
from tests.contract.sdk import sdk_client, sdk_request_for

# The SDK signs every header it sends; our signer signs a fixed set that proxies do not
# rewrite, and the signing guide requires only X-Sdk-Date. User-Agent is the one the SDK
# signs and we do not (our User-Agent names the exporter, not the SDK).
UNSIGNED_BY_US = frozenset({"user-agent"})


def our_client(
    url: str, state: FakeWorkspace, *, token: bool = False, project: bool = True
) -> WorkspaceClient:
    raw: dict[str, Any] = {
        "region": state.region,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "http": {"max_retries": 0},
    }
    if project:
        raw["project_id"] = state.project_id
    env = {"HUAWEICLOUD_SDK_AK": state.ak, "HUAWEICLOUD_SDK_SK": state.sk}
    if token:
        raw["auth"] = {"method": "token", "username": state.iam_user, "domain_name": state.iam_domain}
        env = {"WORKSPACE_EXPORTER_IAM_PASSWORD": state.iam_password}
    settings = parse_config(raw, env)
    return WorkspaceClient(settings, Budget(settings.config.budget))


def seeded_context(state: FakeWorkspace) -> Ctx:
    state.seed_activity(connection_records=12, screen_records=2, operations=3)
    state.configure(export_task_polls=0)
    desktop_id = state.desktops[0]["desktop_id"]
    record_id = state.screen_records[0]["id"]
    task_id = state.create_export_task(state.connection_records)
    state.poll_export_tasks(task_id, None, None)  # one poll: SUCCESS, ready to download
    scheduled = state.scheduled_tasks[0]["id"]
    return Ctx(state.now(), desktop_id, record_id, task_id, scheduled)


def api_of(rec: Captured) -> str:
    found = match(rec.method, rec.path)
    return found[0].api if found else ""


def first_call(captured: list[Captured], api: str) -> Captured:
    calls = [rec for rec in captured if api_of(rec) == api]
    assert calls, f"no {api} request was captured: {[(r.method, r.path) for r in captured]}"
    return calls[0]


def differences(api: str, ours: Captured, sdk: Captured) -> list[str]:
    case = SDK_CASES[api]
    out = []
    if ours.method != sdk.method:
        out.append(f"method: ours {ours.method}, SDK {sdk.method}")
    if ours.path != sdk.path:
        out.append(f"path: ours {ours.path}, SDK {sdk.path}")
    if ours.query != sdk.query:
        out.append(f"query: ours {ours.query}, SDK {sdk.query}")
    for name, regex in case.time_formats:
        for value in ours.query.get(name, []):
            if not re.match(regex, value):
                out.append(f"query {name}={value!r}: the API reference format is {regex}")
    ours_body = json.loads(ours.body) if ours.body else None
    sdk_body = json.loads(sdk.body) if sdk.body else None
    if ours_body != sdk_body:
        out.append(f"body: ours {ours_body}, SDK {sdk_body}")
    for header in ("content-type", "x-project-id"):
        mine, theirs = ours.headers.get(header, "").lower(), sdk.headers.get(header, "").lower()
        if header not in case.ignore_headers and mine != theirs:
            out.append(f"{header}: ours {ours.headers.get(header)!r}, SDK {sdk.headers.get(header)!r}")
    if "authorization" in ours.headers:  # the IAM token request is not signed by us
        expected = set(sdk.signed_headers) - UNSIGNED_BY_US - case.ignore_headers
        if set(ours.signed_headers) - case.ignore_headers != expected:
            out.append(f"signed headers: ours {ours.signed_headers}, SDK {sdk.signed_headers}")
    return out


def response_problems(api: str, rec: Captured) -> list[str]:
    """The fake's answer against the SDK response model (JSON answers only)."""
    if not 200 <= rec.status < 300:
        return [f"the fake answered {rec.status}: {rec.response[:200]!r}"]
    if "json" not in rec.response_headers.get("Content-Type", ""):
        return []
    found = model_violations(json.loads(rec.response), SDK_CASES[api].response)
    # One line per kind of violation, not one per list item or map key.
    general = (re.sub(r"\[[^\]]*\]", "[*]", p).replace(repr(p), "") for p in found)
    return list(dict.fromkeys(general))


@pytest.mark.parametrize("api", sorted(APIS))
def test_our_request_equals_the_sdk_request(api: str, state: FakeWorkspace, proxy: CaptureProxy) -> None:
    if api in NOT_IN_SDK:
        pytest.skip(NOT_IN_SDK[api])  # its own test: test_legacy_login_records.py
    assert api in SDK_CASES, f"{api} has no SDK contract case in tests/contract/cases.py SDK_CASES"
    assert api in OUR_CALLS, f"{api} has no call in tests/contract/cases.py OUR_CALLS"
    case = SDK_CASES[api]
    ctx = seeded_context(state)
    client = our_client(proxy.url, state, token=api == "iam_tokens", project=api != "iam_projects")
    try:
        OUR_CALLS[api](client, ctx)
    finally:
        client.close()
    ours = first_call(proxy.take(), api)
    sdk = sdk_client(case.service, proxy.url, state)
    request, problems = sdk_request_for(ours, case, sdk)
    getattr(sdk, case.operation)(request)
    theirs = first_call(proxy.take(), api)
    problems += differences(api, ours, theirs)
    problems += [f"fake response: {p}" for p in response_problems(api, ours)]
    assert problems == [], f"{api}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("api", sorted(APIS))
def test_every_api_has_a_contract_case(api: str) -> None:
    """An API added to exporter/apis.py without a contract case fails here."""
    assert (api in SDK_CASES) != (api in NOT_IN_SDK), f"{api}: add it to SDK_CASES (or NOT_IN_SDK with why)"
    assert api in OUR_CALLS, f"{api}: add how the exporter calls it to OUR_CALLS"
    if api in SDK_CASES:
        case = SDK_CASES[api]
        assert case.request.__name__.endswith("Request")
        assert case.response.__name__ == case.request.__name__.removesuffix("Request") + "Response"


def test_the_case_table_names_only_real_apis() -> None:
    assert set(SDK_CASES) | set(NOT_IN_SDK) == set(APIS)


@pytest.mark.fake_rejects  # offset=first: the fake refuses it, as it should
def test_the_referee_catches_a_wrong_name_a_wrong_case_and_a_wrong_format(
    state: FakeWorkspace, proxy: CaptureProxy
) -> None:
    case = SDK_CASES["desktops_detail"]
    sdk = sdk_client(case.service, proxy.url, state)
    wrong = Captured(
        "GET",
        f"/v2/{state.project_id}/Desktops/detail",
        {"Limit": ["10"], "offset": ["first"], "in_maintenance_mode": ["True"]},
        {"content-type": "application/json"},
        b"",
    )
    request, problems = sdk_request_for(wrong, case, sdk)
    assert problems == [
        "query Limit: the SDK request ListDesktopsDetailRequest has no such parameter",
        "query offset='first': the SDK models an int",
        "query in_maintenance_mode='True': the SDK sends booleans as true/false",
    ]
    with contextlib.suppress(ClientRequestException):  # offset=first: the fake says 400
        getattr(sdk, case.operation)(request)
    theirs = first_call(proxy.take(), "desktops_detail")
    found = differences("desktops_detail", wrong, theirs)
    assert any(d.startswith("path: ours /v2/") and "/Desktops/" in d for d in found), found
    assert any(d.startswith("query:") for d in found), found
    body = Captured("POST", "/x", {}, {}, json.dumps({"metrics": [], "periodd": "1"}).encode())
    _, problems = sdk_request_for(body, SDK_CASES["ces_batch_v1"], sdk_client("ces_v1", proxy.url, state))
    assert "$.periodd: BatchListMetricDataRequestBody has no such key" in problems
