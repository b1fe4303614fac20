"""Endpoint fall-backs: an unreachable first endpoint moves the service on, as the SDK's client does."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from exporter.clock import FakeClock
from exporter.config.endpoints import Endpoints
from exporter.config.settings import parse_config
from exporter.errors import UpstreamUnavailableError
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.hosts import HostSelector, unreachable
from tests.conftest import FakeApi
from tests.desktops import list_desktops


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_first_endpoint_fails_over_to_the_next_and_stays_there(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    raw = fake_api.config(endpoints={"workspace": f"{dead},{fake_api.url}"})
    settings = parse_config(raw, fake_api.env())
    clock = FakeClock(start=time.time())  # the fake checks signature dates against its wall clock
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)
    try:
        with caplog.at_level(logging.WARNING):
            assert len(list_desktops(client)) == 10
            assert len(list_desktops(client)) == 10
    finally:
        client.close()
    lines = [r.getMessage() for r in caplog.records if "endpoint unreachable" in r.getMessage()]
    assert len(lines) == 1  # sticky: the second listing went straight to the fall-back
    assert dead in lines[0]
    assert fake_api.state.calls("desktops_detail") == 2
    assert client.host("desktops_detail") == fake_api.url.removeprefix("http://")


def test_every_endpoint_unreachable_is_tried_once_each_then_retried_with_backoff() -> None:
    dead = [f"http://127.0.0.1:{closed_port()}" for _ in range(2)]
    raw = {
        "region": "ap-southeast-1",
        "project_id": "p",
        "endpoints": {"workspace": ",".join(dead)},
        "http": {"max_retries": 1, "backoff_initial": "10ms", "backoff_max": "10ms"},
    }
    settings = parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})
    clock = FakeClock()
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)
    try:
        with pytest.raises(UpstreamUnavailableError) as info:
            list_desktops(client)
    finally:
        client.close()
    assert info.value.cause == "connection refused"


@pytest.mark.parametrize(
    ("cause", "status", "moves"),
    [
        ("connection refused", 0, True),
        ("dns lookup failed", 0, True),
        ("connect timeout (http.connect_timeout)", 0, True),
        ("tls handshake failed", 0, True),
        ("read timeout (http.read_timeout)", 0, False),  # the request may have been served
        ("connection reset", 0, False),
        ("", 503, False),
    ],
)
def test_only_a_host_never_reached_moves_the_service_on(cause: str, status: int, moves: bool) -> None:
    error = UpstreamUnavailableError("desktops_detail", status, host="a", cause=cause)
    assert unreachable(error) is moves
    hosts = HostSelector(
        Endpoints(workspace=("https://a", "https://b"), iam=("https://i",), ces=("https://c",))
    )
    assert hosts.fail_over("workspace", "https://a", error) is moves
    assert hosts.base("workspace") == ("https://b" if moves else "https://a")


def test_the_selector_wraps_round_and_a_single_endpoint_never_fails_over() -> None:
    error = UpstreamUnavailableError("x", host="a", cause="connection refused")
    hosts = HostSelector(
        Endpoints(workspace=("https://a", "https://b"), iam=("https://i",), ces=("https://c",))
    )
    assert hosts.fail_over("workspace", "https://a", error)
    assert hosts.fail_over("workspace", "https://b", error)
    assert hosts.base("workspace") == "https://a"
    assert not hosts.fail_over("iam", "https://i", error)
