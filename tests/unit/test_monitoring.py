"""Parsing desktop-monitor answers: units, newest datapoint, s/ms timestamps, absent metrics."""

from __future__ import annotations

import math
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import MonitoringConfig
from exporter.errors import ClientRequestError, UpstreamUnavailableError
from exporter.sources.monitoring import MonitoringSource, parse_monitor
from exporter.timeutil import epoch_seconds, fmt_minutes, fmt_seconds, fmt_space, parse_time

T0 = 1_763_900_000  # 2025-11-23T12:13:20Z


def _points(*pairs: tuple[float, int]) -> list[dict[str, Any]]:
    return [{"average": a, "timestamp": t} for a, t in pairs]


def test_percentages_become_ratios_and_the_newest_datapoint_wins() -> None:
    body = {
        "cpu_info": _points((10.0, T0 * 1000), (42.5, (T0 + 300) * 1000), (7.0, (T0 - 300) * 1000)),
        "memory_info": _points((80.0, (T0 + 300) * 1000)),
        "disk_util_inband": _points((55.0, (T0 + 300) * 1000)),
        "disk_read_bytes_rate": _points((1024.0, (T0 + 300) * 1000)),
        "network_vm_connections": _points((12, (T0 + 300) * 1000)),
        "online_status": 2,
        "user_online_info": [],
    }
    m, invalid = parse_monitor("d1", body)
    values = dict(m.values)
    assert values["cpu_usage_ratio"] == pytest.approx(0.425)
    assert values["memory_usage_ratio"] == pytest.approx(0.8)
    assert values["disk_usage_ratio"] == pytest.approx(0.55)
    assert values["disk_read_bytes_per_second"] == 1024.0
    assert values["network_connections"] == 12.0
    assert m.sample_time == T0 + 300
    assert m.online_state == "logged_in"
    assert invalid == 0


def test_timestamps_in_seconds_and_milliseconds_give_the_same_time() -> None:
    ms, _ = parse_monitor("d", {"cpu_info": _points((1.0, T0 * 1000))})
    s, _ = parse_monitor("d", {"cpu_info": _points((1.0, T0))})
    assert ms.sample_time == s.sample_time == T0


def test_missing_metrics_are_absent_not_zero() -> None:
    m, invalid = parse_monitor(
        "linux", {"cpu_info": _points((5.0, T0)), "memory_info": [], "disk_util_inband": None}
    )
    keys = dict(m.values)
    assert set(keys) == {"cpu_usage_ratio"}
    assert invalid == 0


def test_a_negative_zero_from_upstream_is_published_as_zero() -> None:
    # -0.0 == 0.0, so a snapshot holding one compares equal to one holding the other, yet
    # they render as different texts: only 0.0 may reach a snapshot.
    m, invalid = parse_monitor("d", {"cpu_info": _points((-0.0, T0)), "memory_info": _points(("-0", T0))})
    assert invalid == 1  # the string is not a JSON number
    ((key, value),) = m.values
    assert (key, math.copysign(1.0, value)) == ("cpu_usage_ratio", 1.0)


def test_garbage_datapoints_are_counted_and_skipped() -> None:
    body = {
        "cpu_info": [
            {"average": "NaN", "timestamp": T0},
            {"average": "7.5", "timestamp": T0},  # the API sends JSON numbers: text is garbage
            {"average": float("nan"), "timestamp": T0},
            {"average": None, "timestamp": T0},
            {"average": 3.0, "timestamp": "yesterday"},
            {"average": True, "timestamp": T0},
            {"average": -1.0, "timestamp": T0},
            "junk",
            {"average": 9.0, "timestamp": T0},
        ],
        "memory_info": "not a list",
    }
    m, invalid = parse_monitor("d", body)
    assert dict(m.values) == {"cpu_usage_ratio": pytest.approx(0.09)}
    assert invalid == 9
    assert all(math.isfinite(v) for _, v in m.values)


@pytest.mark.parametrize(("status", "state"), [(0, "not_logged_in"), (1, "logging_in"), (2, "logged_in")])
def test_online_status_maps_to_a_state(status: int, state: str) -> None:
    m, _ = parse_monitor("d", {"online_status": status, "user_online_info": []})
    assert m.online_state == state


def test_unknown_online_status_is_absent() -> None:
    m, _ = parse_monitor("d", {"online_status": 7})
    assert m.online_state is None


def test_open_session_means_logged_in_with_a_start_time() -> None:
    body = {
        "online_status": 0,
        "user_online_info": [
            {"connection_setup_time": "2025-11-23T08:00:00Z", "connection_end_time": "2025-11-23T09:00:00Z"},
            {"connection_setup_time": "2025-11-23T10:00:00Z", "connection_end_time": None},
        ],
    }
    m, _ = parse_monitor("d", body)
    assert m.online_state == "logged_in"
    assert m.session_start == parse_time("2025-11-23T10:00:00Z")
    assert m.session_end is None


def test_closed_latest_session_means_not_logged_in_with_an_end_time() -> None:
    body = {
        "user_online_info": [{"connection_setup_time": T0 * 1000, "connection_end_time": (T0 + 60) * 1000}]
    }
    m, _ = parse_monitor("d", body)
    assert (m.online_state, m.session_start, m.session_end) == ("not_logged_in", T0, T0 + 60)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, T0),
        (T0 * 1000, T0),
        (T0 * 1_000_000, T0),
        (str(T0 * 1000), T0),
        (0, None),
        (-5, None),
        (True, None),
        (float("inf"), None),
        ("abc", None),
        (12345, None),
    ],
)
def test_epoch_seconds_detects_the_unit(value: object, expected: float | None) -> None:
    assert epoch_seconds(value) == expected


@pytest.mark.parametrize(
    "text",
    ["2025-11-23T12:13:20Z", "2025-11-23T12:13:20.000Z", "2025-11-23 12:13:20", "2025-11-23T20:13:20+08:00"],
)
def test_parse_time_accepts_the_api_shapes(text: str) -> None:
    assert parse_time(text) == T0


def test_time_formats_match_each_api() -> None:
    assert fmt_seconds(T0) == "2025-11-23T12:13:20Z"
    assert fmt_minutes(T0) == "2025-11-23T12:13Z"
    assert fmt_space(T0) == "2025-11-23 12:13:20"


class _Client:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.error: Exception | None = None

    def desktop_monitor(self, desktop_id: str, start_time: str, end_time: str) -> dict[str, Any]:
        self.calls.append((desktop_id, start_time, end_time))
        if self.error:
            raise self.error
        return {"cpu_info": _points((50.0, T0))}


class _Invalid:
    def __init__(self) -> None:
        self.count = 0

    def invalid_response(self, api: str) -> None:
        self.count += 1


def test_source_asks_for_a_window_of_at_least_an_hour() -> None:
    clock = FakeClock(start=T0)
    client = _Client()
    src = MonitoringSource(client, MonitoringConfig(), clock, _Invalid())
    assert src.fetch("d1")
    _, start, end = client.calls[0]
    assert parse_time(end) - parse_time(start) == 3600  # type: ignore[operator]


def test_published_snapshot_is_immutable_and_values_expire_after_max_age() -> None:
    clock = FakeClock(start=T0)
    src = MonitoringSource(_Client(), MonitoringConfig(interval=60, max_age=600), clock, _Invalid())
    src.fetch("d1")
    assert src.publish()
    snap = src.snapshot
    assert "d1" in snap.entries
    with pytest.raises(TypeError):
        snap.entries["x"] = snap.entries["d1"]  # type: ignore[index]
    assert not src.publish()  # nothing changed
    clock.advance(601)
    assert src.publish()
    assert "d1" not in src.snapshot.entries
    assert "d1" in snap.entries  # the old snapshot is untouched


def test_a_fleet_the_budget_cannot_cover_stretches_the_interval_and_keeps_values_as_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(start=T0)
    rate = {"per_minute": 100.0}
    src = MonitoringSource(_Client(), MonitoringConfig(), clock, _Invalid(), lambda: rate["per_minute"])
    src.set_fleet_size(400)  # 400 calls in 5 minutes at 90/min: the budget keeps up
    assert (src.interval(), src.max_age()) == (300.0, 1800.0)
    assert "pass_seconds" not in caplog.text
    src.set_fleet_size(10_000)  # one pass needs 10,000 / 90 minutes
    assert src.interval() == pytest.approx(10_000 / 90 * 60)
    assert src.max_age() == pytest.approx(1800 + 10_000 / 90 * 60 - 300)
    assert "desktops=10000 calls_per_minute=100 pass_seconds=6667" in caplog.text
    src.fetch("d1")
    src.publish()
    clock.advance(src.interval())  # a whole stretched pass later the value is still served
    src.publish()
    assert "d1" in src.snapshot.entries
    clock.advance(1801)
    src.publish()
    assert "d1" not in src.snapshot.entries
    rate["per_minute"] = 100_000.0  # a raised budget: back to monitoring.interval
    assert src.interval() == 300.0


def test_failed_refresh_keeps_last_good_values_and_marks_the_source_down() -> None:
    clock = FakeClock(start=T0)
    client = _Client()
    src = MonitoringSource(client, MonitoringConfig(), clock, _Invalid())
    src.fetch("d1")
    src.publish()
    client.error = UpstreamUnavailableError("desktop_monitor", 503)
    assert not src.fetch("d1")
    src.publish()
    assert "d1" in src.snapshot.entries
    assert src.health.status.up is False


def test_one_missing_desktop_does_not_mark_the_source_down() -> None:
    clock = FakeClock(start=T0)
    client = _Client()
    src = MonitoringSource(client, MonitoringConfig(), clock, _Invalid())
    src.fetch("d1")
    client.error = ClientRequestError("desktop_monitor", 404, "WKS.0004", "desktop not found")
    assert not src.fetch("gone")
    assert src.health.status.up is True


def test_a_pass_in_which_every_desktop_is_refused_marks_the_source_down_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(start=T0)
    client = _Client()
    src = MonitoringSource(client, MonitoringConfig(), clock, _Invalid())
    src.set_fleet_size(3)
    for did in ("d1", "d2", "d3"):
        assert src.fetch(did)
    assert src.health.status.up is True
    client.error = ClientRequestError("desktop_monitor", 400, "WKS.00211102", "Invalid parameter: start_time")
    for _ in range(3):  # three whole passes, every call refused
        for did in ("d1", "d2", "d3"):
            assert not src.fetch(did)
    assert src.health.status.up is False
    warnings = [r for r in caplog.records if "refused some items" in r.getMessage()]
    assert len(warnings) == 1 and "items=3" in warnings[0].getMessage()
    client.error = None
    assert src.fetch("d1")
    assert src.health.status.up is True


def test_one_desktop_refused_in_a_pass_is_logged_once_and_the_source_stays_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(start=T0)
    client = _Client()
    src = MonitoringSource(client, MonitoringConfig(), clock, _Invalid())
    src.set_fleet_size(2)
    for _ in range(4):
        assert src.fetch("ok")
        client.error = ClientRequestError("desktop_monitor", 404, "WKS.0004", "desktop not found")
        assert not src.fetch("gone")
        client.error = None
    assert src.health.status.up is True
    warnings = [r for r in caplog.records if "refused some items" in r.getMessage()]
    assert len(warnings) == 1 and "first=gone" in warnings[0].getMessage()
