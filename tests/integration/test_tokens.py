"""IAM token auth against the fake: every documented expiry or revocation answer gets a new token
once, any other 401 on a token call too, and concurrent callers share one token fetch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import parse_config
from exporter.errors import AuthError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from tests.desktops import list_desktops


@pytest.fixture
def fake() -> Iterator[tuple[FakeWorkspace, str]]:
    state = FakeWorkspace(3)
    server = FakeServer(state)
    try:
        yield state, server.start()
    finally:
        server.stop()
    assert server.errors == []


def token_client(state: FakeWorkspace, url: str) -> WorkspaceClient:
    raw = {
        "region": state.region,
        "project_id": state.project_id,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "auth": {"method": "token", "username": state.iam_user, "domain_name": state.iam_domain},
    }
    settings = parse_config(raw, {"WORKSPACE_EXPORTER_IAM_PASSWORD": state.iam_password})
    clock = FakeClock(start=time.time())
    return WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)


@pytest.mark.parametrize(
    ("control", "reason"),
    [
        ("expire_tokens", "token expires"),
        ("revoke_tokens", "decrypt token fail"),
        ("require_token_update", "The token must be updated."),
    ],
)
def test_each_documented_expiry_answer_gets_a_new_token_once(
    fake: tuple[FakeWorkspace, str], control: str, reason: str
) -> None:
    state, url = fake
    client = token_client(state, url)
    try:
        assert len(list_desktops(client)) == 3
        getattr(state, control)()
        assert len(list_desktops(client)) == 3
    finally:
        client.close()
    assert state.calls("iam_tokens") == 2
    assert [reason in f.reason for f in state.auth_failures()] == [True]
    assert not client.auth_gate.state().open


def test_any_401_on_a_token_call_gets_a_new_token_once(fake: tuple[FakeWorkspace, str]) -> None:
    state, url = fake
    client = token_client(state, url)
    try:
        list_desktops(client)
        state.fail("desktops_detail", 401, times=1, error_code="APIGW.0301")
        assert len(list_desktops(client)) == 3
        assert state.calls("iam_tokens") == 2
        state.fail("desktops_detail", 401, times=None, error_code="APIGW.0301")
        with pytest.raises(AuthError):
            list_desktops(client)
        assert state.calls("iam_tokens") == 3  # once, not per attempt
        assert client.auth_gate.state().open
    finally:
        client.close()


def test_twenty_concurrent_callers_make_one_token_post(fake: tuple[FakeWorkspace, str]) -> None:
    state, url = fake
    state.set_latency("iam_tokens", 0.3)
    client = token_client(state, url)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.request("desktops_detail", params={"limit": 1})
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    try:
        threads = [threading.Thread(target=call) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        client.close()
    assert errors == []
    assert state.calls("iam_tokens") == 1
    assert state.calls("desktops_detail") == 20
