"""The exporter's own requests satisfy every row of the constraint table.

Every source, the ``check-config --online`` checks and both exports run against the
strict fake over real HTTP on 127.0.0.1, on a :class:`FakeClock` shared with the fake,
at the configuration's defaults and at the minimum and the maximum of every key that
shapes a request (windows, look-backs, overlaps, delays, batch and call caps). The fake
records every request it checked; each row of the table is then held against every one
of them (one test per row), and no request may have been refused or adjusted. The same
holds for a whole exporter against 20 desktops, and for every source against 10,000.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.app.fleet import FLEET
from exporter.cli.export_connections import ExportOptions, export_async, export_sync
from exporter.cli.online import TargetCheck
from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.constraints import TABLE, Call, Rule
from exporter.fake import FakeServer, FakeWorkspace, strict
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.connections import ConnectionsSource
from exporter.sources.events import EventsSource
from exporter.sources.inventory import InventorySource
from exporter.sources.monitoring import MonitoringSource
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from tests.conftest import FakeApi, RunningExporter, wait_for

pytestmark = pytest.mark.integration

T0 = 1_795_000_000.0
NS = "huaweicloud_workspace_"

# The configuration keys that shape a request, at their documented minimum and maximum.
EXTREMES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "minimums": {
        "monitoring": {"window": "1h", "cloudeye_delay": "0s", "interval": "1m"},
        "connections": {"overlap": "0s", "lookback": "0s", "interval": "30s"},
        "events": {
            "recordings_window": "1h",
            "lookback": "0s",
            "max_recordings": 1,
            "max_calls_per_cycle": 1,
        },
        "tasks": {"max_tasks": 1},
        "alarms": {"max_records": 100, "levels": ["info"]},
        "user_events": {"overlap": "0s", "lookback": "0s", "interval": "30s"},
    },
    "maximums": {
        "monitoring": {"window": "30d", "cloudeye_delay": "1h", "interval": "1d", "max_age": "7d"},
        "connections": {"overlap": "1d", "lookback": "30d", "interval": "1h"},
        "events": {
            "recordings_window": "15d",
            "lookback": "15d",
            "max_recordings": 100000,
            "max_calls_per_cycle": 100000,
        },
        "pools": {"max_pools": 10000},
        "tasks": {"max_tasks": 5000},
        "alarms": {"max_records": 100000, "levels": ["critical", "major", "minor", "info"]},
        "user_events": {
            "overlap": "1d",
            "lookback": "29d",
            "interval": "1h",
            "max_events_per_poll": 10_000_000,
        },
    },
}


class Sink(NullObserver):
    """The client's observer and the sources' invalid-response sink: nothing to count here."""


@dataclasses.dataclass
class Run:
    """What the fakes saw: every checked request per API, and every violation."""

    calls: dict[str, list[Call]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    violations: list[strict.Violation] = dataclasses.field(default_factory=list)

    def add(self, state: FakeWorkspace) -> None:
        for call_api in {api for api, _ in state._checked}:
            self.calls[call_api] += state.checked(call_api)
        self.violations += state.violations


def populate(state: FakeWorkspace, clock: FakeClock) -> None:
    """Connection records, 120 recordings (more than a page) and one with 150 operations."""
    state.seed_activity(connection_records=60, screen_records=3, operations=5)
    for i in range(120):
        state.add_screen_record(status="UPLOAD_COMPLETED", start_time=clock.time() - 3000 - 60 * i)
    busy = state.add_screen_record(start_time=clock.time() - 1200)["id"]
    for i in range(150):
        state.add_operation(busy, "APP", "APP_START", "INFO", operation_time=clock.time() - 1100 + i)


def settings_for(url: str, state: FakeWorkspace, overrides: dict[str, Any], **top: Any) -> Settings:
    raw: dict[str, Any] = {
        "region": state.region,
        "project_id": state.project_id,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "http": {"max_retries": 0},
        "budget": {"burst": 1000},
        **top,
    }
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    env = {"HUAWEICLOUD_SDK_AK": state.ak, "HUAWEICLOUD_SDK_SK": state.sk}
    if raw.get("auth", {}).get("method") == "token":
        env = {"WORKSPACE_EXPORTER_IAM_PASSWORD": state.iam_password}
    return parse_config(raw, env)


def exercise(
    state: FakeWorkspace, url: str, clock: FakeClock, overrides: dict[str, Any], sample: int
) -> None:
    """Every request the exporter makes, as it makes them, at the given configuration."""
    sink = Sink()
    clients: list[WorkspaceClient] = []

    def client_for(settings: Settings) -> WorkspaceClient:
        client = WorkspaceClient(settings, Budget(settings.config.budget, clock), sink, clock)
        clients.append(client)
        return client

    settings = settings_for(url, state, overrides)
    cfg = settings.config
    client = client_for(settings)
    try:
        inventory = InventorySource(client, cfg.inventory, clock, sink, cfg.shard)
        inventory.refresh()
        assert inventory.snapshot is not None and len(inventory.snapshot.desktops) == len(state.desktops)
        monitor = MonitoringSource(client, cfg.monitoring, clock, sink)
        for desktop in state.desktop_rows()[:sample]:
            assert monitor.fetch(desktop["desktop_id"])
        for region_has_v2 in ("available", "404"):
            state.configure(ces_v2=region_has_v2)
            stop = threading.Event()
            ces = CloudEyeSource(client, cfg.monitoring, clock, sink, lambda: inventory.snapshot, stop)
            ces.refresh()
            assert ces.path == ("cloudeye_v2" if region_has_v2 == "available" else "cloudeye_v1")
        state.configure(ces_v2="available")
        for version in ("v2", "v1.0"):
            records = settings_for(
                url, state, {**overrides, "connections": {**overrides.get("connections", {}), "api": version}}
            )
            source = ConnectionsSource(client_for(records), records.config.connections, clock, sink)
            source.refresh()
            clock.advance(60)
            source.refresh()
        events = EventsSource(client, cfg.events, clock, sink, lambda: 100.0)
        for _ in range(3):
            events.refresh()
            clock.advance(60)
        # Every fleet source, the opt-in parts on; a task that ran, an active alarm.
        fleet = dataclasses.replace(
            cfg,
            tasks=dataclasses.replace(cfg.tasks, include_triggered=True),
            agents=dataclasses.replace(cfg.agents, monitoring_plugins=True),
            user_events=dataclasses.replace(cfg.user_events, enabled=True),
        )
        state.run_task(state.scheduled_tasks[0]["id"], clock.time() - 60, failed=1)
        state.add_alarm(1, clock.time() - 60)
        for name, (kind, _) in FLEET.items():
            fleet_source = kind(client, getattr(fleet, name), clock, sink)
            for _ in range(2):
                fleet_source.refresh()
                clock.advance(60)
        assert all(row.status == "ok" for row in TargetCheck(settings, client, clock).run())
        TargetCheck(
            settings_for(url, state, overrides, project_id=""),
            client_for(settings_for(url, state, overrides, project_id="")),
            clock,
        ).run()
        token = settings_for(
            url,
            state,
            overrides,
            auth={"method": "token", "username": state.iam_user, "domain_name": state.iam_domain},
        )
        client_for(token).request("desktops_detail", params={"offset": 0, "limit": 1})
        now = clock.time()
        state.configure(export_task_polls=0)
        for asynchronous in (False, True):
            opts = ExportOptions(
                Path("unused"), now - 3600, now, None, None, None, "en_US", asynchronous, 60.0, 1.0
            )
            if asynchronous:
                export_async(client, opts, clock, lambda _: None)
            else:
                export_sync(client, opts)
    finally:
        for c in clients:
            c.close()


@pytest.fixture(scope="module")
def run() -> Run:
    out = Run()
    for overrides in EXTREMES.values():
        clock = FakeClock(T0)
        state = FakeWorkspace(desktops=20, now=clock.time)
        populate(state, clock)
        with FakeServer(state) as url:
            exercise(state, url, clock, overrides, sample=3)
        out.add(state)
    return out


def test_no_request_at_the_defaults_or_the_extremes_was_refused_or_adjusted(run: Run) -> None:
    assert run.violations == [], strict.describe(run.violations)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_every_request_of_the_api_satisfies_the_row(run: Run, row: Rule) -> None:
    calls = run.calls[row.api]
    assert calls, f"the exporter never called {row.api}: nothing shows it respects {row.id}"
    broken = [(c.query, c.body) for c in calls if row.check(c) is not None]
    assert broken == [], row.text()


def test_the_pages_asked_for_are_the_tables_largest(run: Run) -> None:
    """The listings page at the largest ``limit`` each API takes (100 for os-operations)."""
    for api, largest in (("os_operations", 100), ("screen_records", 100), ("desktops_detail", 500)):
        limits = {int(c.query["limit"][0]) for c in run.calls[api] if "limit" in c.query}
        assert max(limits) == largest, (api, limits)
    offsets = {int(c.query["offset"][0]) for c in run.calls["os_operations"]}
    assert {0, 100} <= offsets  # the recording with 150 operations takes two pages


@pytest.mark.parametrize("source", ["workspace", "cloudeye"])
def test_a_whole_exporter_against_20_desktops_breaks_no_row(
    fake_api: FakeApi, start_exporter: Callable[..., RunningExporter], source: str
) -> None:
    state = fake_api.state
    for _ in range(10):
        state.add_desktop()
    state.seed_activity(connection_records=30, screen_records=3, operations=120)
    r = start_exporter(
        monitoring={"source": source},
        connections={"enabled": True},
        events={"enabled": True, "lookback": "1h"},
    )
    for name in ("inventory", "monitoring", "connections", "events"):
        assert wait_for(lambda name=name: r.value(NS + "up", source=name) == 1.0, timeout=30), name
    assert wait_for(lambda: len(state.checked("os_operations")) >= 6, timeout=30)  # 3 x 120 ops: 2 pages
    assert sum(1 for name, _ in r.samples() if name == NS + "desktop_info") == 20
    assert state.violations == [], strict.describe(state.violations)
    apis = {"desktops_detail", "desktops_list", "connections", "screen_records", "os_operations"}
    apis |= {"desktop_monitor"} if source == "workspace" else {"ces_batch_v2"}
    assert apis <= {api for api in state.call_counts()}


def test_every_source_against_10000_desktops_breaks_no_row() -> None:
    """The fleet size README sizes for: inventory (20 + 10 pages), Cloud Eye v2 and v1 over
    every desktop, a sample of per-desktop calls, records, events and both exports."""
    clock = FakeClock(T0)
    state = FakeWorkspace(desktops=10_000, now=clock.time)
    populate(state, clock)
    with FakeServer(state) as url:
        exercise(state, url, clock, {}, sample=5)
    assert state.violations == [], strict.describe(state.violations)
    # 20 pages, and one call each from check-config --online (twice) and the token client
    assert len(state.checked("desktops_detail")) == 20 + 3
    assert len(state.checked("ces_batch_v1")) == 12 * 10_000 // 500


def test_v1_login_records_are_read_whole_when_the_server_answers_smaller_pages() -> None:
    """No maximum page is published for the v1.0 list: a server that answers 20 records when
    asked for 1,000 must not end the listing after its first page."""
    clock = FakeClock(T0)
    state = FakeWorkspace(desktops=3, now=clock.time)
    state.configure(login_records_page_cap=20)
    for i in range(50):
        state.add_connection_record(connection_start_time=T0 + 30 + i)
    with FakeServer(state) as url:
        settings = settings_for(url, state, {"connections": {"api": "v1.0", "lookback": "1h"}})
        client = WorkspaceClient(settings, Budget(settings.config.budget, clock), Sink(), clock)
        try:
            clock.advance(120)
            source = ConnectionsSource(client, settings.config.connections, clock, Sink())
            clock.advance(60)
            source.refresh()
        finally:
            client.close()
    assert sum(source.snapshot.connections.values()) == 50
    # Pages of 20, 20 and 10, then the empty page that alone ends a listing without a total.
    offsets = [c.query["offset"] for c in state.call_log if c.api == "login_records"]
    assert offsets == ["0", "20", "40", "50"]
