"""Token-bucket budget, throttle back-off (AIMD) and the concurrency gate, on a fake clock."""

from __future__ import annotations

import threading

from exporter.clock import FakeClock
from exporter.config.settings import BudgetConfig
from exporter.upstream.budget import Budget


def _drain(budget: Budget, api: str) -> int:
    n = 0
    while budget.try_acquire(api) == 0.0:
        n += 1
        assert n < 10_000
    return n


def test_burst_is_available_at_once_then_rate_limits() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(per_api={"desktop_monitor": 60}, burst=5), clock)
    assert _drain(b, "desktop_monitor") == 5
    wait = b.try_acquire("desktop_monitor")
    assert 0.9 <= wait <= 1.0  # 60/min -> one token per second


def test_rate_over_a_minute_matches_the_configured_budget() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(per_api={"desktop_monitor": 100}, burst=5), clock)
    granted = _drain(b, "desktop_monitor")  # the initial burst
    for _ in range(600):  # ten minutes in 1 s steps
        clock.advance(1.0)
        granted += _drain(b, "desktop_monitor")
    assert 1000 <= granted <= 1005  # 100/min for ten minutes, plus the burst


def test_acquire_blocks_by_sleeping_on_the_clock_not_spinning() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(per_api={"desktops_detail": 30}, burst=1), clock)
    start = clock.monotonic()
    for _ in range(4):
        assert b.acquire("desktops_detail")
    assert clock.monotonic() - start >= 3 * 2.0 - 1e-6  # 30/min = one every 2 s


def test_apis_have_separate_buckets_with_builtin_defaults() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(burst=2), clock)
    assert _drain(b, "desktops_detail") == 2
    assert _drain(b, "desktop_monitor") == 2
    assert b.rate_for("desktop_monitor") == 100
    assert b.rate_for("desktops_detail") == 60


def test_throttle_halves_the_rate_then_recovers_linearly() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(per_api={"desktop_monitor": 100}, throttle_recovery=100), clock)
    b.try_acquire("desktop_monitor")
    b.throttled("desktop_monitor")
    assert b.state()["desktop_monitor"].effective_per_minute == 50
    b.throttled("desktop_monitor")
    assert b.state()["desktop_monitor"].effective_per_minute == 25
    clock.advance(50)
    assert abs(b.state()["desktop_monitor"].effective_per_minute - 62.5) < 1e-6
    clock.advance(60)
    assert b.state()["desktop_monitor"].effective_per_minute == 100


def test_throttle_drains_the_bucket_so_the_next_call_waits() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(burst=5), clock)
    b.try_acquire("desktop_monitor")
    b.throttled("desktop_monitor")
    assert b.try_acquire("desktop_monitor") > 0


def test_acquire_returns_false_when_stopped() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(per_api={"desktop_monitor": 1}, burst=1), clock)
    assert b.acquire("desktop_monitor")
    stop = threading.Event()
    stop.set()
    assert b.acquire("desktop_monitor", stop) is False


def test_concurrency_gate_admits_at_most_max_concurrency() -> None:
    b = Budget(BudgetConfig(max_concurrency=2))
    inside = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()
    entered = threading.Semaphore(0)

    def worker() -> None:
        nonlocal inside, peak
        with b.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            entered.release()
            release.wait(5)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    assert entered.acquire(timeout=5)
    assert entered.acquire(timeout=5)
    assert not entered.acquire(timeout=0.2)
    release.set()
    for t in threads:
        t.join(5)
    assert peak == 2


def test_reconfigure_changes_rates_and_keeps_throttle_state() -> None:
    clock = FakeClock()
    b = Budget(BudgetConfig(per_api={"desktop_monitor": 100}, throttle_recovery=100), clock)
    b.try_acquire("desktop_monitor")
    b.throttled("desktop_monitor")
    b.reconfigure(BudgetConfig(per_api={"desktop_monitor": 40}, throttle_recovery=100))
    eff = b.state()["desktop_monitor"]
    assert eff.configured_per_minute == 40
    assert eff.effective_per_minute == 40  # floor (50) capped by the new rate
