"""Wrong credentials against the fake: the exporter's runners and client on a fake clock.

The exporter's own runners (inventory, per-desktop monitoring, connections, events) are
driven step by step on a :class:`FakeClock` that the fake API shares, so an hour of
refreshes runs in seconds and the fake's log of auth-failing calls is on the same clock.
Huawei locks an AK after 5 signature failures within 5 minutes, and an IAM user after 5
failed logins within 15: the exporter must stay below both, pause every source, say so in
one line and in ``up``, and resume by itself once the credentials work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter.app.desktop_runner import MonitoringRunner
from exporter.app.exporter import Exporter
from exporter.app.scheduler import PeriodicRunner, Together
from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.fake import FakeServer, FakeWorkspace

NS = "huaweicloud_workspace_"
WRONG_SK = "sk-that-the-account-does-not-have"
WRONG_PASSWORD = "password-that-is-not-the-users"


class SyncPool:
    """Runs each desktop fetch at once on the driving thread."""

    def submit(self, fn: Callable[[str], bool], desktop_id: str, /) -> Future[bool]:
        fut: Future[bool] = Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(desktop_id))
        except Exception as e:  # noqa: BLE001 - handed to the runner's callback, as FetchPool does
            fut.set_exception(e)
        return fut


@dataclass
class Driven:
    exporter: Exporter
    clock: FakeClock
    state: FakeWorkspace
    periodic: list[PeriodicRunner]
    monitoring: MonitoringRunner

    def run_for(self, seconds: float) -> None:
        """Step every runner when it is due, advancing the shared clock to the next due time."""
        clock = self.clock
        end = clock.monotonic() + seconds
        due: dict[Any, float] = {r: clock.monotonic() for r in [*self.periodic, self.monitoring]}
        pool = SyncPool()
        for _ in range(200_000):
            now = clock.monotonic()
            if now >= end:
                return
            for runner, at in list(due.items()):
                if at <= now:
                    wait = runner.step(pool) if runner is self.monitoring else runner.step()
                    due[runner] = clock.monotonic() + max(wait, 0.05)
            clock.advance(max(0.05, min(min(due.values()), end) - clock.monotonic()))
        pytest.fail("the runners never let the clock reach the end")

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        out = {}
        for fam in self.exporter.live_registry.collect():
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def up(self) -> dict[str, float]:
        return {dict(k[1])["source"]: v for k, v in self.samples().items() if k[0] == NS + "up"}

    def value(self, name: str) -> float | None:
        return self.samples().get((NS + name, ()))


@pytest.fixture
def world() -> Iterator[tuple[FakeWorkspace, str, FakeClock]]:
    clock = FakeClock(start=time.time())
    state = FakeWorkspace(20, now=clock.time)
    state.seed_activity(screen_records=3, operations=2)
    server = FakeServer(state)
    url = server.start()
    try:
        yield state, url, clock
    finally:
        server.stop()
    assert server.errors == []


def settings_for(state: FakeWorkspace, url: str, env: dict[str, str], **auth: Any) -> Settings:
    raw: dict[str, Any] = {
        "region": state.region,
        "project_id": state.project_id,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "monitoring": {"source": "workspace"},  # one desktop-monitor call per desktop
        "connections": {"enabled": True},
        "events": {"enabled": True},
        "auth": auth,
    }
    return parse_config(raw, env)


def drive(world: tuple[FakeWorkspace, str, FakeClock], settings: Settings) -> Driven:
    state, _, clock = world
    exporter = Exporter(settings, clock)
    periodic: list[PeriodicRunner] = []
    monitoring: MonitoringRunner | None = None
    for runner in exporter._runners.values():  # the exporter's own: they keep the health up reports
        parts = runner.runners if isinstance(runner, Together) else (runner,)
        for part in parts:
            if isinstance(part, MonitoringRunner):
                monitoring = part
            else:
                assert isinstance(part, PeriodicRunner)
                periodic.append(part)
    # inventory, monitoring passes, events, connections and the five fleet sources
    assert monitoring is not None and len(periodic) == len(exporter._built) == 9
    return Driven(exporter, clock, state, periodic, monitoring)


CASES = {
    "wrong_aksk": ({"HUAWEICLOUD_SDK_AK": "FAKEAK0000000000", "HUAWEICLOUD_SDK_SK": WRONG_SK}, {}),
    "wrong_password": (
        {"WORKSPACE_EXPORTER_IAM_PASSWORD": WRONG_PASSWORD},
        {"method": "token", "username": "exporter", "domain_name": "example-domain"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_credentials_cost_at_most_5_failing_calls_in_any_5_minutes_and_recover(
    world: tuple[FakeWorkspace, str, FakeClock], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = world[0]
    env, auth = CASES[case]
    driven = drive(world, settings_for(state, world[1], env, **auth))
    try:
        with caplog.at_level(logging.INFO):
            driven.run_for(3600)
        failures = state.auth_failures()
        # At most 5 in any 5 minutes, as asked; and below both lockouts, which the fake enforces.
        assert state.max_auth_failures_in(300) <= 5
        lockout_window = 300 if case == "wrong_aksk" else 900
        assert state.max_auth_failures_in(lockout_window) <= 4
        assert not state.ak_locked(state.ak) and not state.user_locked()
        # The probes ran (1, 3, 7, 15, 31 minutes in): the breaker is not simply stuck shut.
        assert 5 <= len(failures) <= 8, [f.at - failures[0].at for f in failures]
        assert set(driven.up().values()) == {0.0} and len(driven.up()) == 9
        assert driven.value("auth_breaker_open") == 1.0
        assert driven.value("auth_failures_total") == len(failures)
        # Each refusal is also an upstream error response, token calls included.
        errors = NS + "api_error_responses_total"
        refusals = {dict(k[1])["api"]: v for k, v in driven.samples().items() if k[0] == errors}
        assert sum(refusals.values()) == len(failures)
        if case == "wrong_password":
            assert set(refusals) == {"iam_tokens"}
        opened = [r for r in caplog.records if r.getMessage().startswith("credentials rejected")]
        assert len(opened) == 1 and opened[0].levelno == logging.WARNING
        named = "HUAWEICLOUD_SDK_AK" if case == "wrong_aksk" else "WORKSPACE_EXPORTER_IAM_PASSWORD"
        assert named in opened[0].getMessage()
        assert WRONG_SK not in caplog.text and WRONG_PASSWORD not in caplog.text
        # The upstream answered nothing else meanwhile: no data call slipped past the breaker.
        data_calls = [c for c in state.call_log if c.api not in ("iam_tokens",) and c.status == 200]
        assert data_calls == []

        # The operator fixes the credentials: the next probe finds them good, sources resume.
        if case == "wrong_aksk":
            state.sk = WRONG_SK
        else:
            state.iam_password = WRONG_PASSWORD
        caplog.clear()
        with caplog.at_level(logging.INFO):
            driven.run_for(1800 + 600)
        assert driven.value("auth_breaker_open") == 0.0
        assert set(driven.up().values()) == {1.0}
        recovered = [r for r in caplog.records if r.getMessage().startswith("credentials accepted again")]
        assert len(recovered) == 1
    finally:
        driven.exporter.client.close()


def test_calls_in_flight_when_a_working_key_is_revoked_stay_within_the_bound(
    world: tuple[FakeWorkspace, str, FakeClock],
) -> None:
    state = world[0]
    env = {"HUAWEICLOUD_SDK_AK": state.ak, "HUAWEICLOUD_SDK_SK": state.sk}
    driven = drive(world, settings_for(state, world[1], env))
    try:
        driven.run_for(600)
        assert set(driven.up().values()) == {1.0}
        state.sk = "sk-rotated-away-under-the-exporter"  # the key is changed in the console
        driven.run_for(3600)
        assert 1 <= state.max_auth_failures_in(300) <= 5
        assert not state.ak_locked(state.ak)
        assert set(driven.up().values()) == {0.0}
    finally:
        driven.exporter.client.close()


def test_concurrent_callers_with_a_wrong_password_make_one_login(
    world: tuple[FakeWorkspace, str, FakeClock],
) -> None:
    state = world[0]
    env, auth = CASES["wrong_password"]
    driven = drive(world, settings_for(state, world[1], env, **auth))
    client = driven.exporter.client
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
        assert len(errors) == 20
        assert state.calls("iam_tokens") == 1  # not twenty
    finally:
        client.close()


def test_the_registry_shows_the_credential_mode(world: tuple[FakeWorkspace, str, FakeClock]) -> None:
    state = world[0]
    env = {"HUAWEICLOUD_SDK_AK": state.ak, "HUAWEICLOUD_SDK_SK": state.sk}
    driven = drive(world, settings_for(state, world[1], env))
    try:
        registry: CollectorRegistry = driven.exporter.live_registry
        assert registry.get_sample_value(NS + "auth_info", {"mode": "aksk"}) == 1.0
        assert registry.get_sample_value(NS + "auth_credentials_expiry_timestamp_seconds") is None
    finally:
        driven.exporter.client.close()
