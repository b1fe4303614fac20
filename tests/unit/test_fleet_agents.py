"""The agents source (versions, the reference version, outdated desktops, upgrade tasks,
plug-ins) and the user events source, on a FakeClock over the fake's handlers in memory."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import AgentsConfig, UserEventsConfig
from exporter.exposition import agents as agent_families
from exporter.exposition import user_events as event_families
from exporter.fake import FAILURE_EXAMPLE, FakeWorkspace
from exporter.sources.agents import AgentsSource, reference_version, version_key
from exporter.sources.user_events import UserEventsSource
from exporter.timeutil import fmt_seconds
from tests.unit.fleet_api import FleetApi
from tests.unit.test_fleet_sources import samples, value

T0 = 1_795_000_020.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def state(clock: FakeClock) -> FakeWorkspace:
    return FakeWorkspace(20, now=clock.time)


def _agents(state: FakeWorkspace, clock: FakeClock, **cfg: Any) -> tuple[AgentsSource, FleetApi]:
    api = FleetApi(state)
    return AgentsSource(api, AgentsConfig(**cfg), clock, api.sink), api


def _versions(*rows: tuple[str, str, int]) -> dict[str, Any]:
    return {"version_statistics": [{"version": v, "os_type": o, "desktop_count": n} for v, o, n in rows]}


def test_versions_per_os_with_the_fleet_reference_and_the_desktops_below_it(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _agents(state, clock)
    src.refresh()
    fams = agent_families.families(src.snapshot)
    assert value(fams, "agent_version_desktops", os_type="Windows", version="24.6.0.1") == 14
    assert value(fams, "agent_outdated_desktops", os_type="Windows") == 2
    assert value(fams, "agent_outdated_desktops", os_type="Linux") == 0
    assert (
        value(fams, "agent_reference_version_info", os_type="Windows", version="24.6.0.1", source="fleet")
        == 1
    )
    task = state.upgrade_tasks[0]
    labels = {"task_name": "hda-24.6-rollout", "task_type": "desktop", "scheduled_type": "FIXED_TIME"}
    assert value(
        fams, "upgrade_task_info", task_id=task["id"], target_version="24.6.0.1", enabled="true", **labels
    )
    assert value(fams, "upgrade_task_last_status", task_id=task["id"], status="SUCCESS") == 1
    assert value(fams, "upgrade_task_last_status", task_id=task["id"], status="FAILED") == 0
    assert not any(n == "monitoring_plugin_desktops" for n, _ in samples(fams))  # opt-in
    assert [a for a, _ in api.calls] == ["desktop_version_statistics", "upgrade_tasks"]
    assert api.calls[1][1] == {"offset": ["0"], "limit": ["100"]}


def test_a_pilot_on_a_newer_agent_moves_no_reference_a_rollout_does() -> None:
    counts = {"24.6.0.1": 18, "24.9.0.1": 1, "24.3.0.2": 1}
    assert reference_version(counts, None, 0.2)[0] == "24.6.0.1"
    counts = {"24.6.0.1": 15, "24.9.0.1": 5}
    assert reference_version(counts, None, 0.2)[0] == "24.9.0.1"  # 25 %: the new reference
    assert reference_version(counts, (24, 6, 0, 1), 0.2) == ("24.6.0.1", "config", (24, 6, 0, 1))
    assert reference_version({"beta": 10}, None, 0.2) == ("", "fleet", None)
    assert version_key("24.10.0.1") is not None and version_key("24.10.0.1") > (version_key("24.9.0.1") or ())
    assert version_key("24.6-beta") is None


def test_a_configured_target_version_wins_and_a_version_that_is_not_numbers_counts_as_outdated(
    state: FakeWorkspace, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "exporter")
    src, api = _agents(state, clock, target_versions=["Windows=24.9.0.1"])
    api.answers["desktop_version_statistics"] = _versions(
        ("24.6.0.1", "Windows", 10), ("24.9.0.1", "Windows", 2), ("nightly", "Windows", 1), ("1.0", "", 3)
    )
    src.refresh()
    src.refresh()
    fams = agent_families.families(src.snapshot)
    assert (
        value(fams, "agent_reference_version_info", os_type="Windows", version="24.9.0.1", source="config")
        == 1
    )
    assert value(fams, "agent_outdated_desktops", os_type="Windows") == 11
    assert value(fams, "agent_version_desktops", os_type="unknown", version="1.0") == 3
    warned = [r.getMessage() for r in caplog.records if "not dotted numbers" in r.getMessage()]
    assert len(warned) == 1, warned


def test_versions_past_the_cap_are_summed_as_other_and_bad_rows_counted(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _agents(state, clock, max_versions=2)
    rows = [(f"24.{i}.0.1", "Windows", 10 - i) for i in range(5)]
    body = _versions(*rows)
    body["version_statistics"] += [
        {"version": "", "os_type": "Windows", "desktop_count": 1},
        {"desktop_count": "x"},
    ]
    api.answers["desktop_version_statistics"] = body
    src.refresh()
    fams = agent_families.families(src.snapshot)
    assert value(fams, "agent_version_desktops", os_type="Windows", version="24.0.0.1") == 10
    assert value(fams, "agent_version_desktops", os_type="Windows", version="other") == 8 + 7 + 6
    assert api.sink.invalid == {"desktop_version_statistics": 2}


def test_monitoring_plug_ins_are_read_only_when_asked_and_only_summed(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _agents(state, clock, monitoring_plugins=True)
    src.refresh()
    fams = agent_families.families(src.snapshot)
    assert (
        value(fams, "monitoring_plugin_desktops", plugin="ces-agent", version="2.7.2", installed="true") == 18
    )
    assert value(fams, "monitoring_plugin_desktops", plugin="ces-agent", version="", installed="false") == 2
    assert ("agents_install", {"offset": ["0"], "limit": ["100"]}) in api.calls
    assert not any("desktop_id" in dict(labels) for _, labels in samples(fams))  # never per desktop


# ------------------------------------------------------------------------------ user events


def _events(state: FakeWorkspace, clock: FakeClock, **cfg: Any) -> tuple[UserEventsSource, FleetApi]:
    api = FleetApi(state)
    return UserEventsSource(api, UserEventsConfig(enabled=True, **cfg), clock, api.sink), api


def test_user_events_are_counted_once_across_overlapping_windows(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _events(state, clock)
    state.add_connection_record(connection_start_time=T0 - 60)  # before the start: not counted
    clock.advance(30)
    state.add_connection_record(connection_start_time=clock.time() - 5)
    state.add_connection_record(
        connection_start_time=clock.time() - 5, connection_failure_reason=FAILURE_EXAMPLE
    )
    for _ in range(3):
        src.refresh()
        clock.advance(60)
    fams = event_families.families(src.snapshot)
    assert value(fams, "user_events_total", event_type="LOGIN", result="success") == 1
    assert value(fams, "user_events_total", event_type="LOGIN", result="failure") == 1
    assert value(fams, "user_event_failures_total", event_type="LOGIN", error_code="400200") == 1
    windows = [q for a, q in api.calls if a == "user_events"]
    assert all(set(q) >= {"start_time", "end_time"} for q in windows)  # both always sent
    assert windows[0]["start_time"] == [fmt_seconds(T0)]  # the process start
    assert windows[2]["start_time"] == windows[0]["start_time"]  # the overlap re-reads the start


def test_event_types_and_codes_past_their_caps_become_other(state: FakeWorkspace, clock: FakeClock) -> None:
    src, api = _events(state, clock, max_event_types=1, max_error_codes=1, lookback=3600.0)
    event = {"event_time": "2026-11-18T10:30:00Z", "is_success": False, "event_trace_id": "t"}
    items = [
        {**event, "event_type": "LOGIN", "error_code": "1"},
        {**event, "event_type": "LOGOUT", "error_code": "1"},
        {**event, "event_type": "LOGIN", "error_code": "2"},
        {**event, "event_type": "LOGIN", "error_code": ""},
        {**event, "event_type": "LOGIN", "error_code": "1"},  # the same event again: counted once
        {**event, "event_type": "LOGIN"},  # no error_code key: differs from "" (another key)
        {"event_type": "LOGIN", "is_success": "yes", "event_time": "2026-11-18T10:30:00Z"},
    ]
    api.answers["user_events"] = {"count": len(items), "items": items}
    src.refresh()
    snap = src.snapshot
    assert dict(snap.failures) == {("LOGIN", "1"): 1, ("other", "1"): 1, ("LOGIN", "other"): 3}
    assert snap.overflow == 4 and api.sink.invalid == {"user_events": 1}


def test_the_first_poll_at_the_start_never_asks_for_a_future_end(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    """Started and polled in the same second: the window ends now (the API refuses a later
    end) and starts a second before, whose events lie before the start and are not counted."""
    state.add_connection_record(connection_start_time=T0)
    src, api = _events(state, clock)
    src.refresh()
    ((_, query),) = api.calls
    assert query["end_time"] == [fmt_seconds(T0)] and query["start_time"] == [fmt_seconds(T0 - 1)]
    assert src.snapshot.events == (((("LOGIN", "success"), 1)),)
