"""(b) Every answer the fake serves fits the official SDK response model, recursively.

No key the model lacks, every value of the type ``openapi_types`` says, under each fake
switch that changes what is served. The SDK's own deserialiser would accept far more (it
drops unknown keys and coerces types), so the check is strict JSON against the model.
Error answers must parse as the SDK parses them: it must find the error code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from exporter.apis import APIS
from exporter.errors import UpstreamError
from exporter.fake import FakeWorkspace
from exporter.fake.faults import denied_action
from tests.contract.cases import NOT_IN_SDK, OUR_CALLS, SDK_CASES
from tests.contract.conftest import CaptureProxy
from tests.contract.sdk import sdk_client, sdk_request_for
from tests.contract.test_requests import api_of, first_call, our_client, response_problems, seeded_context


def _uploaded(state: FakeWorkspace) -> None:
    state.configure(recording_path="upload", operations_order="newest_first")
    for rec in state.screen_records:
        for _ in range(3):
            state.advance_recording(rec["id"])


VARIANTS: dict[str, Callable[[FakeWorkspace], None]] = {
    "default": lambda s: None,
    "seconds timestamps": lambda s: s.configure(timestamp_unit="s"),
    "csv export": lambda s: s.configure(export_format="csv"),
    "plain failure reasons": lambda s: s.configure(failure_reason_format="text"),
    "uploaded recordings, newest first": _uploaded,
    "unordered operations": lambda s: s.configure(operations_order="unordered"),
    "failed export tasks": lambda s: s.configure(export_task_outcome="FAIL", export_task_polls=0),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("api", sorted(APIS))
def test_the_fake_answers_in_the_sdk_model(
    api: str, variant: str, state: FakeWorkspace, proxy: CaptureProxy
) -> None:
    if api in NOT_IN_SDK:
        pytest.skip(NOT_IN_SDK[api])  # its own test: test_legacy_login_records.py
    ctx = seeded_context(state)
    VARIANTS[variant](state)
    contexts = [ctx]
    if api == "desktop_monitor":  # connected, disconnected, Linux and Windows desktops differ
        contexts = [dataclasses.replace(ctx, desktop_id=d["desktop_id"]) for d in state.desktops]
    client = our_client(proxy.url, state, token=api == "iam_tokens", project=api != "iam_projects")
    try:
        for each in contexts:
            # e.g. downloading a failed export raises; its error answer is checked below
            with contextlib.suppress(UpstreamError):
                OUR_CALLS[api](client, each)
    finally:
        client.close()
    answers = [rec for rec in proxy.take() if api_of(rec) == api]
    assert answers, f"no {api} call was made"
    problems: list[str] = []
    for rec in answers:
        if 200 <= rec.status < 300:
            problems += response_problems(api, rec)
        else:
            body = json.loads(rec.response)
            assert body.get("error_code") and body.get("error_msg"), body
    assert problems == [], f"{api} ({variant}):\n  " + "\n  ".join(dict.fromkeys(problems))


@pytest.mark.parametrize("api", sorted(set(APIS) - set(NOT_IN_SDK) - {"iam_tokens"}))
def test_a_denied_call_raises_the_sdk_error_with_its_code(
    api: str, state: FakeWorkspace, proxy: CaptureProxy
) -> None:
    ctx = seeded_context(state)
    client = our_client(proxy.url, state, project=api != "iam_projects")
    try:
        OUR_CALLS[api](client, ctx)
    finally:
        client.close()
    ours = first_call(proxy.take(), api)
    case = SDK_CASES[api]
    sdk = sdk_client(case.service, proxy.url, state)
    request, problems = sdk_request_for(ours, case, sdk)
    assert problems == []
    state.deny(api)
    with pytest.raises(ClientRequestException) as raised:
        getattr(sdk, case.operation)(request)
    assert raised.value.status_code == 403
    assert denied_action(api) in raised.value.error_msg
    if APIS[api].service != "iam":
        assert raised.value.error_code and raised.value.encoded_auth_msg


def test_the_model_check_catches_what_the_sdk_would_silently_accept() -> None:
    from huaweicloudsdkworkspace.v2 import ListDesktopsDetailResponse

    from tests.contract.schema import model_violations

    desktop = {
        "desktop_id": "d1",
        "pool_id": "p1",
        "addresses": {"net": [{"addr": "10.0.0.1", "version": 4}]},
        "in_maintenance_mode": "false",
        "user_list": ["u", 2],
    }
    assert model_violations({"desktops": [desktop], "total_count": "1"}, ListDesktopsDetailResponse) == [
        "$.desktops[0].pool_id: DesktopDetailInfo has no such key",
        "$.desktops[0].addresses['net'][0].version: int 4, model says str",
        "$.desktops[0].in_maintenance_mode: str 'false', model says bool",
        "$.desktops[0].user_list[1]: int 2, model says str",
        "$.total_count: str '1', model says int",
    ]
