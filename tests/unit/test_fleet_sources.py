"""The pools, quotas and alarms sources on a FakeClock, over the fake's handlers in memory
(tests/unit/fleet_api.py), and their families."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client.core import Metric

from exporter.clock import FakeClock
from exporter.config.settings import AlarmsConfig, PoolsConfig, QuotasConfig
from exporter.errors import UpstreamUnavailableError
from exporter.exposition import alarms as alarm_families
from exporter.exposition import pools as pool_families
from exporter.exposition import quotas as quota_families
from exporter.fake import FakeWorkspace
from exporter.fake.data import DYNAMIC_POOL, STATIC_POOL, pool_id
from exporter.sources.alarms import AlarmsSource
from exporter.sources.pools import STATISTICS_TYPES, PoolsSource
from exporter.sources.quotas import MAX_SITES, QuotasSource
from tests.unit.fleet_api import FleetApi

T0 = 1_795_000_020.0
NS = "huaweicloud_workspace_"


def samples(families: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name.removeprefix(NS), tuple(sorted(s.labels.items()))): s.value
        for f in families
        for s in f.samples
    }


def value(families: list[Metric], name: str, **labels: str) -> float | None:
    return samples(families).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def state(clock: FakeClock) -> FakeWorkspace:
    return FakeWorkspace(20, now=clock.time)


def _pools(state: FakeWorkspace, clock: FakeClock, **cfg: Any) -> tuple[PoolsSource, FleetApi]:
    api = FleetApi(state)
    return PoolsSource(api, PoolsConfig(**cfg), clock, api.sink), api


# ------------------------------------------------------------------------------ pools


def test_pools_export_capacity_autoscale_and_desktops_by_state_per_pool_and_fleet(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _pools(state, clock)
    src.refresh()
    fams = pool_families.families(src.snapshot)
    dynamic, static = pool_id(state.seed, DYNAMIC_POOL), pool_id(state.seed, STATIC_POOL)
    assert value(fams, "desktop_pool_desktops", pool_id=dynamic) == 10
    assert value(fams, "desktop_pool_desktops", pool_id=static) == 4
    assert value(fams, "desktop_pool_desktops_assigned", pool_id=static) == 4  # static: every desktop bound
    assert value(fams, "desktop_pool_autoscale_max_desktops", pool_id=static) == 6
    assert value(fams, "desktop_pool_autoscale_max_desktops", pool_id=dynamic) is None  # autoscale off
    info = {k for k in samples(fams) if k[0] == "desktop_pool_info"}
    assert ("type", "DYNAMIC") in next(k for k in info if ("pool_id", dynamic) in k[1])[1]
    per_pool = sum(
        v
        for (n, labels), v in samples(fams).items()
        if n == "desktop_pool_desktops_run_state" and ("pool_id", dynamic) in labels
    )
    assert per_pool == 10
    assert value(fams, "fleet_desktops") == 20
    assert sum(v for (n, _), v in samples(fams).items() if n == "fleet_desktops_login_state") == 20
    assert value(fams, "fleet_desktops_run_state", state="stopped") == 2  # desktops 7 and 14
    # One listing and two statistics calls: every desktop, then the pooled ones per pool; the
    # statistics types go as repeated keys, as the SDK sends a list.
    assert [a for a, _ in api.calls] == ["desktop_pools", "desktops_statistics", "desktops_statistics"]
    assert api.calls[1][1] == {"statistics_type": STATISTICS_TYPES}
    assert api.calls[2][1] == {"desktop_type": ["POOLED"], "statistics_type": STATISTICS_TYPES}


def test_an_unchanged_refresh_keeps_the_snapshot_and_its_version(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, _ = _pools(state, clock)
    src.refresh()
    first = src.snapshot
    src.refresh()
    assert src.snapshot is first
    state.pool_used_override[pool_id(state.seed, DYNAMIC_POOL)] = 9
    src.refresh()
    assert src.snapshot is not first and src.snapshot is not None
    assert src.snapshot.version != first.version if first else False


def test_an_answer_without_the_pool_breakdown_keeps_the_rest_and_is_logged_once_per_change(
    state: FakeWorkspace, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "exporter")
    src, _ = _pools(state, clock)
    state.configure(pool_statistics="missing")
    for _ in range(3):
        src.refresh()
    assert src.snapshot is not None and src.snapshot.per_pool == () and len(src.snapshot.pools) == 2
    fams = pool_families.families(src.snapshot)
    assert not any(n == "desktop_pool_desktops_login_state" for n, _ in samples(fams))
    state.configure(pool_statistics="per_pool")
    src.refresh()
    lines = [r.getMessage() for r in caplog.records if "source=pools" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "incomplete" in lines[0] and "no per-pool statistics" in lines[0]
    assert "complete again" in lines[1]


def test_a_count_that_is_not_a_count_is_absent_never_zero_and_bad_pools_are_counted(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _pools(state, clock)
    good = state.desktop_pools_view()[0]
    pools = [
        {**good, "desktop_count": "10", "desktop_used": True},
        {**good, "id": ""},  # no id: skipped and counted
        {**good},  # the same id again: skipped and counted
        {**good, "id": "p-2", "desktop_count": -1, "desktop_used": None, "name": "x" * 1000},
    ]
    api.answers["desktop_pools"] = {"total_count": 4, "desktop_pools": pools}
    src.refresh()
    fams = pool_families.families(src.snapshot)
    assert value(fams, "desktop_pool_desktops", pool_id=good["id"]) is None
    assert value(fams, "desktop_pool_desktops_assigned", pool_id=good["id"]) is None
    assert value(fams, "desktop_pool_desktops", pool_id="p-2") is None
    assert api.sink.invalid == {"desktop_pools": 2}
    assert src.snapshot is not None
    assert all(len(p.name) <= 256 for p in src.snapshot.pools)


def test_pools_past_max_pools_are_cut_and_the_cut_is_counted(state: FakeWorkspace, clock: FakeClock) -> None:
    src, api = _pools(state, clock, max_pools=1)
    src.refresh()
    assert src.snapshot is not None and len(src.snapshot.pools) == 1
    assert len(src.snapshot.per_pool) == 1  # the statistics of the pool not exported are dropped too
    assert api.sink.truncations == [("desktop_pools", "pools.max_pools")]


def test_a_failed_call_fails_the_refresh_and_keeps_the_last_snapshot(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _pools(state, clock)
    src.refresh()
    kept = src.snapshot
    api.answers["desktops_statistics"] = UpstreamUnavailableError("desktops_statistics", 503)
    state.pool_used_override[pool_id(state.seed, DYNAMIC_POOL)] = 1
    with pytest.raises(UpstreamUnavailableError):
        src.refresh()
    assert src.snapshot is kept  # never half a refresh


# ------------------------------------------------------------------------------ quotas


def _quotas(state: FakeWorkspace, clock: FakeClock) -> tuple[QuotasSource, FleetApi]:
    api = FleetApi(state)
    return QuotasSource(api, QuotasConfig(), clock, api.sink), api


def test_quotas_export_limit_and_use_per_resource_and_site(state: FakeWorkspace, clock: FakeClock) -> None:
    src, _ = _quotas(state, clock)
    src.refresh()
    fams = quota_families.families(src.snapshot)
    assert value(fams, "quota_limit", resource="general_instances", site_id="") == 25
    assert value(fams, "quota_used", resource="general_instances", site_id="") == 20
    assert value(fams, "quota_limit", resource="ies_instances", site_id="147258369") == 50
    assert value(fams, "quota_limit", resource="gpu_instances", site_id="") == 0  # the alert divides by > 0


def test_an_unlimited_quota_has_no_limit_series_and_a_numeric_site_id_is_read_as_text(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _quotas(state, clock)
    api.answers["quotas"] = {
        "quotas": {
            "resources": [
                {"type": "users", "quota": -1, "used": 40},
                {"type": "Cores", "quota": 10, "used": "3"},
                {"type": "cores", "quota": 100, "used": 30},
                {"quota": 1, "used": 1},
                "garbage",
            ]
        },
        "site_quotas": [
            {"site_id": 147258369, "resources": [{"type": "ies_instances", "quota": 50, "used": 0}]},
            {"site_id": True, "resources": []},
        ],
    }
    src.refresh()
    fams = quota_families.families(src.snapshot)
    assert value(fams, "quota_limit", resource="users", site_id="") is None
    assert value(fams, "quota_used", resource="users", site_id="") == 40
    assert value(fams, "quota_limit", resource="Cores", site_id="") == 10  # upstream spelling kept
    assert value(fams, "quota_used", resource="Cores", site_id="") is None
    assert value(fams, "quota_used", resource="cores", site_id="") == 30
    assert value(fams, "quota_limit", resource="ies_instances", site_id="147258369") == 50
    assert api.sink.invalid == {"quotas": 3}


def test_sites_past_the_cap_are_not_exported_and_logged_once(
    state: FakeWorkspace, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    src, api = _quotas(state, clock)
    sites = [{"site_id": f"s{i}", "resources": [{"type": "x", "quota": 1, "used": 0}]} for i in range(30)]
    api.answers["quotas"] = {"quotas": {"resources": []}, "site_quotas": sites}
    src.refresh()
    src.refresh()
    assert src.snapshot is not None and len(src.snapshot.quotas) == MAX_SITES
    assert len([r for r in caplog.records if "too many sites" in r.getMessage()]) == 1


# ------------------------------------------------------------------------------ alarms


def _alarms(state: FakeWorkspace, clock: FakeClock, **cfg: Any) -> tuple[AlarmsSource, FleetApi]:
    api = FleetApi(state)
    return AlarmsSource(api, AlarmsConfig(**cfg), clock, api.sink), api


def test_active_alarms_are_the_records_in_state_alarm_per_rule_of_the_configured_levels(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    rule = state.add_alarm(1, T0 - 60, desktop="d-1")["alarm_id"]
    state.add_alarm(1, T0 - 60, desktop="d-2")
    resolved = state.add_alarm(1, T0 - 120, desktop="d-3")
    state.set_alarm_status(resolved["record_id"], "ok")
    state.add_alarm(3, T0 - 60)  # minor: not in alarms.levels
    src, api = _alarms(state, clock)
    src.refresh()
    fams = alarm_families.families(src.snapshot)
    assert value(fams, "alarms_active", alarm_id=rule, level="critical") == 2
    assert [k for k in samples(fams) if k[0] == "alarms_active"] == [
        ("alarms_active", (("alarm_id", rule), ("level", "critical")))
    ]
    rule_info = {"alarm_name": "workspace-desktop-status-level1", "type": "EVENT.SYS"}
    rule_info |= {"metric_namespace": "SYS.Workspace", "metric_name": "desktopStatusAbnormal"}
    assert value(fams, "alarm_rule_info", alarm_id=rule, **rule_info) == 1
    # The statistics count every record of a level (history included): 1 minor from the fake's
    # past plus the one above, 3 critical.
    assert value(fams, "alarm_records", level="critical") == 3
    assert value(fams, "alarm_records", level="minor") == 2
    assert [q.get("level") for a, q in api.calls if a == "alarms"] == [["1"], ["2"]]


def test_alarm_rules_past_max_rules_are_summed_as_other_and_bad_records_counted(
    state: FakeWorkspace, clock: FakeClock
) -> None:
    src, api = _alarms(state, clock, max_rules=1, levels=["critical"])
    record = state.add_alarm(1, T0 - 60)
    histories = [
        {**record, "alarm_id": "al-a"},
        {**record, "alarm_id": "al-b"},
        {**record, "alarm_id": "al-c", "level": 9},
        {**record, "alarm_id": ""},
        {**record, "status": None},
    ]
    api.answers["alarms"] = {"count": len(histories), "alarm_histories": histories}
    src.refresh()
    fams = alarm_families.families(src.snapshot)
    assert value(fams, "alarms_active", alarm_id="al-a", level="critical") == 1
    assert value(fams, "alarms_active", alarm_id="other", level="critical") == 1
    assert value(fams, "alarms_active", alarm_id="other", level="other") == 1
    assert api.sink.invalid == {"alarms": 2}
