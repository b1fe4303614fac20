"""``monitoring.source: cloudeye`` against the fake Workspace and Cloud Eye API on 127.0.0.1."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from exporter.app.scheduler import PeriodicRunner
from exporter.config.settings import Settings, parse_config
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.monitoring_paths import MonitoringPaths
from tests.conftest import FakeApi, RunningExporter, fast, wait_for

pytestmark = pytest.mark.integration

NS = "huaweicloud_workspace_"
PATH = NS + "monitoring_path"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
WINDOWS_ONLY = (
    "desktop_memory_usage_ratio",
    "desktop_disk_usage_ratio",
    "desktop_network_inband_receive_bytes_per_second",
    "desktop_network_inband_transmit_bytes_per_second",
)


def _settings(
    fake_api: FakeApi,
    interval: float = 1.0,
    ces_per_minute: float = 6000,
    inventory: float = 0.5,
    monitor_per_minute: float = 6000,
    **monitoring: Any,
) -> Settings:
    per_api = {
        "desktops_detail": 6000,
        "desktop_monitor": monitor_per_minute,
        "ces_batch_v2": ces_per_minute,
        "ces_batch_v1": ces_per_minute,
    }
    raw = fake_api.config(
        monitoring={"source": "cloudeye", "cloudeye_delay": "0s", **monitoring},
        budget={"burst": 5, "per_api": {**per_api, "ces_metrics": 600}},
    )
    return fast(parse_config(raw, fake_api.env()), inventory=inventory, monitoring=interval)


def _monitored(r: RunningExporter, n: int) -> bool:
    return r.value(NS + "monitored_desktops") == n


def _desktop_series(r: RunningExporter) -> Samples:
    """Every per-desktop sample except session times (Cloud Eye has no login data)."""
    return {
        k: v for k, v in r.samples().items() if k[0].startswith(NS + "desktop_") and "_session_" not in k[0]
    }


def _source(r: RunningExporter) -> CloudEyeSource:
    return r.exporter.source("monitoring", MonitoringPaths).cloudeye


def _runner(r: RunningExporter) -> PeriodicRunner:
    """The runner of the monitoring passes (which refresh Cloud Eye when it is the path)."""
    runners = getattr(r.exporter.runner("monitoring"), "runners", ())
    passes = [t for t in runners if isinstance(t, PeriodicRunner)]
    assert len(passes) == 1
    return passes[0]


def _path(r: RunningExporter) -> str | None:
    paths = [p for p in ("workspace", "cloudeye_v2", "cloudeye_v1") if r.value(PATH, path=p) == 1.0]
    return paths[0] if len(paths) == 1 else None


@pytest.mark.parametrize(
    ("ces_v2", "path"),
    [("available", "cloudeye_v2"), ("404", "cloudeye_v1"), ("400", "cloudeye_v1")],
)
def test_cloud_eye_gives_the_same_series_and_values_as_the_workspace_source(
    fake_api: FakeApi, start_exporter: Any, ces_v2: str, path: str
) -> None:
    fake_api.state.configure(ces_v2=ces_v2)
    workspace = start_exporter()  # auto: 10 desktops fit the budget
    cloudeye = start_exporter(_settings(fake_api))
    wait_for(lambda: _monitored(workspace, 10) and _monitored(cloudeye, 10))
    assert _path(workspace) == "workspace"
    assert _path(cloudeye) == path
    v1_calls = fake_api.state.calls("ces_batch_v1")
    assert (v1_calls >= 1) if path == "cloudeye_v1" else (v1_calls == 0)

    def same() -> Samples | None:  # equal once both hold the datapoint of the same 5 minutes
        a, b = _desktop_series(workspace), _desktop_series(cloudeye)
        return a if a == b else None

    series = wait_for(same)
    did = fake_api.state.desktops[0]["desktop_id"]
    names = {name for name, labels in series if ("desktop_id", did) in labels}
    assert NS + "desktop_cpu_usage_ratio" in names
    assert NS + "desktop_network_connections" in names
    assert NS + "desktop_online_status" in names
    assert 0.0 < series[(NS + "desktop_cpu_usage_ratio", (("desktop_id", did),))] < 1.0
    assert workspace.value(NS + "up", source="monitoring") == 1.0
    assert cloudeye.value(NS + "up", source="monitoring") == 1.0
    # the documented difference: session times need the desktop-monitor API
    assert "desktop_session_start_timestamp_seconds{" in workspace.scrape()
    assert "desktop_session_start_timestamp_seconds{" not in cloudeye.scrape()


def test_linux_desktops_lack_the_windows_only_series(fake_api: FakeApi, start_exporter: Any) -> None:
    r = start_exporter(_settings(fake_api))
    wait_for(lambda: _monitored(r, 10))
    samples = r.samples()
    for d in fake_api.state.desktops:
        labels = (("desktop_id", d["desktop_id"]),)
        assert (NS + "desktop_cpu_usage_ratio", labels) in samples
        windows = d["metadata"]["os_type"] == "Windows"
        for name in WINDOWS_ONLY:
            assert ((NS + name, labels) in samples) is windows, (d["computer_name"], name)


def test_a_refresh_costs_one_call_per_thousand_desktops_per_metric(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    st = fake_api.state
    for _ in range(2500 - len(st.desktops)):
        st.add_desktop()
    r = start_exporter(_settings(fake_api, interval=3600, ces_per_minute=1200, inventory=3600))
    wait_for(lambda: _monitored(r, 2500), timeout=60)
    wait_for(lambda: _runner(r).refreshes == 1)
    # Paging ends on an empty page (the real answer carries no total, and may be short before
    # the end): 8 metrics x (1,000 + 1,000 + 500 + empty); the 4 Windows-only ones have 2,000
    # points: 2 full pages and the empty one.
    assert st.calls("ces_batch_v2") == 8 * 4 + 4 * 3
    assert st.calls("ces_metrics") == 1  # dimension discovery, once
    assert st.calls("desktop_monitor") == 0
    assert r.value(NS + "api_requests_total", api="ces_batch_v2", code="200") == 44.0
    assert r.value(NS + "api_budget_requests_per_minute", api="ces_batch_v2") == 1200.0
    _runner(r).kick()
    wait_for(lambda: _runner(r).refreshes == 2, timeout=60)
    assert st.calls("ces_batch_v2") == 2 * 44
    assert st.calls("ces_metrics") == 1  # the discovered dimension is cached


@pytest.mark.parametrize(
    ("configured", "list_calls"),
    [("", 1), ("desktop_id", 0)],
    ids=["discovered", "configured"],
)
def test_the_desktop_id_dimension_is_discovered_or_taken_from_the_config(
    fake_api: FakeApi, start_exporter: Any, configured: str, list_calls: int
) -> None:
    fake_api.state.configure(ces_dimension="desktop_id")
    r = start_exporter(_settings(fake_api, cloudeye_dimension=configured))
    wait_for(lambda: _monitored(r, 10))
    assert _source(r).dimension == "desktop_id"
    assert fake_api.state.calls("ces_metrics") == list_calls


def test_a_wrong_configured_dimension_yields_no_data_but_no_error(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    fake_api.state.configure(ces_dimension="desktop_id")
    r = start_exporter(_settings(fake_api, interval=3600, cloudeye_dimension="instance_id"))
    wait_for(lambda: _runner(r).refreshes == 1)
    assert r.value(NS + "monitored_desktops") == 0.0
    assert r.value(NS + "up", source="monitoring") == 1.0


def test_the_delay_finds_datapoints_that_cloud_eye_is_still_ingesting(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    fake_api.state.configure(monitor_lag_s=120.0)
    r = start_exporter(_settings(fake_api, cloudeye_delay="2m"))
    wait_for(lambda: _monitored(r, 10))  # without the delay, up to 40% of refreshes find nothing
    assert r.value(NS + "up", source="monitoring") == 1.0


def test_server_errors_keep_the_last_values_and_mark_the_source_down(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    r = start_exporter(_settings(fake_api))
    wait_for(lambda: _monitored(r, 10))
    fake_api.state.fail("ces_batch_v2", status=503, times=None)
    wait_for(lambda: r.value(NS + "up", source="monitoring") == 0.0)
    assert _monitored(r, 10)  # served from the last good refresh until monitoring.max_age
    fake_api.state.reset_faults()
    wait_for(lambda: r.value(NS + "up", source="monitoring") == 1.0, timeout=30)


def test_garbage_datapoints_are_counted_and_never_exposed(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.garbage("ces_batch_v2", times=None, kind="badvalues")
    r = start_exporter(_settings(fake_api))
    wait_for(lambda: (r.value(NS + "api_invalid_responses_total", api="ces_batch_v2") or 0) >= 10)
    text = r.scrape()
    assert "desktop_cpu_usage_ratio{" not in text
    assert "NaN" not in text


def test_auto_reads_a_fleet_the_budget_cannot_cover_from_cloud_eye(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    # 600 desktop_monitor calls/min cover 9 desktops per 1 s interval: 10 do not fit.
    r = start_exporter(_settings(fake_api, source="auto", monitor_per_minute=600))
    wait_for(lambda: _monitored(r, 10) and _path(r) == "cloudeye_v2")
    assert fake_api.state.calls("desktop_monitor") == 0
    assert r.value(NS + "up", source="monitoring") == 1.0


def test_auto_falls_back_to_per_desktop_calls_when_cloud_eye_is_denied(
    fake_api: FakeApi, start_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake_api.state.deny("ces_batch_v2")
    r = start_exporter(_settings(fake_api, source="auto", monitor_per_minute=600))
    wait_for(lambda: _monitored(r, 10) and _path(r) == "workspace")
    assert fake_api.state.calls("desktop_monitor") >= 10
    denied = fake_api.state.calls("ces_batch_v2")
    assert 1 <= denied <= 3  # the refresh gives up after 3 consecutive refusals
    passes = _runner(r).refreshes
    wait_for(lambda: _runner(r).refreshes >= passes + 3)
    assert fake_api.state.calls("ces_batch_v2") == denied  # later passes ask Cloud Eye nothing
    assert r.value(NS + "up", source="monitoring") == 1.0
    warnings = [x.getMessage() for x in caplog.records if x.levelno >= logging.WARNING]
    assert len([w for w in warnings if "ces:metricData:list" in w]) == 1, warnings


def test_a_reload_switches_the_monitoring_source_without_a_restart(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    r = start_exporter(_settings(fake_api, interval=3600, source="workspace"))
    wait_for(lambda: _monitored(r, 10) and _path(r) == "workspace")
    assert fake_api.state.calls("ces_batch_v2") == 0
    # an hour-long interval: only the reload's kick can make the switch happen now
    r.exporter.apply(_settings(fake_api, interval=3600, source="cloudeye"))
    wait_for(lambda: _path(r) == "cloudeye_v2")
    assert fake_api.state.calls("ces_batch_v2") > 0
    assert _monitored(r, 10)
