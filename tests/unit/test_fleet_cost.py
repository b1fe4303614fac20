"""The fleet cost table's formulas (exporter/sources/fleet_cost.py) against the calls the
sources make, refreshing against the fake's handlers in memory."""

from __future__ import annotations

import dataclasses

from exporter.clock import FakeClock
from exporter.config.settings import Config
from exporter.fake import FakeWorkspace
from exporter.sources import fleet_cost
from exporter.sources.agents import AgentsSource
from exporter.sources.alarms import AlarmsSource
from exporter.sources.pools import PoolsSource
from exporter.sources.quotas import QuotasSource
from exporter.sources.tasks import TasksSource
from exporter.sources.user_events import UserEventsSource
from tests.unit.fleet_api import FleetApi

T0 = 1_795_000_020.0
KINDS = {
    "pools": PoolsSource,
    "quotas": QuotasSource,
    "tasks": TasksSource,
    "agents": AgentsSource,
    "alarms": AlarmsSource,
    "user_events": UserEventsSource,
}


def test_the_calls_of_one_refresh_are_the_table_s_calls_per_hour_times_the_interval() -> None:
    clock = FakeClock(T0)
    state = FakeWorkspace(250, now=clock.time)  # three pages of the 100-a-page plug-in listing
    for i in range(150):
        state.add_alarm(1 + i % 2, T0 - 60 * i, status="ok")  # two pages of alarm records per level
    default = Config()
    cfg = dataclasses.replace(
        default,
        agents=dataclasses.replace(default.agents, monitoring_plugins=True),
        user_events=dataclasses.replace(default.user_events, enabled=True),
    )
    # The fake as a tenant: its pools, tasks, upgrade tasks and alarm records; no task runs in
    # steady state and no user events.
    tenant = fleet_cost.Tenant(250, 2, 2, 0, 1, 75, 0)
    expected = fleet_cost.calls_per_hour(cfg, tenant)
    for name, kind in KINDS.items():
        api = FleetApi(state)
        section = getattr(cfg, name)
        source = kind(api, section, clock, api.sink)
        source.refresh()  # the first refresh reads every task's records: steady state from the next
        api.calls.clear()
        source.refresh()
        per_refresh = {a: n * section.interval / 3600 for a, n in expected[name].items()}
        per_refresh.pop("scheduled_task_records", None)  # depends on runs: below
        made = {a: float(api.count(a)) for a in per_refresh}
        assert made == per_refresh, name
    assert expected["tasks"]["scheduled_task_records"] == 2 * 3600 / 21600  # each task every 6 h


def test_the_defaults_cost_under_a_tenth_of_the_inventory_and_monitoring() -> None:
    """What the README says: the fleet sources add little to the exporter's calls."""
    for tenant in (fleet_cost.SMALL, fleet_cost.LARGE):
        assert fleet_cost.total(fleet_cost.calls_per_hour(Config(), tenant)) < 150


def test_the_readme_states_the_totals_of_the_table() -> None:
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8").split())
    small, large = (
        fleet_cost.total(fleet_cost.calls_per_hour(Config(), t)) for t in (fleet_cost.SMALL, fleet_cost.LARGE)
    )
    assert f"(they add the [table's](#request-budget) {small:,.0f} to {large:,.0f})" in readme
