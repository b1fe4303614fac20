"""The scheduled tasks source on a FakeClock over the fake's handlers in memory: which records
it reads and when, the newest run whatever the record order, and its families."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import TasksConfig
from exporter.errors import ClientRequestError
from exporter.exposition import tasks as task_families
from exporter.fake import FakeWorkspace
from exporter.fake.fleet_data import task_time
from exporter.sources.fleet_common import Notes
from exporter.sources.tasks import MAX_RECORD_CALLS, RECHECK_S, TasksSource, parse_time
from tests.unit.fleet_api import FleetApi
from tests.unit.test_fleet_sources import value

T0 = 1_795_000_020.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def state(clock: FakeClock) -> FakeWorkspace:
    return FakeWorkspace(20, now=clock.time)


def _tasks(state: FakeWorkspace, clock: FakeClock, **cfg: Any) -> tuple[TasksSource, FleetApi]:
    api = FleetApi(state)
    return TasksSource(api, TasksConfig(**cfg), clock, api.sink), api


def _nightly(state: FakeWorkspace) -> str:
    return str(state.scheduled_tasks[0]["id"])


def test_the_latest_run_of_each_task_that_ran_is_exported(state: FakeWorkspace, clock: FakeClock) -> None:
    nightly = _nightly(state)
    state.run_task(nightly, T0 - 3600, failed=3)
    src, api = _tasks(state, clock)
    src.refresh()
    fams = task_families.families(src.snapshot)
    assert value(fams, "scheduled_task_last_run_desktops", task_id=nightly, result="failed") == 3
    assert value(fams, "scheduled_task_last_run_desktops", task_id=nightly, result="success") == 15
    assert value(fams, "scheduled_task_last_run_desktops", task_id=nightly, result="skipped") == 2
    assert value(fams, "scheduled_task_last_run_timestamp_seconds", task_id=nightly) == T0 - 3600
    assert value(fams, "scheduled_task_last_status", task_id=nightly, status="FAIL") == 1
    assert value(fams, "scheduled_task_last_status", task_id=nightly, status="SUCCESS") == 0
    info = {"task_name": "nightly-reboot", "task_type": "REBOOT", "scheduled_type": "DAY", "enabled": "true"}
    assert value(fams, "scheduled_task_info", task_id=nightly, **info) == 1
    weekly = str(state.scheduled_tasks[1]["id"])
    assert value(fams, "scheduled_task_last_status", task_id=weekly, status="SUCCESS") is None  # never ran
    assert value(fams, "scheduled_task_next_run_timestamp_seconds", task_id=weekly) is not None
    # offset and limit always sent (the API requires them); records only of the task that ran.
    assert api.calls[0] == ("scheduled_tasks", {"offset": ["0"], "limit": ["50"]})
    assert [a for a, _ in api.calls] == ["scheduled_tasks", "scheduled_task_records"]


def test_records_are_read_again_only_after_a_run_or_the_recheck_interval(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _tasks(state, clock)
    src.refresh()
    src.refresh()
    assert api.count("scheduled_task_records") == 1  # unchanged: no records call
    clock.advance(600)
    state.run_task(_nightly(state), clock.time(), failed=1)  # last_status changes: it ran
    src.refresh()
    assert api.count("scheduled_task_records") == 2
    fams = task_families.families(src.snapshot)
    assert value(fams, "scheduled_task_last_run_desktops", task_id=_nightly(state), result="failed") == 1
    clock.advance(RECHECK_S)
    src.refresh()
    assert api.count("scheduled_task_records") == 3  # the safety re-read


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_the_newest_run_is_found_whatever_the_record_order(
    state: FakeWorkspace, clock: FakeClock, order: str
) -> None:
    nightly = _nightly(state)
    for i in range(15):  # more records than one page of 10, each newer than the one before
        state.run_task(nightly, T0 - 3600 * (15 - i), failed=i % 2)
    state.run_task(nightly, T0 - 60, failed=7)
    state.configure(task_records_order=order)
    src, api = _tasks(state, clock)
    src.refresh()
    fams = task_families.families(src.snapshot)
    assert value(fams, "scheduled_task_last_run_desktops", task_id=nightly, result="failed") == 7
    assert value(fams, "scheduled_task_last_run_timestamp_seconds", task_id=nightly) == T0 - 60
    calls = 2 if order == "oldest_first" else 1  # ascending with more left: the last page too
    assert api.count("scheduled_task_records") == calls


def test_a_task_deleted_between_listing_and_records_is_skipped_other_errors_fail(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _tasks(state, clock)
    api.answers["scheduled_task_records"] = ClientRequestError("scheduled_task_records", 404, "WKS.00211404")
    src.refresh()
    assert src.snapshot is not None and src.snapshot.runs == ()
    api.answers["scheduled_task_records"] = ClientRequestError("scheduled_task_records", 400, "WKS.00211102")
    state.run_task(_nightly(state), T0)
    with pytest.raises(ClientRequestError):
        src.refresh()


def test_triggered_tasks_need_their_own_listing_and_the_cap_holds(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _tasks(state, clock, include_triggered=True)
    src.refresh()
    assert src.snapshot is not None and len(src.snapshot.tasks) == 3
    assert api.calls[1] == (
        "scheduled_tasks",
        {"scheduled_type": ["LIFE_CYCLE"], "offset": ["0"], "limit": ["50"]},
    )
    capped, api = _tasks(state, clock, max_tasks=1, include_triggered=True)
    capped.refresh()
    assert capped.snapshot is not None and len(capped.snapshot.tasks) == 1
    assert api.sink.truncations == [("scheduled_tasks", "tasks.max_tasks")]
    assert api.count("scheduled_tasks") == 1  # cut: the triggered listing is not made


def test_records_calls_per_refresh_are_bounded(state: FakeWorkspace, clock: FakeClock) -> None:
    src, api = _tasks(state, clock)
    base = state.scheduled_tasks[0]
    many = [{**base, "id": f"t-{i}", "last_status": "SUCCESS"} for i in range(MAX_RECORD_CALLS + 20)]
    api.answers["scheduled_tasks"] = lambda q: {"total_count": len(many), "scheduled_tasks": many[
        int(q["offset"][0]) : int(q["offset"][0]) + int(q["limit"][0])]}  # fmt: skip
    api.answers["scheduled_task_records"] = {"total_count": 0, "tasks_records": []}
    src.refresh()
    assert api.count("scheduled_task_records") == MAX_RECORD_CALLS
    src.refresh()
    assert api.count("scheduled_task_records") == MAX_RECORD_CALLS + 20  # the rest, next refresh


def test_times_are_read_in_the_task_zone_and_a_zone_not_known_as_utc() -> None:
    notes = Notes("tasks")
    t = 1_795_000_000
    assert parse_time(task_time(t, "Asia/Shanghai"), "Asia/Shanghai") == t
    utc = datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert parse_time(utc, "UTC") == t == parse_time(utc, "")
    notes.begin()
    assert parse_time(utc, "Mars/Olympus_Mons", notes) == t
    assert parse_time(utc, "../../etc/passwd", notes) == t
    assert parse_time("2026-13-01 00:00:00", "UTC") is None
    assert parse_time(None, "UTC") is None and parse_time(12345, "UTC") is None
