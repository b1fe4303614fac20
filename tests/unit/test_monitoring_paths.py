"""The monitoring path choice on a FakeClock with an in-memory Cloud Eye: fits / does not fit,
hysteresis, forced modes, 403/404 fallback with one warning, v2 unavailable -> v1, re-probes,
and the v1 batch sizing."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from exporter.app.exporter import Exporter
from exporter.app.scheduler import PeriodicRunner
from exporter.clock import FakeClock
from exporter.config.settings import Config, MonitoringConfig, parse_config
from exporter.constraints.ces_windows import V1_MAX_BODY
from exporter.errors import AuthError, ClientRequestError
from exporter.sources.cloudeye.query import METRICS
from exporter.sources.cloudeye.source import REPROBE_S, CloudEyeSource
from exporter.sources.cloudeye.v1 import v1_batches
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.monitoring import MonitoringSource
from exporter.sources.monitoring_paths import (
    CES_ACTION,
    RETRY_CES_S,
    MonitoringPaths,
    capacity,
    settle_seconds,
    wants_cloudeye,
)
from tests.unit.test_cloudeye import DIM, T0, FakeCes, Sink, _point
from tests.unit.test_exporter import ENV


class NoCalls:
    def desktop_monitor(self, desktop_id: str, start_time: str, end_time: str) -> dict[str, Any]:
        raise AssertionError("the pass itself never calls desktop_monitor")


class Rig:
    """A MonitoringPaths over 2 desktops; ``rate`` steers the per-desktop capacity."""

    def __init__(self, source: str = "auto", desktops: int = 2, rate: float = 100.0) -> None:
        self.clock = FakeClock(T0 + 60.0)
        self.ces = FakeCes()
        self.rate = rate
        self.config = MonitoringConfig(source=source, cloudeye_dimension=DIM)
        self.set_fleet(desktops)
        for metric in METRICS:
            self.ces.points[metric] = [_point("d0", 10.0), _point("d1", 20.0)]
        sink = Sink()
        per_desktop = MonitoringSource(NoCalls(), self.config, self.clock, sink)
        ces = CloudEyeSource(
            self.ces, self.config, self.clock, sink, lambda: self.inventory, region="la-south-2"
        )
        self.paths = MonitoringPaths(per_desktop, ces, self.config, self.clock, lambda: self.rate)

    def set_fleet(self, n: int) -> None:
        self.inventory = InventorySnapshot.of([Desktop(f"d{i}") for i in range(n)], T0)

    def v2_calls(self) -> int:
        return len(self.ces.batch_calls)

    def v1_calls(self) -> int:
        return len(self.ces.v1_calls)


# ---------------------------------------------------------------------------- the rule


def test_capacity_is_ninety_percent_of_the_rate_over_one_interval() -> None:
    assert capacity(100.0, 300.0) == pytest.approx(450.0)
    assert capacity(0.0, 300.0) == 0.0


@pytest.mark.parametrize(
    ("fleet", "on_cloudeye", "expected"),
    [
        (450, False, False),  # fits exactly
        (451, False, True),  # does not fit
        (400, True, True),  # inside the hysteresis band: stays on Cloud Eye
        (361, True, True),
        (360, True, False),  # 80 % of 450: back to per-desktop calls
        (400, False, False),
    ],
)
def test_auto_chooses_cloud_eye_only_when_the_fleet_does_not_fit(
    fleet: int, on_cloudeye: bool, expected: bool
) -> None:
    assert wants_cloudeye("auto", fleet, 100.0, 300.0, on_cloudeye, False) is expected


def test_forced_modes_and_a_refusing_cloud_eye() -> None:
    assert wants_cloudeye("workspace", 10**6, 1.0, 300.0, True, False) is False
    assert wants_cloudeye("cloudeye", 1, 1000.0, 300.0, False, True) is True
    assert wants_cloudeye("auto", 10**6, 1.0, 300.0, False, True) is False


# ---------------------------------------------------------------------------- the source


def test_a_fleet_that_fits_gets_per_desktop_calls_and_no_cloud_eye_call() -> None:
    rig = Rig(desktops=2)
    before = (rig.paths.path, rig.paths.per_desktop.config.enabled)
    rig.paths.refresh()
    assert before == (None, False)  # nothing runs before the first pass has chosen
    assert (rig.paths.path, rig.paths.per_desktop.config.enabled) == ("workspace", True)
    assert rig.v2_calls() == rig.v1_calls() == 0
    assert rig.paths.health is rig.paths.per_desktop.health


def test_a_fleet_that_does_not_fit_reads_cloud_eye_and_pauses_per_desktop_calls() -> None:
    rig = Rig(desktops=2, rate=0.1)  # capacity 0.45 desktops
    rig.paths.refresh()
    assert rig.paths.path == "cloudeye_v2"
    assert not rig.paths.per_desktop.config.enabled
    assert rig.v2_calls() == len(METRICS)
    assert set(rig.paths.snapshot.entries) == {"d0", "d1"}
    assert rig.paths.health is rig.paths.cloudeye.health


def _passes(rig: Rig, n: int, every: float = 300.0) -> list[str | None]:
    """``n`` passes, one interval apart; the path after each."""
    out = []
    for _ in range(n):
        rig.clock.advance(every)
        rig.paths.refresh()
        out.append(rig.paths.path)
    return out


def test_the_boundary_does_not_flap() -> None:
    rig = Rig(desktops=500, rate=100.0)  # capacity 450
    rig.paths.refresh()
    assert rig.paths.path == "cloudeye_v2"  # the first choice is made at once
    rig.set_fleet(400)  # fits again, but inside the band
    assert _passes(rig, 4) == ["cloudeye_v2"] * 4
    rig.set_fleet(360)  # below the band: wanted in every pass for 15 minutes first
    assert settle_seconds(300.0) == 900.0
    assert _passes(rig, 4) == ["cloudeye_v2"] * 3 + ["workspace"]
    rig.set_fleet(400)  # and it stays per-desktop until the fleet no longer fits
    assert _passes(rig, 4) == ["workspace"] * 4


def test_a_blip_across_the_boundary_does_not_switch(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(desktops=400, rate=100.0)
    caplog.set_level(logging.INFO, logger="exporter.sources.monitoring_paths")
    rig.paths.refresh()
    for _ in range(3):  # a few desktops over, for less than the settle time, then back
        rig.set_fleet(460)
        assert _passes(rig, 2) == ["workspace"] * 2
        rig.set_fleet(400)
        assert _passes(rig, 1) == ["workspace"]
    chosen = [r.getMessage() for r in caplog.records if "path chosen" in r.getMessage()]
    assert len(chosen) == 1  # the first choice; no switch
    rig.set_fleet(460)
    assert _passes(rig, 4)[-1] == "cloudeye_v2"
    chosen = [r.getMessage() for r in caplog.records if "path chosen" in r.getMessage()]
    assert len(chosen) == 2 and "path=cloudeye" in chosen[1]


def test_the_settle_time_is_three_intervals_when_that_is_longer() -> None:
    assert settle_seconds(60.0) == 900.0
    assert settle_seconds(600.0) == 1800.0


def test_the_choice_reads_the_configured_budget_not_the_rate_lowered_after_a_429() -> None:
    """Throttling backs the per-desktop calls off (the budget halves its rate); the path
    stays. The exporter wires the configured rate in."""
    settings = parse_config({"region": "ap-southeast-1", "project_id": "p"}, ENV)
    exporter = Exporter(settings, FakeClock())
    configured = exporter.budget.rate_for("desktop_monitor")
    for _ in range(5):
        exporter.budget.throttled("desktop_monitor")
    assert exporter.budget.state()["desktop_monitor"].effective_per_minute < configured / 4
    assert exporter.source("monitoring", MonitoringPaths)._rate() == configured


@pytest.mark.parametrize(
    "error",
    [
        AuthError("ces_batch_v2", 403, "ces.0050", "Policy doesn't allow ces:metricData:list"),
        AuthError("ces_batch_v1", 403, "ces.0050", "Policy doesn't allow ces:metricData:list"),
        ClientRequestError("ces_batch_v1", 404, "APIGW.0101", "not found"),
    ],
    ids=["v2-403", "v1-403", "v1-404"],
)
def test_a_refusing_cloud_eye_falls_back_to_per_desktop_calls_with_one_warning(
    error: AuthError | ClientRequestError, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(desktops=2, rate=0.1)
    if error.api == "ces_batch_v2":
        rig.ces.v2_error = error
    else:
        rig.ces.v2_error = ClientRequestError("ces_batch_v2", 404, "APIGW.0101", "not found")
        rig.ces.v1_error = error
    caplog.set_level(logging.INFO)
    rig.paths.refresh()  # handled: the fallback is the answer, not a failed refresh
    assert rig.paths.path == "workspace" and rig.paths.per_desktop.config.enabled
    for _ in range(3):
        rig.clock.advance(300)
        rig.paths.refresh()  # stays per-desktop, asks Cloud Eye nothing
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and CES_ACTION in warnings[0]
    calls = rig.v2_calls() + rig.v1_calls()
    rig.clock.advance(RETRY_CES_S)
    rig.ces.v2_error = rig.ces.v1_error = None  # granted meanwhile
    rig.paths.refresh()
    assert rig.v2_calls() + rig.v1_calls() > calls
    assert rig.paths.path == "cloudeye_v2"


def test_forced_cloudeye_does_not_fall_back() -> None:
    rig = Rig(source="cloudeye", desktops=2)
    rig.ces.v2_error = AuthError("ces_batch_v2", 403, "ces.0050", "denied")
    with pytest.raises(AuthError):
        rig.paths.refresh()
    assert rig.paths.health is rig.paths.cloudeye.health
    assert not rig.paths.per_desktop.config.enabled


@pytest.mark.parametrize("status", [404, 400])
def test_a_region_without_v2_uses_v1_logged_once_and_asks_v2_again_rarely(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(source="cloudeye", desktops=2)
    rig.ces.v2_error = ClientRequestError("ces_batch_v2", status, "APIGW.0101", "not available")
    caplog.set_level(logging.INFO, logger="exporter.sources.cloudeye")
    rig.paths.refresh()
    assert rig.paths.path == "cloudeye_v1"
    assert rig.v2_calls() == 1 and rig.v1_calls() == 1  # 2 desktops x 12 metrics fit one call
    assert set(rig.paths.snapshot.entries) == {"d0", "d1"}
    assert dict(rig.paths.snapshot.entries["d1"].values)["cpu_usage_ratio"] == pytest.approx(0.2)
    for _ in range(3):
        rig.clock.advance(300)
        rig.paths.refresh()
    assert rig.v2_calls() == 1 and rig.v1_calls() == 4  # v2 not asked per refresh
    lines = [r.getMessage() for r in caplog.records if "path=" in r.getMessage()]
    assert len(lines) == 1 and "cloudeye_v1" in lines[0] and "la-south-2" in lines[0]
    rig.clock.advance(REPROBE_S)
    rig.paths.refresh()
    assert rig.v2_calls() == 2  # asked again after REPROBE_S, still absent
    assert rig.paths.path == "cloudeye_v1"
    rig.ces.v2_error = None
    rig.paths.reconfigure(Config(region="la-south-2", monitoring=rig.config))  # a reload asks again
    rig.paths.refresh()
    assert rig.paths.path == "cloudeye_v2"


def test_a_reload_switches_the_mode_from_the_next_pass() -> None:
    rig = Rig(source="workspace", desktops=2, rate=0.1)
    rig.paths.refresh()
    assert rig.paths.path == "workspace"
    rig.paths.reconfigure(Config(monitoring=MonitoringConfig(source="cloudeye", cloudeye_dimension=DIM)))
    rig.paths.refresh()
    assert rig.paths.path == "cloudeye_v2" and not rig.paths.per_desktop.config.enabled


# ---------------------------------------------------------------------------- v1 batches


def _entries(
    desktops: int, metrics: int = 12, name: str = "network_outgoing_bytes_aggregate_rate"
) -> list[dict[str, Any]]:
    return [
        {
            "namespace": "SYS.Workspace",
            "metric_name": f"{name}{m}",
            "dimensions": [{"name": DIM, "value": f"{d:036d}"}],
        }
        for m in range(metrics)
        for d in range(desktops)
    ]


def test_v1_batches_hold_500_pairs_for_a_10000_desktop_fleet() -> None:
    batches = list(v1_batches(_entries(10_000), 600.0, 300.0))
    assert len(batches) == 240 and {len(b) for b in batches} == {500}


def test_v1_batches_never_ask_for_more_than_3000_datapoints() -> None:
    batches = list(v1_batches(_entries(1000, 1), 3600.0, 300.0))  # 13 points a series
    assert max(len(b) for b in batches) == 3000 // 13
    assert all(len(b) * 13 <= 3000 for b in batches)


def test_v1_batches_stay_under_the_body_limit() -> None:
    entries = _entries(600, 1, name="m" * 2000)  # about 2.1 KB an entry
    for batch in v1_batches(entries, 600.0, 300.0):
        body = {"metrics": batch, "period": "300", "filter": "average", "from": 0, "to": 0}
        assert len(json.dumps(body, separators=(",", ":"))) < V1_MAX_BODY  # as the client sends it
    assert sum(len(b) for b in v1_batches(entries, 600.0, 300.0)) == 600


# ---------------------------------------------------------------------------- switching


class Monitor:
    """desktop_monitor answering one CPU datapoint per desktop at ``stamp``."""

    def __init__(self) -> None:
        self.stamp = T0
        self.cpu = 50.0

    def desktop_monitor(self, desktop_id: str, start_time: str, end_time: str) -> dict[str, Any]:
        return {"cpu_info": [{"average": self.cpu, "timestamp": self.stamp * 1000}], "online_status": 2}


def _switching_rig() -> tuple[Rig, Monitor]:
    rig = Rig(desktops=2, rate=100.0)
    monitor = Monitor()
    rig.paths.per_desktop._client = monitor
    return rig, monitor


def _exported(rig: Rig) -> dict[str, tuple[float | None, float]]:
    return {
        did: (e.sample_time, dict(e.values)["cpu_usage_ratio"])
        for did, e in rig.paths.snapshot.entries.items()
    }


def test_a_switch_never_publishes_a_datapoint_older_than_the_one_exported() -> None:
    rig, monitor = _switching_rig()
    rig.paths.refresh()
    assert rig.paths.path == "workspace"
    # Per-desktop calls read the point still aggregating (newer than Cloud Eye's, which lags).
    monitor.stamp, monitor.cpu = T0 + 600, 96.0
    for did in ("d0", "d1"):
        assert rig.paths.per_desktop.fetch(did)
    rig.paths.per_desktop.publish()
    before = _exported(rig)
    assert before == {"d0": (T0 + 600, 0.96), "d1": (T0 + 600, 0.96)}
    rig.rate = 0.1  # a reload lowered the budget: the fleet no longer fits
    rig.paths.reconfigure(Config(monitoring=rig.config))
    rig.paths.refresh()
    assert rig.paths.path == "cloudeye_v2"
    assert _exported(rig) == before  # Cloud Eye's points (at T0) are older: not published
    for metric in METRICS:  # Cloud Eye catches up
        rig.ces.points[metric] = [_point("d0", 10.0, (T0 + 900) * 1000), _point("d1", 20.0, T0 * 1000)]
    rig.clock.advance(300)
    rig.paths.refresh()
    after = _exported(rig)
    assert after["d0"] == (T0 + 900, 0.10)  # newer: Cloud Eye's
    assert after["d1"] == (T0 + 600, 0.96)  # still older on Cloud Eye: the exported one stays
    # Back to per-desktop calls, whose cache still holds the old hot values: never served.
    rig.rate = 100.0
    rig.paths.reconfigure(Config(monitoring=rig.config))
    rig.paths.refresh()
    assert rig.paths.path == "workspace"
    assert _exported(rig)["d0"] == (T0 + 900, 0.10)
    # Once the other path has not refreshed for monitoring.max_age, only the active one counts.
    rig.clock.advance(rig.config.max_age + 1)
    monitor.stamp, monitor.cpu = T0 + 1200 + rig.config.max_age, 5.0
    assert rig.paths.per_desktop.fetch("d0")
    rig.paths.per_desktop.publish()
    assert _exported(rig)["d0"] == (T0 + 1200 + rig.config.max_age, 0.05)


def test_a_switch_is_no_change_of_up_last_refresh_or_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig, _monitor = _switching_rig()
    caplog.set_level(logging.INFO, logger="exporter.sources.base")
    driver = rig.paths.driver
    runner = PeriodicRunner(driver, rig.clock, threading.Event(), lambda: 60.0, health=lambda: driver.health)
    runner.run_once()
    assert rig.paths.per_desktop.fetch("d0")
    last = rig.paths.health.status.last_success
    rig.clock.advance(60)
    rig.rate = 0.1
    rig.paths.reconfigure(Config(monitoring=rig.config))
    runner.run_once()  # switches to Cloud Eye and refreshes it in the same pass
    assert rig.paths.path == "cloudeye_v2"
    status = rig.paths.health.status
    assert status.up and status.last_success > last
    rig.clock.advance(60)
    rig.rate = 100.0
    rig.paths.reconfigure(Config(monitoring=rig.config))
    runner.run_once()
    assert rig.paths.path == "workspace"
    assert rig.paths.health.status.up
    assert rig.paths.health.status.last_success == status.last_success
    lines = [r.getMessage() for r in caplog.records if r.name == "exporter.sources.base"]
    assert lines == ["source first refresh ok source=monitoring"]


def test_the_pass_on_the_per_desktop_path_logs_nothing_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    """The pass that only chooses per-desktop calls is no refresh: no "first refresh ok" for
    it (the first desktop's data says that), and ``up`` waits for the first desktop."""
    rig, _monitor = _switching_rig()
    caplog.set_level(logging.INFO, logger="exporter.sources.base")
    driver = rig.paths.driver
    runner = PeriodicRunner(driver, rig.clock, threading.Event(), lambda: 60.0, health=lambda: driver.health)
    runner.run_once()
    runner.run_once()
    assert rig.paths.path == "workspace"
    assert not rig.paths.health.status.up
    health_lines = lambda: [r.getMessage() for r in caplog.records if r.name == "exporter.sources.base"]  # noqa: E731
    assert health_lines() == []
    assert rig.paths.per_desktop.fetch("d0")
    runner.run_once()
    assert health_lines() == ["source first refresh ok source=monitoring"]


def test_a_throttled_budget_slows_the_per_desktop_pace_without_the_too_large_fleet_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pace (and how long values live) follows the rate the budget allows now; the warning
    that the fleet outgrew the budget looks at the configured rate only."""
    effective = [100.0]
    config = MonitoringConfig(interval=60.0, max_age=600.0)
    source = MonitoringSource(
        NoCalls(), config, FakeClock(T0), Sink(), lambda: effective[0], configured_rate=lambda: 100.0
    )
    caplog.set_level(logging.WARNING, logger="exporter.sources.monitoring")
    source.set_fleet_size(20)
    assert source.interval() == 60.0
    effective[0] = 10.0  # halved a few times after 429s
    source.set_fleet_size(20)
    assert source.interval() == pytest.approx(20 * 60 / 9)  # 133 s a pass
    assert source.max_age() == pytest.approx(600 + 20 * 60 / 9 - 60)
    assert caplog.records == []
    source.set_fleet_size(200)  # a fleet the configured budget cannot cover in an interval
    assert [r.getMessage().split(" desktops=")[0] for r in caplog.records] == [
        "monitoring: a pass over the desktops takes longer than monitoring.interval, values are kept "
        "longer. Raise budget.per_api.desktop_monitor, shard the project, or use monitoring.source: cloudeye"
    ]
