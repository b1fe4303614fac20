"""Upgrading without the new IAM actions: one clear signal naming the action to grant.

The fleet sources are on by default, so an operator who upgrades without granting their
actions meets a 403 on each. Each such source turns ``up`` 0 (never a healthy-looking zero),
logs one line naming the API and the action, keeps saying nothing while it stays refused,
and exports ``source_permission_missing{source, api, action}``, which the shipped rules turn
into one ticket-level alert instead of WorkspaceSourceFailing. Through the real client
against the fake over HTTP, with the real runner, on a FakeClock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from exporter.app.exporter import Exporter
from exporter.app.scheduler import PeriodicRunner
from exporter.clock import FakeClock
from exporter.config.settings import parse_config
from exporter.errors import AuthError, ClientRequestError
from exporter.sources.base import UNPUBLISHED, action_to_grant, denied_api
from tests.conftest import FakeApi

NS = "huaweicloud_workspace_"


def _exporter(fake_api: FakeApi, clock: FakeClock) -> Exporter:
    raw = fake_api.config(agents={"monitoring_plugins": True})
    return Exporter(parse_config(raw, fake_api.env()), clock)


def _live(x: Exporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name.removeprefix(NS), tuple(sorted(s.labels.items()))): s.value
        for f in x.live_registry.collect()
        for s in f.samples
    }


def _runner(x: Exporter, clock: FakeClock, name: str) -> Callable[[], None]:
    """One refresh by the exporter's own runner of ``name`` (it keeps the health reported)."""
    runner = x._runners[name]
    assert isinstance(runner, PeriodicRunner)
    return runner.run_once


def test_a_denied_fleet_source_says_once_which_action_to_grant_and_is_down_not_zero(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "exporter")
    clock = FakeClock(time.time())  # the fake checks signature dates
    x = _exporter(fake_api, clock)
    fake_api.state.deny("desktop_pools")
    refresh = _runner(x, clock, "pools")
    try:
        for _ in range(3):
            refresh()
            clock.advance(300)
        live = _live(x)
        assert live[("up", (("source", "pools"),))] == 0
        labels = (("action", "workspace:desktopPools:list"), ("api", "desktop_pools"), ("source", "pools"))
        key = ("source_permission_missing", labels)
        assert live[key] == 1
        assert [k for k in live if k[0] == "source_permission_missing"] == [key]  # no other source
        refused = ("api_error_responses_total", (("api", "desktop_pools"), ("error_code", "WKS.00081102"),
                                                 ("status", "403")))  # fmt: skip
        assert live[refused] == 3
        assert x.sources["pools"].snapshot is None  # no data, and no zero either
        lines = [r.getMessage() for r in caplog.records if "source=pools" in r.getMessage()]
        assert len(lines) == 1, lines
        assert "missing IAM permission" in lines[0] and "action=workspace:desktopPools:list" in lines[0]
        # Granted: the next refresh recovers, the signal goes.
        fake_api.state.reset_faults()
        refresh()
        live = _live(x)
        assert live[("up", (("source", "pools"),))] == 1
        assert not [k for k in live if k[0] == "source_permission_missing"]
        lines = [r.getMessage() for r in caplog.records if "source=pools" in r.getMessage()]
        assert len(lines) == 2 and "recovered" in lines[1]
    finally:
        x.client.close()


def test_an_api_whose_action_is_unpublished_says_so(fake_api: FakeApi) -> None:
    clock = FakeClock(time.time())  # the fake checks signature dates
    x = _exporter(fake_api, clock)
    fake_api.state.deny("agents_install")
    try:
        _runner(x, clock, "agents")()
        key = (
            "source_permission_missing",
            (("action", UNPUBLISHED), ("api", "agents_install"), ("source", "agents")),
        )
        assert _live(x)[key] == 1
    finally:
        x.client.close()


def test_only_a_policy_denial_is_a_missing_permission() -> None:
    assert denied_api(AuthError("quotas", 403, "WKS.00081102", "Policy doesn't allow this")) == "quotas"
    # The gateway refused the credentials themselves: the auth breaker's business, not a grant.
    assert denied_api(AuthError("quotas", 403, "APIGW.0301", "Incorrect IAM authentication: signature")) == ""
    assert denied_api(AuthError("quotas", 401, "APIGW.0301", "token expired")) == ""
    assert denied_api(ClientRequestError("quotas", 404, "WKS.00211404")) == ""
    assert denied_api(ValueError("x")) == ""
    assert action_to_grant("alarms") == "workspace:statistics:listAlarm"
    assert action_to_grant("agents_install") == UNPUBLISHED
