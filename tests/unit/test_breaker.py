"""The auth breaker on a fake clock: one call while unverified, fail fast while open, one probe
per step, the failure window, and exactly one log line to open and one to close."""

from __future__ import annotations

import logging
import threading

import pytest

from exporter.clock import FakeClock
from exporter.errors import AuthBreakerOpenError, AuthError, ShutdownError, UpstreamUnavailableError
from exporter.upstream.breaker import AKSK_LIMIT, FIRST_STEP, MAX_STEP, UNVERIFIED_WAIT, AuthGate, Ticket

REFUSED = AuthError("desktops_detail", 401, "APIGW.0301", "verify aksk signature fail")
CREDENTIAL = "HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gate(clock: FakeClock) -> AuthGate:
    return AuthGate(clock, lambda: CREDENTIAL)


STOP = threading.Event()


def open_gate(gate: AuthGate) -> None:
    ticket = gate.enter(1, STOP)
    gate.done(ticket, "auth", 1, REFUSED)


def test_unverified_credentials_go_one_call_at_a_time(gate: AuthGate) -> None:
    first = gate.enter(1, STOP)
    assert first == Ticket(exclusive=True)
    entered = threading.Event()

    def second() -> None:
        gate.enter(1, STOP)
        entered.set()

    t = threading.Thread(target=second)
    t.start()
    assert not entered.wait(0.3)  # waits for the first call's outcome
    gate.done(first, "ok", 1)
    assert entered.wait(5)
    t.join(5)
    assert gate.enter(1, STOP) == Ticket()  # verified: no more waiting
    assert gate.enter(2, STOP) == Ticket(exclusive=True)  # new keys: one call again


def test_a_waiter_gives_up_waiting_on_a_slow_first_call(gate: AuthGate, clock: FakeClock) -> None:
    gate.enter(1, STOP)
    result: list[Ticket] = []
    t = threading.Thread(target=lambda: result.append(gate.enter(1, STOP)))
    t.start()
    t.join(0.3)
    clock.advance(UNVERIFIED_WAIT)
    t.join(5)
    assert result == [Ticket()]


def test_a_credential_failure_opens_the_breaker_and_calls_fail_without_being_sent(
    gate: AuthGate, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        open_gate(gate)
        for _ in range(5):
            with pytest.raises(AuthBreakerOpenError) as info:
                gate.enter(1, STOP)
            assert "desktops_detail HTTP 401 APIGW.0301" in info.value.cause
    opened = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(opened) == 1
    assert opened[0].levelno == logging.WARNING
    assert CREDENTIAL in opened[0].getMessage()
    assert gate.state().open and gate.paused()
    assert gate.state().failures_total == 1


def test_one_probe_per_step_doubling_to_the_cap(gate: AuthGate, clock: FakeClock) -> None:
    open_gate(gate)
    probes_at = []
    for _ in range(10_000):  # 1 s steps over a bounded simulated span
        clock.advance(1)
        if gate.paused():
            continue
        ticket = gate.enter(1, STOP)
        assert ticket.probe
        with pytest.raises(AuthBreakerOpenError):
            gate.enter(1, STOP)  # one probe at a time
        probes_at.append(clock.monotonic())
        gate.done(ticket, "auth", 1, REFUSED)
    start = 1000.0
    gaps = [b - a for a, b in zip([start, *probes_at], probes_at, strict=False)]
    assert gaps[:6] == [FIRST_STEP, 120, 240, 480, 960, MAX_STEP]
    assert set(gaps[6:]) == {MAX_STEP}


def test_a_probe_that_proves_nothing_keeps_its_step(gate: AuthGate, clock: FakeClock) -> None:
    open_gate(gate)
    clock.advance(FIRST_STEP)
    ticket = gate.enter(1, STOP)
    gate.done(ticket, "neutral", 1, UpstreamUnavailableError("x", 503))
    assert gate.state().next_probe_in == FIRST_STEP
    assert gate.state().failures_total == 1


def test_a_successful_probe_closes_it_with_one_line(
    gate: AuthGate, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    open_gate(gate)
    clock.advance(FIRST_STEP)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ticket = gate.enter(1, STOP)
        gate.done(ticket, "ok", 1)
    assert [r.getMessage().split(" credential=")[0] for r in caplog.records] == [
        "credentials accepted again, sources resume"
    ]
    assert not gate.state().open and gate.enter(1, STOP) == Ticket()


def test_a_success_of_a_call_sent_before_the_failure_does_not_close_it(gate: AuthGate) -> None:
    early = gate.enter(1, STOP)
    gate.done(early, "ok", 1)
    a, b = gate.enter(1, STOP), gate.enter(1, STOP)
    gate.done(a, "auth", 1, REFUSED)
    gate.done(b, "ok", 1)
    assert gate.state().open


def test_concurrent_failures_hold_the_probes_back_within_the_window(gate: AuthGate, clock: FakeClock) -> None:
    ok = gate.enter(1, STOP)
    gate.done(ok, "ok", 1)
    tickets = [gate.enter(1, STOP) for _ in range(AKSK_LIMIT[0])]
    for ticket in tickets:  # four calls in flight when the key was revoked
        gate.done(ticket, "auth", 1, REFUSED)
    clock.advance(FIRST_STEP)
    assert gate.paused()  # four failures in the window: no probe yet
    clock.advance(AKSK_LIMIT[1] - FIRST_STEP)
    assert gate.paused()  # exactly at the window edge they still count
    clock.advance(1)
    assert not gate.paused()


def test_answers_without_a_status_do_not_count_towards_a_lockout(gate: AuthGate) -> None:
    ticket = gate.enter(1, STOP)
    gate.done(ticket, "auth", 1, AuthError("iam_tokens", 0, cause="connection refused"))
    assert gate.state().open
    assert gate.state().failures_total == 0


def test_waiting_ends_on_shutdown(gate: AuthGate) -> None:
    gate.enter(1, STOP)
    stop = threading.Event()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            gate.enter(1, stop)
        except ShutdownError as e:
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    stop.set()
    gate.wake()
    t.join(5)
    assert len(errors) == 1
