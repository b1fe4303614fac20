"""The exporter built from its source table: shard scope, what it derives from the table,
reload (reconfigure pushed to every source, runner kicks) and the rejected target-list change.

Nothing here starts a real source: the exporters are built but not started (no upstream
call is made), or built from a table of in-memory sources.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.apis import APIS
from exporter.app.entry import Families, Scope, SourceEntry
from exporter.app.exporter import Exporter
from exporter.app.multi import MultiExporter
from exporter.app.scheduler import PeriodicRunner
from exporter.app.table import SOURCES
from exporter.clock import FakeClock
from exporter.config.settings import Config, Settings, parse_config
from exporter.config.targets import load_targets
from exporter.exposition import catalogue as m
from exporter.sources.base import next_version

ENV = {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"}
PID = "0" * 32


def settings(**raw: Any) -> Settings:
    return parse_config({"region": "ap-southeast-1", "project_id": PID, **raw}, ENV)


def _api_labels(e: Exporter) -> set[str]:
    return {s.labels["api"] for m in e.live_registry.collect() for s in m.samples if "api" in s.labels}


# ------------------------------------------------------------------------------- shard scope


def _built(config: Config, *, shard_index: int = 0) -> list[str]:
    """The names of the entries an exporter builds for ``config``, read off the table."""
    return [
        e.name
        for e in SOURCES
        if (e.enabled(config) or e.build_when_disabled) and (e.scope == "shard" or shard_index == 0)
    ]


def _apis(config: Config, names: list[str]) -> set[str]:
    return {api for e in SOURCES if e.name in names for api in e.apis_for(config)}


def test_project_wide_sources_run_on_shard_zero_only() -> None:
    shard0 = Exporter(settings(shard={"count": 2, "index": 0}))
    shard1 = Exporter(settings(shard={"count": 2, "index": 1}))
    assert list(shard0.sources) == _built(shard0.settings.config)
    assert list(shard1.sources) == _built(shard1.settings.config, shard_index=1)
    assert {"inventory", "monitoring"} <= set(shard1.sources)
    assert {"events", "connections"} <= set(shard0.sources) and not {"events", "connections"} & set(
        shard1.sources
    )
    assert [h.name for h in shard1.healths()] == list(shard1.sources)
    project_wide = {"screen_records", "os_operations", "connections", "login_records"}
    assert project_wide <= _api_labels(shard0)
    assert not project_wide & _api_labels(shard1)
    assert "desktops_detail" in _api_labels(shard1)


def test_an_unsharded_exporter_runs_every_enabled_source_and_declares_their_apis() -> None:
    e = Exporter(settings(monitoring={"source": "cloudeye"}, events={"enabled": False}))
    names = list(e.sources)
    assert names == _built(e.settings.config)
    assert "events" not in names and {"inventory", "monitoring", "connections"} <= set(names)
    assert _api_labels(e) == _apis(e.settings.config, names)
    assert {"ces_batch_v2", "ces_batch_v1", "ces_metrics", "login_records"} <= _api_labels(e)
    assert not {"desktop_monitor", "screen_records", "os_operations"} & _api_labels(e)


def test_every_source_in_the_table_declares_known_apis_and_a_scope() -> None:
    for config in (settings().config, settings(monitoring={"source": "cloudeye"}).config):
        for entry in SOURCES:
            assert entry.apis_for(config) and set(entry.apis_for(config)) <= set(APIS)
            assert entry.scope in ("project", "shard")
    names = [e.name for e in SOURCES]
    assert len(set(names)) == len(names)
    # The exposition order of the golden tests: the desktop families first.
    assert [n for n in names if n in ("inventory", "monitoring", "events", "connections")] == [
        "inventory",
        "monitoring",
        "events",
        "connections",
    ]


def test_a_source_disabled_by_reload_stops_exporting_and_reporting() -> None:
    e = Exporter(settings())
    names = {f.name for f in e.blocks({})}
    assert {m.DESKTOP_EVENTS.full_name, m.CONNECTIONS.full_name} <= names
    e.apply(settings(events={"enabled": False}))
    names = {f.name for f in e.blocks({})}
    assert m.DESKTOP_EVENTS.full_name not in names and m.CONNECTIONS.full_name in names
    assert "events" not in [h.name for h in e.healths()]


# ---------------------------------------------------------- a table of in-memory sources


@dataclass(frozen=True)
class Snap:
    value: int
    version: int = field(default_factory=next_version)


class Stub:
    """A source that counts refreshes and reconfigures; its snapshot is set by the test."""

    apis: tuple[str, ...] = ("desktops_detail",)

    def __init__(self, name: str, scope: Scope = "shard") -> None:
        self.name = name
        self.scope: Scope = scope
        self.snapshot: Snap | None = None
        self.refreshes = 0
        self.configs: list[Config] = []
        self.refreshed = threading.Event()

    def interval(self) -> float:
        return 3600.0

    def refresh(self) -> None:
        self.refreshes += 1
        self.refreshed.set()

    def reconfigure(self, config: Config) -> None:
        self.configs.append(config)


class KickCounter(PeriodicRunner):
    """A periodic runner that records kicks and ends at once (the test drives nothing)."""

    kicks = 0

    def run(self) -> None:
        return

    def kick(self) -> None:
        self.kicks += 1


def _table(*stubs: Stub, enabled: bool = True) -> tuple[SourceEntry, ...]:
    """An entry per stub; with ``enabled=False`` each is on only while ``monitoring.enabled`` is."""

    def entry(stub: Stub) -> SourceEntry:
        return SourceEntry(
            stub.name,
            lambda _x: stub,
            lambda _x: Families(lambda: None, lambda _s: []),
            stub.apis,
            section=None if enabled else "monitoring",
            scope=stub.scope,
            runner=lambda source, x: KickCounter(source, x.clock, x.stop_event),
            build_when_disabled=True,
        )

    return tuple(entry(s) for s in stubs)


def test_the_data_version_follows_every_enabled_snapshot_and_the_settings() -> None:
    a, b = Stub("inventory"), Stub("b")
    e = Exporter(settings(), FakeClock(), table=_table(a, b))
    first = e.data_version()
    assert e.data_version() == first
    b.snapshot = Snap(1)
    second = e.data_version()
    assert second != first
    e.apply(settings())
    assert e.data_version() != second  # new settings may render differently (labels, filters)


def test_a_project_wide_stub_is_dropped_on_another_shard() -> None:
    inv, events = Stub("inventory"), Stub("events", scope="project")
    e = Exporter(settings(shard={"count": 3, "index": 2}), FakeClock(), table=_table(inv, events))
    assert list(e.sources) == ["inventory"]
    assert [h.name for h in e.healths()] == ["inventory"]


def test_reload_pushes_the_new_config_to_every_source() -> None:
    a, b = Stub("inventory"), Stub("b")
    e = Exporter(settings(), FakeClock(), table=_table(a, b))
    new = settings(inventory={"interval": "10m"})
    e.apply(new)
    assert a.configs == [new.config] and b.configs == [new.config]


@pytest.mark.parametrize(
    ("change", "kicked"),
    [
        ({}, False),
        ({"inventory": {"interval": "10m"}}, False),
        ({"region": "cn-north-4"}, True),
        ({"project_id": "1" * 32}, True),
        ({"endpoints": {"workspace": "https://workspace.example.test"}}, True),
    ],
)
def test_a_reload_kicks_the_runners_when_the_region_project_or_endpoints_change(
    change: dict[str, Any], kicked: bool
) -> None:
    a, b = Stub("inventory"), Stub("b")
    e = Exporter(settings(), FakeClock(), table=_table(a, b))
    e.start()
    try:
        runners = [e.runner("inventory"), e.runner("b")]
        assert all(isinstance(r, KickCounter) for r in runners)
        for r in runners:
            assert r is not None
            r.join(5)
        e.apply(settings(**change))
        assert [r.kicks for r in runners if isinstance(r, KickCounter)] == [int(kicked)] * 2
    finally:
        e.stop()


def test_a_reload_that_enables_a_source_starts_its_runner() -> None:
    a = Stub("inventory")
    e = Exporter(settings(monitoring={"enabled": False}), FakeClock(), table=_table(a, enabled=False))
    e.start()
    try:
        assert e.runner("inventory") is None and e.healths() == []
        e.apply(settings())
        assert isinstance(e.runner("inventory"), KickCounter)
        assert [h.name for h in e.healths()] == ["inventory"]
    finally:
        e.stop()


def test_a_periodic_runner_refreshes_again_when_kicked() -> None:
    stub, stop = Stub("inventory"), threading.Event()
    runner = PeriodicRunner(stub, FakeClock(), stop)  # a fake clock: only a kick wakes it early
    runner.start()
    try:
        assert stub.refreshed.wait(5)
        stub.refreshed.clear()
        runner.kick()
        assert stub.refreshed.wait(5)
        assert stub.refreshes == 2
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()


# ------------------------------------------------------------------- the rejected target list


def _write(path: Path, targets: list[dict[str, str]]) -> None:
    path.write_text(yaml.safe_dump({"region": "ap-southeast-1", "targets": targets}))


def test_a_reload_that_changes_the_target_list_is_rejected_and_keeps_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    cfg = tmp_path / "config.yaml"
    one = {"region": "ap-southeast-1", "project_id": PID}
    two = {"region": "cn-north-4", "project_id": "1" * 32}
    _write(cfg, [one, two])
    multi = MultiExporter(load_targets(cfg))
    before = [e.settings for e in multi.exporters]
    _write(cfg, [one])
    ok, message = multi.reload(str(cfg))
    assert not ok
    assert "the list of projects changed" in message
    assert [e.settings for e in multi.exporters] == before
    assert all(e.reload_state.successful is False for e in multi.exporters)
    _write(cfg, [one, two])
    ok, message = multi.reload(str(cfg))
    assert (ok, message) == (True, "config reloaded")
    assert all(e.reload_state.successful is True for e in multi.exporters)


def test_the_fleet_sources_are_project_wide_and_user_events_are_opt_in() -> None:
    fleet = ["pools", "quotas", "tasks", "agents", "alarms", "user_events"]
    rows = {e.name: e for e in SOURCES}
    assert all(rows[name].scope == "project" and rows[name].section == name for name in fleet)
    default = Exporter(settings())
    assert [name for name in default.sources if name in fleet] == fleet[:-1]
    assert "user_events" in Exporter(settings(user_events={"enabled": True})).sources
    assert {"desktop_pools", "quotas", "scheduled_tasks", "alarms"} <= _api_labels(default)
