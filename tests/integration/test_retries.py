"""Only idempotent reads are retried: the fake API counts every call the client makes."""

from __future__ import annotations

import random
import time

import pytest

from exporter.apis import APIS
from exporter.clock import FakeClock
from exporter.config.settings import parse_config
from exporter.errors import ThrottledError, UpstreamUnavailableError
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient, retryable
from exporter.upstream.observer import NullObserver
from tests.conftest import FakeApi


def _client(fake_api: FakeApi) -> WorkspaceClient:
    settings = parse_config(
        fake_api.config(http={"max_retries": 3}),
        fake_api.env(),
    )
    clock = FakeClock(time.time())  # requests are signed with this time; backoffs do not sleep
    return WorkspaceClient(
        settings, Budget(settings.config.budget, clock), NullObserver(), clock, random.Random(1)
    )


def test_a_503_on_a_read_is_retried(fake_api: FakeApi) -> None:
    fake_api.state.fail("desktops_detail", 503, times=2)
    client = _client(fake_api)
    try:
        client.request("desktops_detail", params={"limit": 1})
    finally:
        client.close()
    assert fake_api.state.calls("desktops_detail") == 3


def test_a_501_is_never_retried(fake_api: FakeApi) -> None:
    fake_api.state.fail("desktops_detail", 501, times=None)
    client = _client(fake_api)
    try:
        with pytest.raises(UpstreamUnavailableError) as exc:
            client.request("desktops_detail", params={"limit": 1})
    finally:
        client.close()
    assert exc.value.status == 501
    assert fake_api.state.calls("desktops_detail") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_the_task_creating_export_call_is_never_retried_after_a_5xx(fake_api: FakeApi, status: int) -> None:
    fake_api.state.fail("connections_export_v3", status, times=None)
    client = _client(fake_api)
    try:
        with pytest.raises(UpstreamUnavailableError):
            client.request(
                "connections_export_v3",
                params={"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"},
            )
    finally:
        client.close()
    assert fake_api.state.calls("connections_export_v3") == 1


def test_the_task_creating_export_call_is_never_retried_after_a_throttle(fake_api: FakeApi) -> None:
    fake_api.state.throttle("connections_export_v3", times=None)
    client = _client(fake_api)
    try:
        with pytest.raises(ThrottledError):
            client.request(
                "connections_export_v3",
                params={"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"},
            )
    finally:
        client.close()
    assert fake_api.state.calls("connections_export_v3") == 1


def test_only_the_export_task_call_is_marked_as_having_a_side_effect() -> None:
    # Every other API the exporter calls is a read (Cloud Eye's POSTs are queries).
    assert [name for name, spec in APIS.items() if not spec.idempotent] == ["connections_export_v3"]
    err = UpstreamUnavailableError("desktops_detail", 503)
    assert retryable(APIS["desktops_detail"], err)
    assert not retryable(APIS["desktops_detail"], UpstreamUnavailableError("desktops_detail", 501))
    assert not retryable(APIS["connections_export_v3"], err)
