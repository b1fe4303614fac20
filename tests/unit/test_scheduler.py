"""Per-desktop scheduling: stable phases, never faster than the interval, spread evenly."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from exporter.app.desktop_runner import FetchPool, MonitoringRunner, next_slot, phase
from exporter.app.scheduler import PeriodicRunner
from exporter.clock import FakeClock
from exporter.sources.base import SourceHealth
from exporter.sources.inventory import Desktop, InventorySnapshot


def test_phase_is_stable_and_inside_the_interval() -> None:
    for i in range(200):
        p = phase(f"desktop-{i}", 300.0)
        assert 0.0 <= p < 300.0
        assert p == phase(f"desktop-{i}", 300.0)


def test_phases_spread_evenly_over_the_interval() -> None:
    buckets = [0] * 10
    for i in range(5000):
        buckets[int(phase(f"d-{i:05d}", 300.0) // 30)] += 1
    assert min(buckets) > 400 and max(buckets) < 600  # 500 expected per 30 s slice


def test_next_slot_is_never_earlier_than_asked_and_on_the_phase() -> None:
    for i in range(100):
        did = f"desk-{i}"
        for earliest in (0.0, 12.5, 299.9, 1000.0, 123456.7):
            t = next_slot(did, earliest, 300.0)
            assert earliest <= t < earliest + 300.0
            assert (
                abs((t - phase(did, 300.0)) % 300.0) < 1e-6
                or abs((t - phase(did, 300.0)) % 300.0 - 300) < 1e-6
            )


def test_successive_refreshes_are_exactly_one_interval_apart_once_settled() -> None:
    t = next_slot("abc", 1000.0, 300.0)
    for _ in range(5):
        nxt = next_slot("abc", t + 300.0, 300.0)
        assert abs(nxt - t - 300.0) < 1e-6
        t = nxt


# ---------------------------------------------------------------- publish cadence


class _Config:
    enabled = True


class _Source:
    """Stands in for MonitoringSource: records fetches and publishes, fails on request."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.config = _Config()
        self.health = SourceHealth("monitoring", clock or FakeClock())
        self.fetched: list[str] = []
        self.failing: set[str] = set()
        self.publishes: list[float] = []
        self.clock: FakeClock | None = None
        self.takes = 0.0
        self.fetch_times: dict[str, list[float]] = {}

    def interval(self) -> float:
        return 300.0

    def fetch(self, did: str) -> bool:
        assert self.clock is not None
        self.fetched.append(did)
        self.fetch_times.setdefault(did, []).append(self.clock.monotonic())
        self.clock.advance(self.takes)  # a real call takes time
        return did not in self.failing

    def publish(self) -> bool:
        assert self.clock is not None
        self.publishes.append(self.clock.monotonic())
        return True

    def forget(self, desktop_ids: set[str]) -> None:
        pass

    def set_fleet_size(self, desktops: int) -> None:
        self.fleet = desktops


class _Inventory:
    def __init__(self, ids: list[str]) -> None:
        self.snapshot = InventorySnapshot.of([Desktop(d) for d in ids], 0.0)


class _InlinePool:
    """Runs each task at once, so a test steps the runner deterministically."""

    def submit(self, fn: Callable[[str], bool], did: str) -> Future[bool]:
        fut: Future[bool] = Future()
        fut.set_result(fn(did))
        return fut


def _runner(ids: list[str], workers: int = 2) -> tuple[MonitoringRunner, _Source, FakeClock]:
    clock = FakeClock()
    source = _Source(clock)
    source.clock = clock
    runner = MonitoringRunner(
        source,  # type: ignore[arg-type]
        _Inventory(ids),  # type: ignore[arg-type]
        clock,
        threading.Event(),
        workers,
    )
    return runner, source, clock


def _run_for(runner: MonitoringRunner, clock: FakeClock, seconds: float) -> None:
    end = clock.monotonic() + seconds
    pool = _InlinePool()
    for _ in range(100_000):
        if clock.monotonic() >= end:
            return
        wait = runner.step(pool)  # type: ignore[arg-type]
        if runner._wake.is_set():  # a fetch finished: the real loop steps again at once
            runner._wake.clear()
            continue
        clock.advance(min(wait, end - clock.monotonic()))
    raise AssertionError("runner did not make progress")


def test_a_paused_source_waits_instead_of_spinning_on_desktops_that_are_due() -> None:
    ids = [f"d{i}" for i in range(20)]
    runner, source, clock = _runner(ids)
    source.config.enabled = False  # type: ignore[misc]  # paused: Cloud Eye serves
    pool = _InlinePool()
    waits = [runner.step(pool) for _ in range(3)]  # type: ignore[arg-type]
    assert source.fetched == []
    assert all(w > 0 for w in waits), waits  # a zero wait is a busy loop in the real runner
    source.config.enabled = True  # type: ignore[misc]
    _run_for(runner, clock, 1.0)
    assert set(source.fetched) == set(ids)


def test_first_data_is_published_at_once_then_at_most_once_a_minute() -> None:
    ids = [f"d{i}" for i in range(20)]
    runner, source, clock = _runner(ids)
    t0 = clock.monotonic()
    _run_for(runner, clock, 1.0)
    assert set(source.fetched) == set(ids)  # everyone fetched at once
    assert source.publishes and source.publishes[-1] - t0 < 1.0  # and shown without delay
    first = len(source.publishes)
    _run_for(runner, clock, 1200.0)  # 20 minutes of steady state
    assert len(source.fetched) >= 20 * 3  # phases settle within the first interval
    steady = source.publishes[first:]
    gaps = [b - a for a, b in itertools.pairwise([source.publishes[first - 1], *steady])]
    assert 15 <= len(steady) <= 21
    assert min(gaps) >= 60.0


def test_a_failing_desktop_keeps_fast_publishing_only_for_its_first_retries() -> None:
    ids = ["a", "b", "c"]
    runner, source, clock = _runner(ids)
    source.failing = {"c"}
    _run_for(runner, clock, 60.0)
    early = len(source.publishes)
    source.failing = set()
    _run_for(runner, clock, 1.0)
    # Still within its first retries (15 s, 30 s back-off): "c" is published on success.
    assert source.fetched.count("c") >= 3
    _run_for(runner, clock, 600.0)
    late = source.publishes[early:]
    assert all(b - a >= 60.0 for a, b in itertools.pairwise(late[1:]))


def test_a_new_desktop_is_published_at_once_in_the_steady_state() -> None:
    runner, source, clock = _runner(["a", "b"])
    _run_for(runner, clock, 400.0)
    before = len(source.publishes)
    runner.inventory = _Inventory(["a", "b", "new"])  # type: ignore[assignment]
    t = clock.monotonic()
    _run_for(runner, clock, 2.0)
    assert "new" in source.fetched
    assert len(source.publishes) > before and source.publishes[-1] - t < 2.0


def test_each_desktop_is_fetched_once_per_interval_even_when_calls_take_time() -> None:
    ids = [f"d{i}" for i in range(10)]
    runner, source, clock = _runner(ids, workers=1)
    source.takes = 2.0  # every call lasts 2 s and they run one at a time
    _run_for(runner, clock, 3000.0)
    for did in ids:
        times = source.fetch_times[did]
        settled = times[1:]  # the first fetch is immediate, then the desktop joins its phase
        assert len(times) >= 9
        assert all(abs(b - a - 300.0) < 1e-6 for a, b in itertools.pairwise(settled)), (did, times)


def test_a_fetch_delayed_past_half_an_interval_moves_the_next_one_to_the_following_slot() -> None:
    runner, source, clock = _runner(["a"], workers=1)
    _run_for(runner, clock, 1.0)
    _run_for(runner, clock, 400.0)
    source.takes = 200.0  # the next call is held up (a budget backlog) for 2/3 of the interval
    _run_for(runner, clock, 400.0)
    source.takes = 0.0
    _run_for(runner, clock, 700.0)
    times = source.fetch_times["a"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps[1:]) >= 300.0 - 1e-6  # never two calls within one interval of each other


def test_a_large_fleet_publishes_its_first_pass_less_often() -> None:
    ids = [f"d{i:05d}" for i in range(6000)]
    runner, source, clock = _runner(ids, workers=1)
    source.takes = 0.6  # 100 calls a minute: the first pass takes an hour
    _run_for(runner, clock, 600.0)
    gaps = [b - a for a, b in itertools.pairwise(source.publishes)]
    assert len(source.publishes) >= 9
    assert min(gaps) >= 60.0 - 1e-6  # 6,000 desktops: at most once a minute, not every 10 s


# ---------------------------------------------------------------- fetch pool


def test_the_fetch_pool_runs_fetches_and_hands_errors_to_the_future() -> None:
    pool = FetchPool(2, "test-monitor")
    try:
        ok = pool.submit(lambda did: did == "d1", "d1")
        bad = pool.submit(lambda did: 1 // 0 == 0, "d2")
        assert ok.result(timeout=10) is True
        assert isinstance(bad.exception(timeout=10), ZeroDivisionError)
    finally:
        pool.shutdown()


def test_the_fetch_pool_never_waits_for_a_stuck_fetch_at_shutdown() -> None:
    release = threading.Event()
    pool = FetchPool(1, "test-monitor")
    stuck = pool.submit(lambda did: release.wait(30), "d1")
    pool.shutdown()  # returns at once; the worker is a daemon, so it cannot hold the process
    assert not stuck.done()
    assert all(t.daemon for t in pool._threads)
    release.set()
    assert stuck.result(timeout=10) is True
    for t in pool._threads:
        t.join(10)
        assert not t.is_alive()


class _Exhausted:
    """A source whose refresh meets a process that can start no more threads."""

    name = "inventory"

    def __init__(self, error: Exception) -> None:
        self._error = error

    def interval(self) -> float:
        return 60.0

    def refresh(self) -> None:
        raise self._error


def test_a_refresh_that_cannot_start_a_thread_ends_the_runner_instead_of_logging_on() -> None:
    runner = PeriodicRunner(
        _Exhausted(RuntimeError("can't start new thread")), FakeClock(0), threading.Event()
    )
    with pytest.raises(RuntimeError, match="can't start new thread"):
        runner.run_once()  # ends the thread, which exporter.fatal turns into one line and exit 1
    other = PeriodicRunner(_Exhausted(RuntimeError("a bug")), FakeClock(0), threading.Event())
    other.run_once()  # any other unforeseen error keeps the runner going
    assert other.refreshes == 1
