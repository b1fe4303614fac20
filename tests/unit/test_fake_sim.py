"""The simulated office of the fake API, driven by a compressed clock (no sleeping)."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
import requests

from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake import sim as sim_module
from exporter.fake.data import PERIOD_S, parse_iso
from exporter.fake.office import (
    CRASHES_PER_HOUR,
    EVERYDAY,
    FAILURE_REASONS,
    MAX_STEPS_PER_TICK,
    NIGHT_PRESENCE,
)
from exporter.fake.records import EXPORT_COLUMNS
from exporter.fake.scenarios import SCENARIOS, THROTTLE_PER_MINUTE, THROTTLED_API
from exporter.fake.sim import Simulation
from exporter.fake.xlsx import sheet_rows

T0 = 1_795_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def office(desktops: int = 20, seed: int = 7) -> tuple[FakeWorkspace, Simulation, Clock]:
    clock = Clock()
    ws = FakeWorkspace(desktops, now=clock, seed=seed)
    return ws, Simulation(ws, seed=seed), clock


def run(sim: Simulation, clock: Clock, seconds: float, step: float = 5.0) -> None:
    end = clock.t + seconds
    while clock.t < end:
        clock.t = min(end, clock.t + step)
        sim.tick()


def operations(ws: FakeWorkspace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rec in ws.screen_records:
        out.extend(ws.query_operations(rec["id"]) or [])
    return out


def test_the_same_seed_and_ticks_give_the_same_office() -> None:
    a, sim_a, clock_a = office()
    b, sim_b, clock_b = office()
    run(sim_a, clock_a, 1800)
    run(sim_b, clock_b, 1800)
    assert sim_a.counts == sim_b.counts
    assert a.connection_records == b.connection_records
    assert a.desktops == b.desktops
    c, sim_c, clock_c = office(seed=8)
    run(sim_c, clock_c, 1800)
    assert c.connection_records != a.connection_records


def test_users_log_in_and_out_and_a_few_percent_fail_with_reason_codes() -> None:
    ws, sim, clock = office()
    run(sim, clock, 3600)  # four compressed office days
    records = ws.connection_records
    failed = [r for r in records if r["connection_failure_reason"]]
    assert len(records) == sim.counts["attempts"] > 100
    assert 0.01 <= len(failed) / len(records) <= 0.10
    for r in failed:
        assert r["connection_failure_reason"] in FAILURE_REASONS
        assert re.fullmatch(r"\d+:.+", r["connection_failure_reason"])
        assert r["connection_setup_time"] is None and r["connection_end_time"] is None
    ended = [r for r in records if not r["connection_failure_reason"] and r["connection_end_time"]]
    assert len(ended) > 50 and all(r["connection_end_time"] > r["connection_start_time"] for r in ended)
    assert {d["login_status"] for d in ws.desktops} & {"CONNECTED", "DISCONNECTED"}
    # Spread evenly, so a failure counter refreshed every 30 s moves within two minutes.
    times = sorted(parse_iso(r["connection_start_time"]) or 0.0 for r in failed)
    assert max(b - a for a, b in itertools.pairwise(times)) < 90
    reconnects = [r for r in records if r["is_reconnect"] and not r["connection_failure_reason"]]
    assert len(reconnects) > 100


def test_the_office_day_has_a_busy_morning_and_a_quiet_night() -> None:
    _ws, sim, _clock = office()
    hours = Counter(int(sim.office_hour(T0 + s)) for s in range(0, 900, 5))
    assert len(hours) == 24  # one compressed day per 15 real minutes
    assert sim.presence(sim.epoch + 2 * 3600 / sim.speed) > 0.5  # 10:00
    assert sim.presence(sim.epoch + 15 * 3600 / sim.speed) == NIGHT_PRESENCE  # 23:00


def test_recordings_finish_and_upload_with_events_of_every_type_and_level() -> None:
    ws, sim, clock = office()
    run(sim, clock, 3600)
    statuses = Counter(r["status"] for r in ws.screen_records)
    assert statuses["UPLOAD_COMPLETED"] > 20
    assert set(statuses) <= {
        "RECORDING",
        "REC_COMPLETED",
        "UPLOADING",
        "UPLOAD_COMPLETED",
        "REC_FAILED",
        "UPLOAD_FAILED",
    }
    assert statuses["RECORDING"] == sum(1 for d in ws.desktops if d["login_status"] == "CONNECTED")
    ops = operations(ws)
    assert {o["event_type"] for o in ops} == {"APP", "FILE", "REG", "HDP"}
    assert {o["event_level"] for o in ops} >= {"INFO", "ALARM"}
    assert {o["event_id"] for o in ops} >= {eid for _, eid, _ in EVERYDAY}
    assert len(ops) == sim.counts["events"]


def _crash_run(hours: float) -> tuple[FakeWorkspace, list[dict[str, Any]], float]:
    """Crash events of an office run, and the desktop-hours of sessions it had."""
    ws, sim, clock = office()
    session_seconds = 0.0
    step = 10.0
    for _ in range(int(hours * 3600 / step)):
        clock.t += step
        sim.tick()
        session_seconds += step * sum(1 for d in ws.desktops if sim._open(d["desktop_id"]) is not None)
    crashes = [o for o in operations(ws) if o["event_id"] == "APP_CRASH"]
    return ws, crashes, session_seconds / 3600


def test_crashes_come_at_a_real_time_rate_per_hour_of_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The office day is compressed, an alert's hour is not: application crashes (the only
    ERROR-level event) come at CRASHES_PER_HOUR per hour of a desktop's sessions, in real time
    (checked here at a rate high enough to count)."""
    monkeypatch.setattr(sim_module, "CRASHES_PER_HOUR", 3.0)
    ws, crashes, session_hours = _crash_run(1.0)
    assert 0.7 * 3.0 * session_hours <= len(crashes) <= 1.3 * 3.0 * session_hours
    assert {o["event_level"] for o in crashes} == {"ERROR"}
    assert all(o["event_level"] != "ERROR" for o in operations(ws) if o["event_id"] != "APP_CRASH")


def test_a_normal_office_never_crashes_three_times_an_hour_on_one_desktop() -> None:
    """WorkspaceDesktopAppCrashing counts 3 crashes of one desktop in an hour: three hours of
    the demo's office (12 compressed days) never get there, yet crash now and then."""
    _ws, crashes, session_hours = _crash_run(3.0)
    assert CRASHES_PER_HOUR * session_hours > 1 and crashes
    by_desktop: dict[str, list[float]] = {}
    for o in crashes:
        by_desktop.setdefault(o["desktop_id"], []).append(parse_iso(o["operation_time"]) or 0.0)
    for times in by_desktop.values():
        times.sort()
        assert all(b - a > 3600 for a, b in zip(times, times[2:], strict=False))


def test_desktops_change_status_and_the_fleet_breathes_around_its_size() -> None:
    ws, sim, clock = office()
    run(sim, clock, 3 * 3600, step=10)
    assert sim.counts["status_changes"] > 20
    assert sim.counts["added"] > 0 and sim.counts["removed"] > 0
    assert 17 <= len(ws.desktops) <= 23
    assert Counter(d["status"] for d in ws.desktops)["ACTIVE"] >= 12


def test_sessions_drive_monitoring_and_shutoff_desktops_report_nothing() -> None:
    ws, sim, clock = office()
    run(sim, clock, 1800)
    busy: list[float] = []
    idle: list[float] = []
    for d in ws.desktops:
        body = ws.monitor_body(d["desktop_id"], clock.t - 3600, clock.t)
        assert body is not None
        cpu = body["cpu_info"]
        if d["status"] == "SHUTOFF":
            assert cpu == [] and body["network_vm_connections"] == []
            continue
        assert len(cpu) == 12
        for point in cpu:
            t = point["timestamp"] / 1000
            (busy if sim._active_at(d["desktop_id"], t) else idle).append(point["average"])
    ws.update_desktop(ws.desktops[0]["desktop_id"], status="SHUTOFF")
    assert ws.ces_series("cpu_util", ws.desktops[0]["desktop_id"], int(T0 * 1000), int(clock.t * 1000)) == []
    assert busy and idle and mean(busy) > mean(idle) + 20


def test_the_newest_point_moves_between_refreshes() -> None:
    ws, sim, clock = office()
    run(sim, clock, 600)
    did = next(d["desktop_id"] for d in ws.desktops if d["status"] == "ACTIVE")
    seen = set()
    for _ in range(6):
        run(sim, clock, 30)
        body = ws.monitor_body(did, clock.t - 3600, clock.t, "disk_read_bytes_rate")
        assert body is not None
        seen.add(body["disk_read_bytes_rate"][-1]["average"])
    assert len(seen) > 1


def test_a_long_pause_is_bounded() -> None:
    _ws, sim, clock = office(desktops=2)
    clock.t += 30 * 86400
    assert sim.tick() == MAX_STEPS_PER_TICK
    assert sim.last == clock.t


def _trigger(name: str) -> tuple[FakeWorkspace, Simulation, Clock, dict[str, Any]]:
    ws, sim, clock = office()
    run(sim, clock, 600)
    return ws, sim, clock, sim.trigger(name)


def test_login_failure_storm_fails_most_attempts_with_one_reason() -> None:
    ws, sim, clock, info = _trigger("login-failure-storm")
    before = len(ws.connection_records)
    run(sim, clock, 900)
    window = ws.connection_records[: len(ws.connection_records) - before]
    reasons = Counter(r["connection_failure_reason"] for r in window)
    assert len(window) >= 10
    assert reasons[FAILURE_REASONS[0]] / len(window) > 0.2
    assert info["alerts"] == ["WorkspaceLoginFailuresHigh", "WorkspaceLoginFailuresByReasonHigh"]


def test_throttling_limits_monitor_calls_to_a_rate_backing_off_helps() -> None:
    ws, sim, clock, _ = _trigger("throttling")
    verdicts = []
    for _ in range(60):  # 30 calls a minute for two minutes: beyond the limit, 429
        run(sim, clock, 2)
        verdicts.append(ws.pre_request(THROTTLED_API).status)
    assert (
        verdicts.count(0) == 2 * THROTTLE_PER_MINUTE and verdicts.count(429) == 60 - 2 * THROTTLE_PER_MINUTE
    )
    slow = []
    for _ in range(20):  # within the limit: every call answers
        run(sim, clock, 60 / THROTTLE_PER_MINUTE + 0.1)
        slow.append(ws.pre_request(THROTTLED_API).status)
    assert slow.count(429) <= 1
    run(sim, clock, SCENARIOS["throttling"].duration)
    assert "throttling" not in sim.incidents
    assert all(ws.pre_request(THROTTLED_API).status == 0 for _ in range(3 * THROTTLE_PER_MINUTE))


def test_upstream_outage_fails_every_api_until_it_ends() -> None:
    ws, sim, _clock, _ = _trigger("upstream-outage")
    assert ws.pre_request("desktops_detail").status == 503
    assert ws.pre_request("iam_projects").status == 503
    sim.trigger("calm")
    assert ws.pre_request("desktops_detail").status == 0


def test_stuck_and_silent_desktops() -> None:
    ws, sim, clock, info = _trigger("stuck-desktops")
    stuck, broken = info["desktops"]
    run(sim, clock, 600)
    body = ws.monitor_body(stuck, clock.t - 3600, clock.t)
    assert body is not None and body["online_status"] == 1 and body["user_online_info"] == []
    assert ws.desktop(broken)["status"] == "ERROR"  # type: ignore[index]
    silent = sim.trigger("silent-desktop")["desktops"][0]
    run(sim, clock, 60)
    body = ws.monitor_body(silent, clock.t - 3600, clock.t)
    assert body is not None and body["online_status"] == 0 and body["cpu_info"] == []
    assert ws.desktop(silent)["status"] == "ACTIVE"  # type: ignore[index]
    run(sim, clock, info["until"] - clock.t + 1)  # just past the incident's end
    assert "stuck-desktops" not in sim.incidents
    assert ws.desktop(broken)["status"] == "ACTIVE"  # type: ignore[index]
    assert ws.monitor_body(stuck, clock.t - 3600, clock.t)["online_status"] != 1  # type: ignore[index]


def test_error_events_and_hot_desktops() -> None:
    ws, sim, clock, info = _trigger("error-events")
    did = info["desktops"][0]
    before = {o["id"] for o in operations(ws)}
    run(sim, clock, 900)
    crashes = [
        o
        for o in operations(ws)
        if o["id"] not in before and o["desktop_id"] == did and o["event_id"] == "APP_CRASH"
    ]
    assert len(crashes) >= 25 and {o["event_level"] for o in crashes} == {"ERROR"}
    hot = sim.trigger("hot-desktops")["desktops"]
    run(sim, clock, 60)
    for h in hot:
        body = ws.monitor_body(h, clock.t - 3600, clock.t)
        assert body is not None
        for key in ("cpu_info", "memory_info", "disk_util_inband"):
            newest = max(body[key], key=lambda p: p["timestamp"])
            assert newest["average"] > 90 and newest["timestamp"] / 1000 > clock.t - PERIOD_S


def test_bad_scenarios_are_refused() -> None:
    _ws, sim, _clock = office(desktops=1)
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.trigger("nope")
    with pytest.raises(ValueError, match="too few free ACTIVE desktops"):
        sim.trigger("hot-desktops")
    with pytest.raises(ValueError, match="duration"):
        sim.trigger("throttling", duration=-1)
    with pytest.raises(ValueError, match="no simulation"):
        FakeWorkspace(1).trigger_scenario("calm")


def test_the_control_endpoint_triggers_a_scenario_and_says_what_runs() -> None:
    ws, sim, clock = office()
    bare = FakeWorkspace(1)
    with FakeServer(ws) as url, FakeServer(bare) as bare_url:
        idle = requests.get(f"{url}/_fake/scenario", timeout=5).json()
        assert idle["running"] == [] and "upstream-outage" in idle["available"]
        assert set(idle["unavailable"]) == {n for n, s in SCENARIOS.items() if s.exporter_side}
        resp = requests.post(
            f"{url}/_fake/scenario", json={"name": "upstream-outage", "duration": 60}, timeout=5
        )
        assert resp.status_code == 200 and resp.json()["alerts"] == ["WorkspaceSourceFailing"]
        assert resp.json()["until"] == clock.t + 60
        clock.t += 20
        (running,) = requests.get(f"{url}/_fake/scenario", timeout=5).json()["running"]
        assert running["name"] == "upstream-outage" and running["ends_in_seconds"] == 40
        assert running["alerts"] == ["WorkspaceSourceFailing"]
        assert requests.post(f"{url}/_fake/scenario", json={"name": "x"}, timeout=5).status_code == 400
        refused = requests.post(f"{url}/_fake/scenario", json={"name": "exporter-down"}, timeout=5)
        assert refused.status_code == 400 and "--with-prometheus" in refused.json()["error"]
        assert (
            requests.post(f"{bare_url}/_fake/scenario", json={"name": "calm"}, timeout=5).status_code == 400
        )
        assert requests.get(f"{bare_url}/_fake/scenario", timeout=5).json()["running"] == []
    assert "upstream-outage" in sim.incidents


class _Hook:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def end(self) -> None:
        self.calls.append("end")


def test_an_exporter_side_scenario_runs_the_demos_hook_for_its_duration() -> None:
    _ws, sim, clock = office()
    with pytest.raises(ValueError, match="run `workspace-exporter demo`"):
        sim.trigger("data-stale")
    hook = sim.hooks["data-stale"] = _Hook()
    info = sim.trigger("data-stale", duration=120)
    assert info["alerts"] == ["WorkspaceDataStale"] and hook.calls == ["start"]
    run(sim, clock, 60)
    assert hook.calls == ["start"]
    run(sim, clock, 61)
    assert hook.calls == ["start", "end"] and "data-stale" not in sim.incidents
    sim.trigger("data-stale")
    sim.trigger("calm")
    assert hook.calls == ["start", "end", "start", "end"]


def test_the_xlsx_export_is_a_real_workbook_with_the_csv_rows() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    ws, sim, clock = office()
    run(sim, clock, 600)
    data, _ = ws.export_v2({})
    ws.configure(export_format="csv")
    text, ctype = ws.export_v2({})
    assert ctype == "text/csv"
    expected = list(csv.reader(io.StringIO(text.decode())))
    assert expected[0] == list(EXPORT_COLUMNS) and len(expected) > 10
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    got = [["" if v is None else str(v) for v in row] for row in book.active.iter_rows(values_only=True)]
    book.close()
    width = len(EXPORT_COLUMNS)
    assert [row + [""] * (width - len(row)) for row in got] == expected
    assert [row + [""] * (width - len(row)) for row in sheet_rows(data)] == expected


def test_readme_lists_every_scenario_with_its_alerts() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rules = (Path(__file__).resolve().parents[2] / "helm/workspace-exporter/rules/alerts.yaml").read_text()
    for name, scenario in SCENARIOS.items():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}` |")), "")
        assert row, f"README has no row for scenario {name}"
        for alert in scenario.alerts:
            assert alert in row, f"README row of {name} misses {alert}"
            assert f"alert: {alert}\n" in rules, f"{alert} is not a shipped alert"
