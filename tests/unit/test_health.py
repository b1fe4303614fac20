"""Health that tells the truth: ``up``, the last success, the log and readiness agree.

Everything runs on a :class:`~exporter.clock.FakeClock`: the health of one source (state
changes, deadlines), the runners (a refresh stopped by shutdown, a refresh past its
deadline, a monitoring pass with nothing to fetch) and the readiness of an exporter.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest
import yaml

from exporter.app.desktop_runner import MonitoringRunner
from exporter.app.exporter import SHUTDOWN_BOUND, STOP_TIMEOUT, Exporter
from exporter.app.multi import MultiExporter
from exporter.app.scheduler import PeriodicRunner, Runner, refresh_deadline
from exporter.app.table import SOURCES
from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.errors import (
    ExporterError,
    ShutdownError,
    ThrottledError,
    UpstreamError,
    UpstreamUnavailableError,
)
from exporter.sources.base import LogState, Source, SourceHealth
from exporter.sources.inventory import Desktop, InventorySnapshot

LOGGER = "exporter.sources.base"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def _timeout(request_id: str) -> UpstreamError:
    return UpstreamUnavailableError(
        "desktops_detail", 0, "", "", request_id, host="workspace.example", cause="read timeout"
    )


# ------------------------------------------------------------------ one line per state change


def test_a_source_failing_the_same_way_logs_once_whatever_the_request_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    h = SourceHealth("inventory", FakeClock())
    for i in range(5):
        h.failure(_timeout(f"req-{i}"))
    assert h.status.consecutive_failures == 5
    assert not h.status.up
    assert len(_lines(caplog)) == 1


def test_a_different_failure_is_one_more_line_and_recovery_one_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    h = SourceHealth("inventory", FakeClock())
    h.success()
    h.failure(_timeout("a"))
    h.failure(_timeout("b"))
    h.failure(UpstreamUnavailableError("desktops_detail", 503, "WKS.0001", "busy", "c"))
    h.failure(UpstreamUnavailableError("desktops_detail", 503, "WKS.0001", "busy", "d"))
    h.success()
    h.success()
    lines = _lines(caplog)
    assert len(lines) == 4, lines
    assert lines[0] == "source first refresh ok source=inventory"
    assert lines[1].startswith("source refresh failed, serving last good data source=inventory")
    assert "cause='read timeout'" in lines[1]
    assert lines[2].startswith("source still failing source=inventory") and "status=503" in lines[2]
    assert lines[3] == "source recovered source=inventory after_failures=4"
    assert h.status.up and h.status.consecutive_failures == 0


def test_serving_last_good_data_is_said_only_when_there_was_some(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    never = SourceHealth("events", FakeClock())
    never.failure(_timeout("x"))
    had = SourceHealth("connections", FakeClock())
    had.success()
    had.failure(_timeout("x"))
    first, _, second = _lines(caplog)
    assert first.startswith("source refresh failed, no data yet source=events") and "serving" not in first
    assert second.startswith("source refresh failed, serving last good data source=connections")
    assert never.status.last_success == 0 and had.status.last_success > 0


# ----------------------------------------------------------------------------- deadlines


def test_a_refresh_past_its_deadline_turns_up_to_zero_until_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("inventory", clock)
    h.success()
    h.begin(100.0)
    clock.advance(100.0)
    assert h.status.up and not h.status.overdue  # at the deadline: still on time
    clock.advance(1.0)
    for _ in range(3):  # every scrape sees it; the log says it once
        assert not h.status.up and h.status.overdue
    h.end()
    h.success()
    assert h.status.up and not h.status.overdue
    lines = _lines(caplog)
    assert len(lines) == 3, lines
    assert lines[1] == (
        "source refresh overdue, serving last good data "
        "source=inventory running_seconds=101 deadline_seconds=100"
    )
    assert lines[2] == "source refresh completed after its deadline source=inventory"


def test_an_overdue_refresh_that_then_fails_is_logged_as_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("inventory", clock)
    h.begin(10.0)
    clock.advance(11.0)
    assert not h.status.up
    h.end()
    h.failure(_timeout("x"))
    lines = _lines(caplog)
    assert [line.split(" source=")[0] for line in lines] == [
        "source refresh overdue, no data yet",
        "source refresh failed, no data yet",
    ]


def _throttled(request_id: str) -> UpstreamError:
    return ThrottledError("desktop_monitor", 429, "APIGW.0308", "too many requests", request_id)


def _unavailable(request_id: str) -> UpstreamError:
    return UpstreamUnavailableError("desktop_monitor", 503, "APIGW.0202", "unavailable", request_id)


def test_an_outage_of_per_desktop_calls_is_one_line_however_long_its_passes_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failures and an overdue pass used to alternate, one line each: an outage is one state."""
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("monitoring", clock, per_item=True)
    h.begin(120.0)
    h.success()
    h.end()
    for n in range(3):  # three passes of 20 desktops, each failing, each past its deadline
        h.begin(120.0)
        for i in range(20):
            clock.advance(10.0)
            h.failure(_unavailable(f"{n}-{i}"))
            assert not h.status.up
        h.end()
    h.begin(120.0)
    h.success()  # the upstream is back: the first desktops answer ...
    clock.advance(130.0)  # ... while the pass is still past its deadline
    h.success()
    assert not h.status.up and h.status.overdue
    h.end()
    assert h.status.up
    assert [line.split(" source=")[0] for line in _lines(caplog)] == [
        "source first refresh ok",
        "source refresh failed, serving last good data",
        "source recovered",
    ]
    assert _lines(caplog)[-1] == "source recovered source=monitoring after_failures=60"


def test_a_throttling_episode_is_one_line_in_and_one_out(caplog: pytest.LogCaptureFixture) -> None:
    """Per-desktop calls fail and succeed by turns while throttled: the log leaves the episode
    only after a pass without a failure, and a kind of failure already said is not said again."""
    caplog.set_level(logging.INFO, LOGGER)
    h = SourceHealth("monitoring", FakeClock(), per_item=True)
    h.begin(600.0)
    h.success()
    h.end()
    for n in range(4):
        h.begin(600.0)
        for i in range(10):
            if i % 3 == 0:
                h.failure(_throttled(f"{n}-{i}") if n % 2 else _unavailable(f"{n}-{i}"))
            else:
                h.success()
        h.end()
    h.begin(600.0)
    for _ in range(10):
        h.success()
    h.end()
    kinds = [line.split(" source=")[0] for line in _lines(caplog)]
    assert kinds == [
        "source first refresh ok",
        "source refresh failed, serving last good data",
        "source still failing",  # the second kind, once, although the kinds alternate
        "source recovered",
    ]


def test_an_overdue_pass_of_per_desktop_calls_is_one_line_and_its_end_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("monitoring", clock, per_item=True)
    h.begin(100.0)
    h.success()
    h.end()
    h.begin(100.0)
    clock.advance(101.0)
    for _ in range(5):  # desktops keep answering while the pass is late
        assert not h.status.up
        h.success()
        clock.advance(0.5)
    assert not h.status.up
    h.end()
    assert h.status.up
    h.begin(100.0)
    clock.advance(1.0)
    assert h.status.up
    assert [line.split(" source=")[0] for line in _lines(caplog)] == [
        "source first refresh ok",
        "source refresh overdue, serving last good data",
        "source refresh completed after its deadline",
    ]


def test_a_pass_late_only_when_it_completes_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Overdue is a state a scrape saw (``up`` 0); a pass whose last desktop answers after the
    deadline, with no scrape in between, was never reported late: no overdue/completed pair."""
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("monitoring", clock, per_item=True)
    h.begin(100.0)
    h.success()
    h.end()
    h.begin(100.0)
    clock.advance(101.0)
    h.success()  # the last desktop, past the deadline
    h.end()
    assert h.status.up
    assert _lines(caplog) == ["source first refresh ok source=monitoring"]


def test_a_pass_slowed_by_its_budget_may_take_longer_never_shorter() -> None:
    """The per-desktop runner extends a running pass's deadline when the budget lowers the pace
    (throttled); a recovering rate never brings the deadline back in."""
    clock = FakeClock()
    h = SourceHealth("monitoring", clock, per_item=True)
    h.begin(120.0)
    clock.advance(100.0)
    h.extend(200.0)
    h.extend(150.0)
    clock.advance(90.0)  # 190 s: past the first deadline, within the extended one
    assert not h.status.overdue
    clock.advance(11.0)
    assert h.status.overdue
    h.end()
    h.extend(500.0)  # no pass running: nothing to extend
    h.begin(10.0)
    clock.advance(11.0)
    assert h.status.overdue


def test_healths_sharing_a_log_state_are_one_source_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    shared = LogState()
    clock = FakeClock()
    a = SourceHealth("monitoring", clock, log_state=shared, per_item=True)
    b = SourceHealth("monitoring", clock, log_state=shared)
    a.success()
    b.success()
    a.failure(_unavailable("x"))
    b.adopt(a)
    assert not b.status.up
    b.failure(_unavailable("y"))
    b.success()
    assert [line.split(" source=")[0] for line in _lines(caplog)] == [
        "source first refresh ok",
        "source refresh failed, serving last good data",
        "source recovered",
    ]


def test_a_quiet_health_keeps_count_and_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    h = SourceHealth("monitoring", FakeClock(), quiet=True)
    h.failure(_unavailable("x"))
    h.success()
    h.failure(_unavailable("y"))
    assert h.status.consecutive_failures == 1 and h.retry_delay(300.0) == 15.0
    assert _lines(caplog) == []


def test_the_refresh_deadline_is_one_interval_plus_the_call_deadline() -> None:
    assert refresh_deadline(300.0, 60.0) == 360.0


class _Source:
    """A periodic source whose refresh runs a test-supplied step (its runner keeps its health)."""

    name = "inventory"

    def __init__(self, clock: FakeClock, step: Callable[[], None]) -> None:
        self._step = step

    def interval(self) -> float:
        return 300.0

    def refresh(self) -> None:
        self._step()


def test_a_periodic_refresh_is_overdue_while_it_runs_past_interval_plus_call_deadline() -> None:
    clock = FakeClock()
    seen: list[tuple[bool, bool]] = []

    def slow() -> None:  # an upstream that drips: the refresh is still running
        clock.advance(300.0 + 45.0)
        seen.append((runner.health.status.up, runner.health.status.overdue))
        clock.advance(1.0)
        seen.append((runner.health.status.up, runner.health.status.overdue))

    source = _Source(clock, lambda: None)
    runner = PeriodicRunner(source, clock, threading.Event(), lambda: 45.0)
    runner.run_once()
    source._step = slow
    runner.run_once()
    assert seen == [(True, False), (False, True)]
    assert runner.health.status.up  # it completed: recovered
    assert runner.health.status.last_duration == 346.0


@pytest.mark.parametrize("after_stop", [False, True])
def test_a_refresh_stopped_by_shutdown_is_not_a_failure(
    caplog: pytest.LogCaptureFixture, after_stop: bool
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    stop = threading.Event()

    def stopped() -> None:
        if after_stop:  # the exchange was cut by close(): whatever it raised, it was the shutdown
            stop.set()
            raise _timeout("cut")
        raise ShutdownError("client closed during the desktops_detail call")

    source = _Source(clock, lambda: None)
    runner = PeriodicRunner(source, clock, stop, lambda: 60.0)
    runner.run_once()
    source._step = stopped
    runner.run_once()
    status = runner.health.status
    assert status.up and status.consecutive_failures == 0 and not status.overdue
    assert _lines(caplog) == ["source first refresh ok source=inventory"]


def test_a_failed_refresh_outside_shutdown_still_counts() -> None:
    clock = FakeClock()

    def fail() -> None:
        raise ExporterError("boom")

    source = _Source(clock, fail)
    runner = PeriodicRunner(source, clock, threading.Event(), lambda: 60.0)
    runner.run_once()
    assert not runner.health.status.up and runner.health.status.consecutive_failures == 1


# -------------------------------------------------------------------- nothing to do is up


class _MonConfig:
    enabled = True


class _Monitoring:
    """Stands in for MonitoringSource: fetches succeed, or stay stuck in ``held``."""

    def __init__(self, clock: FakeClock) -> None:
        self.config = _MonConfig()
        self.health = SourceHealth("monitoring", clock)
        self.fetched: list[str] = []

    def interval(self) -> float:
        return 300.0

    def fetch(self, did: str) -> bool:
        self.fetched.append(did)
        self.health.success()
        return True

    def publish(self) -> bool:
        return True

    def forget(self, desktop_ids: set[str]) -> None:
        pass

    def set_fleet_size(self, desktops: int) -> None:
        pass


class _Inventory:
    def __init__(self, ids: list[str] | None) -> None:
        self.snapshot = None if ids is None else InventorySnapshot.of([Desktop(d) for d in ids], 0.0)


class _HeldPool:
    """Holds every fetch until released: a worker pool stuck in the upstream."""

    def __init__(self) -> None:
        self.held: list[tuple[Callable[[str], bool], str, Future[bool]]] = []

    def submit(self, fn: Callable[[str], bool], did: str) -> Future[bool]:
        fut: Future[bool] = Future()
        self.held.append((fn, did, fut))
        return fut

    def release(self) -> None:
        for fn, did, fut in self.held:
            fut.set_result(fn(did))
        self.held.clear()


def _monitoring(ids: list[str] | None) -> tuple[MonitoringRunner, _Monitoring, _Inventory, FakeClock]:
    clock = FakeClock()
    source = _Monitoring(clock)
    inventory = _Inventory(ids)
    runner = MonitoringRunner(
        source,  # type: ignore[arg-type]
        inventory,  # type: ignore[arg-type]
        clock,
        threading.Event(),
        4,
        call_deadline=lambda: 60.0,
    )
    return runner, source, inventory, clock


def test_monitoring_with_no_desktops_is_up_after_a_pass_with_nothing_to_fetch() -> None:
    runner, source, _, clock = _monitoring([])
    pool = _HeldPool()
    assert not source.health.status.up  # nothing has run yet
    runner.step(pool)
    first = source.health.status
    assert first.up and first.last_success == clock.time()
    assert not pool.held
    clock.advance(299.0)
    runner.step(pool)
    assert source.health.status.last_success == first.last_success  # one pass per interval
    clock.advance(1.0)
    runner.step(pool)
    assert source.health.status.last_success == first.last_success + 300.0


def test_monitoring_before_any_inventory_is_not_up() -> None:
    runner, source, inventory, _ = _monitoring(None)
    runner.step(_HeldPool())
    assert not source.health.status.up and not source.health.status.attempted
    inventory.snapshot = InventorySnapshot.of([], 0.0)
    runner.step(_HeldPool())
    assert source.health.status.up


def test_monitoring_whose_fleet_empties_turns_up() -> None:
    runner, source, inventory, _ = _monitoring(["d1"])
    pool = _HeldPool()
    runner.step(pool)
    assert not source.health.status.up and len(pool.held) == 1
    inventory.snapshot = InventorySnapshot.of([], 0.0)
    runner.step(pool)
    assert source.health.status.up and not source.health.status.overdue


def test_a_monitoring_cycle_stuck_past_its_deadline_turns_up_to_zero_then_recovers() -> None:
    runner, source, _, clock = _monitoring(["d1", "d2"])
    pool = _HeldPool()
    source.health.success()  # earlier cycles went well
    runner.step(pool)
    assert len(pool.held) == 2  # both desktops' fetches are stuck in the workers
    clock.advance(360.0)
    assert source.health.status.up
    clock.advance(1.0)
    assert not source.health.status.up and source.health.status.overdue
    pool.release()
    runner.step(pool)
    assert source.health.status.up and not source.health.status.overdue
    assert source.health.status.last_duration == 361.0


# ------------------------------------------------------------------------------ readiness

ENV = {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"}


def _settings(ready_timeout: str = "2m") -> Settings:
    raw = {"region": "ap-southeast-1", "project_id": "0" * 32, "web": {"ready_timeout": ready_timeout}}
    return parse_config(raw, ENV)


class _Idle(PeriodicRunner):
    """A runner that refreshes nothing: the test reports the outcomes to its health."""

    def run(self) -> None:
        return


def _idle(source: Source, x: Exporter) -> Runner:
    return _Idle(source, x.clock, x.stop_event)


# The inventory entry only, with a runner that does nothing: the test reports its outcomes.
TABLE = (dataclasses.replace(SOURCES[0], runner=_idle),)


def _exporter(ready_timeout: str = "2m") -> tuple[Exporter, FakeClock]:
    clock = FakeClock()
    return Exporter(_settings(ready_timeout), clock, TABLE), clock


def test_not_ready_before_start_nor_before_any_outcome() -> None:
    e, clock = _exporter()
    assert not e.ready()
    e.start()
    clock.advance(119.0)
    assert not e.ready()
    e.stop()


def test_ready_at_the_first_successful_inventory_refresh() -> None:
    e, _ = _exporter()
    e.start()
    e.health("inventory").success()
    assert e.ready()
    e.stop()


def test_a_failed_inventory_refresh_is_not_ready_until_the_ready_timeout() -> None:
    e, clock = _exporter()
    e.start()
    e.health("inventory").failure(_timeout("x"))
    assert not e.ready()
    clock.advance(119.0)
    assert not e.ready()
    clock.advance(1.0)
    assert e.ready()  # a broken upstream does not block a rollout; up says what is wrong
    assert not e.health("inventory").status.up
    e.stop()


def test_a_ready_timeout_of_zero_is_ready_at_start() -> None:
    e, _ = _exporter("0s")
    assert not e.ready()
    e.start()
    assert e.ready()
    e.stop()


def test_ready_stays_ready_when_the_inventory_later_fails() -> None:
    e, _ = _exporter()
    e.start()
    e.health("inventory").success()
    e.health("inventory").failure(_timeout("x"))
    assert e.ready()
    e.stop()


def test_several_targets_are_ready_when_every_one_is() -> None:
    two = [
        _settings(),
        dataclasses.replace(_settings(), config=dataclasses.replace(_settings().config, region="cn-north-4")),
    ]
    multi = MultiExporter(two, FakeClock(), table=TABLE)  # the idle runner only
    multi.start()
    multi.exporters[0].health("inventory").success()
    assert not multi.ready()
    multi.exporters[1].health("inventory").success()
    assert multi.ready()
    multi.stop()


# ------------------------------------------------------------------------------- shutdown


def test_stop_returns_within_its_bound_and_names_a_runner_that_did_not_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    class Stuck(PeriodicRunner):
        """A runner inside a call nothing can cut: it ignores the stop event."""

        def run(self) -> None:
            release.wait(30)

    def stuck(source: Source, x: Exporter) -> Runner:
        return Stuck(source, x.clock, x.stop_event)

    e = Exporter(_settings(), FakeClock(), (dataclasses.replace(SOURCES[0], runner=stuck),))
    e.start()
    try:
        with caplog.at_level(logging.WARNING, "exporter.app.exporter"):
            e.stop(timeout=0.2)  # bounded by the join timeout: returns although the runner is stuck
        assert e.stop_event.is_set()
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
            "runner did not stop in time, leaving it behind source=inventory"
        ]
        assert e.runner("inventory") is not None and e.runner("inventory").daemon  # type: ignore[union-attr]
    finally:
        release.set()


# ----------------------------------------------------------------------------------- docs


def _words(text: str) -> str:
    return " ".join(text.split())


def test_readme_and_chart_state_the_bounds_the_code_keeps() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = _words((root / "README.md").read_text("utf-8"))
    chart = _words((root / "helm/workspace-exporter/README.md").read_text("utf-8"))
    values = yaml.safe_load((root / "helm/workspace-exporter/values.yaml").read_text("utf-8"))
    defaults = _settings().config
    bound, runners = f"{SHUTDOWN_BOUND:g} s", f"{STOP_TIMEOUT:g} s"
    assert f"the process exits within {bound} whatever the upstream does" in readme
    assert f"the refresh threads get {runners} to finish" in readme
    assert f"the exporter exits within {bound} whatever the upstream does" in chart
    assert values["terminationGracePeriodSeconds"] >= 2 * SHUTDOWN_BOUND
    # The deadline as documented, with the documented defaults.
    inv, call = defaults.inventory.interval, defaults.http.call_deadline
    assert refresh_deadline(inv, call) == 360.0
    assert f"inventory by default {inv / 60:g} min + {call:g} s" in readme
    assert "its interval plus `http.call_deadline`" in readme
    assert "interval plus `config.http.call_deadline`" in chart
    assert "first *successful* inventory refresh (of every target), or once `web.ready_timeout`" in readme
    assert "first *successful* inventory refresh, or once `config.web.ready_timeout`" in chart
