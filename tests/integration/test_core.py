"""The exporter against the fake Workspace API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import pytest
import requests

from exporter.config.settings import parse_config
from exporter.fake import FakeServer, FakeWorkspace
from tests.conftest import FakeApi, RunningExporter, fast, wait_for

pytestmark = pytest.mark.integration

NS = "huaweicloud_workspace_"
T0 = 1_795_000_000


def _monitored(r: RunningExporter, n: int) -> bool:
    return r.value(NS + "monitored_desktops") == n


def _ids(fake_api: FakeApi) -> list[str]:
    return [d["desktop_id"] for d in fake_api.state.desktops]


def test_every_metric_has_the_value_the_api_gave(fake_api: FakeApi, start_exporter: Any) -> None:
    did = _ids(fake_api)[0]
    pts = lambda v, t=T0: [{"average": v, "timestamp": t * 1000}]  # noqa: E731
    fake_api.state.set_monitor(
        did,
        {
            "online_status": 1,
            "user_online_info": [],
            "cpu_info": [*pts(12.5), {"average": 99.0, "timestamp": (T0 - 300) * 1000}],
            "memory_info": pts(50.0),
            "disk_util_inband": pts(75.0),
            "disk_read_bytes_rate": pts(1000.0),
            "disk_write_bytes_rate": pts(2000.0),
            "disk_read_requests_rate": pts(3.0),
            "disk_write_requests_rate": pts(4.0),
            "network_incoming_bytes_rate_inband": pts(5000.0),
            "network_outgoing_bytes_rate_inband": pts(6000.0),
            "network_incoming_bytes_aggregate_rate": pts(7000.0),
            "network_outgoing_bytes_aggregate_rate": pts(8000.0),
            "network_vm_connections": pts(9.0, T0 + 300),
        },
    )
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    expected = {
        "desktop_cpu_usage_ratio": 0.125,
        "desktop_memory_usage_ratio": 0.5,
        "desktop_disk_usage_ratio": 0.75,
        "desktop_disk_read_bytes_per_second": 1000.0,
        "desktop_disk_write_bytes_per_second": 2000.0,
        "desktop_disk_read_requests_per_second": 3.0,
        "desktop_disk_write_requests_per_second": 4.0,
        "desktop_network_inband_receive_bytes_per_second": 5000.0,
        "desktop_network_inband_transmit_bytes_per_second": 6000.0,
        "desktop_network_outband_receive_bytes_per_second": 7000.0,
        "desktop_network_outband_transmit_bytes_per_second": 8000.0,
        "desktop_network_connections": 9.0,
        "desktop_monitoring_timestamp_seconds": float(T0 + 300),
    }
    samples = r.samples()
    for name, value in expected.items():
        assert samples[(NS + name, (("desktop_id", did),))] == value, name
    assert samples[(NS + "desktop_online_status", (("desktop_id", did), ("state", "logging_in")))] == 1.0
    assert samples[(NS + "desktop_online_status", (("desktop_id", did), ("state", "logged_in")))] == 0.0


def test_default_fake_data_matches_the_newest_datapoints(fake_api: FakeApi, start_exporter: Any) -> None:
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    samples = r.samples()
    linux = [d["desktop_id"] for d in fake_api.state.desktops if d["metadata"]["os_type"] == "Linux"]
    windows = [d["desktop_id"] for d in fake_api.state.desktops if d["metadata"]["os_type"] == "Windows"]
    assert linux and windows
    for did in windows:
        latest = fake_api.state.expected_latest(did, time.time())
        cpu = samples[(NS + "desktop_cpu_usage_ratio", (("desktop_id", did),))]
        assert cpu == pytest.approx(latest["cpu_info"][0] / 100)
        assert (NS + "desktop_memory_usage_ratio", (("desktop_id", did),)) in samples
    for did in linux:
        assert (NS + "desktop_memory_usage_ratio", (("desktop_id", did),)) not in samples
        assert (NS + "desktop_cpu_usage_ratio", (("desktop_id", did),)) in samples


def test_fifty_scrapes_do_not_multiply_upstream_calls(fake_api: FakeApi, start_exporter: Any) -> None:
    settings = fast(parse_config(fake_api.config(), fake_api.env()), inventory=3600, monitoring=3600)
    r = start_exporter(settings)
    wait_for(lambda: _monitored(r, 10))
    before = fake_api.state.call_counts()
    for _ in range(50):
        assert "desktop_info" in r.scrape()
    after = fake_api.state.call_counts()
    assert after == before
    assert after.get("desktops_detail") == 1
    assert after.get("desktop_monitor") == 10


def test_concurrent_scrapes_do_not_multiply_upstream_calls(fake_api: FakeApi, start_exporter: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = fast(parse_config(fake_api.config(), fake_api.env()), inventory=3600, monitoring=3600)
    r = start_exporter(settings)
    wait_for(lambda: _monitored(r, 10))
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: r.scrape(), range(40)))
    assert all("desktop_cpu_usage_ratio" in b for b in bodies)
    assert fake_api.state.calls("desktop_monitor") == 10


def test_server_errors_keep_last_good_values_and_show_in_self_metrics(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    did = _ids(fake_api)[0]
    good = r.value(NS + "desktop_cpu_usage_ratio", desktop_id=did)
    fake_api.state.fail("desktop_monitor", status=500, times=None)
    fake_api.state.fail("desktops_detail", status=503, times=None)
    wait_for(lambda: r.value(NS + "up", source="monitoring") == 0.0)
    wait_for(lambda: r.value(NS + "up", source="inventory") == 0.0)
    assert r.value(NS + "desktop_cpu_usage_ratio", desktop_id=did) == good
    assert r.value(NS + "desktop_info", **_info_labels(r, did)) == 1.0
    assert (r.value(NS + "api_retries_total", api="desktop_monitor") or 0) > 0
    assert (r.value(NS + "api_requests_total", api="desktop_monitor", code="500") or 0) > 0
    fake_api.state.reset_faults()
    wait_for(lambda: r.value(NS + "up", source="monitoring") == 1.0)
    wait_for(lambda: r.value(NS + "up", source="inventory") == 1.0)


def _info_labels(r: RunningExporter, did: str) -> dict[str, str]:
    for (name, labels), _ in r.samples().items():
        if name == NS + "desktop_info" and dict(labels)["desktop_id"] == did:
            return dict(labels)
    raise AssertionError(did)


def test_throttling_is_counted_and_slows_the_exporter(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.throttle("desktop_monitor", times=3)
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    assert r.value(NS + "api_throttled_total", api="desktop_monitor") == 3.0
    assert r.value(NS + "api_requests_total", api="desktop_monitor", code="429") == 3.0
    budget = r.value(NS + "api_budget_requests_per_minute", api="desktop_monitor")
    assert budget is not None and budget < 6000


def test_garbage_answers_are_counted_and_skipped(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.garbage("desktop_monitor", times=2, kind="notjson")
    fake_api.state.garbage("desktops_detail", times=1, kind="wrongshape")
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    assert (r.value(NS + "api_invalid_responses_total", api="desktop_monitor") or 0) >= 2
    assert (r.value(NS + "api_invalid_responses_total", api="desktops_detail") or 0) >= 1
    assert r.value(NS + "up", source="inventory") == 1.0


def test_bad_datapoint_values_are_skipped_not_exposed_as_nan(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.garbage("desktop_monitor", times=None, kind="badvalues")
    r = start_exporter()
    wait_for(lambda: r.value(NS + "up", source="monitoring") is not None)
    wait_for(lambda: (r.value(NS + "api_invalid_responses_total", api="desktop_monitor") or 0) > 0)
    assert "NaN" not in r.scrape()


def test_scrapes_answer_while_the_upstream_is_slow(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.set_latency("desktop_monitor", 5.0)
    r = start_exporter()
    wait_for(lambda: r.value(NS + "up", source="inventory") == 1.0)
    text = r.scrape()  # monitoring calls are still in flight
    assert "desktop_info{" in text
    assert "desktop_cpu_usage_ratio{" not in text
    fake_api.state.set_latency("desktop_monitor", 0)


def test_desktops_added_and_removed_follow_the_inventory(fake_api: FakeApi, start_exporter: Any) -> None:
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    gone = _ids(fake_api)[0]
    fake_api.state.remove_desktop(gone)
    new = fake_api.state.add_desktop()["desktop_id"]
    wait_for(lambda: f'desktop_id="{new}"' in r.scrape() and f'desktop_id="{gone}"' not in r.scrape())
    wait_for(lambda: r.value(NS + "desktop_cpu_usage_ratio", desktop_id=new) is not None)
    assert f'desktop_id="{gone}"' not in r.scrape()


def test_expired_iam_token_is_refreshed_without_failing(fake_api: FakeApi, start_exporter: Any) -> None:
    st = fake_api.state
    raw = fake_api.config(auth={"method": "token", "username": st.iam_user, "domain_name": st.iam_domain})
    settings = fast(parse_config(raw, {"WORKSPACE_EXPORTER_IAM_PASSWORD": st.iam_password}))
    r = start_exporter(settings)
    wait_for(lambda: _monitored(r, 10))
    assert st.tokens_issued == 1
    st.expire_tokens()
    before = st.calls("desktop_monitor")
    wait_for(lambda: st.calls("desktop_monitor") >= before + 10)
    wait_for(lambda: st.tokens_issued == 2)
    assert r.value(NS + "up", source="monitoring") == 1.0
    assert r.value(NS + "up", source="inventory") == 1.0
    assert r.value(NS + "api_requests_total", api="iam_tokens", code="201") == 2.0


def test_wrong_credentials_mark_sources_down_without_crashing(fake_api: FakeApi, start_exporter: Any) -> None:
    settings = fast(
        parse_config(
            fake_api.config(), {"HUAWEICLOUD_SDK_AK": fake_api.state.ak, "HUAWEICLOUD_SDK_SK": "wrong-secret"}
        )
    )
    r = start_exporter(settings)
    wait_for(lambda: r.value(NS + "up", source="inventory") == 0.0)
    assert r.value(NS + "api_requests_total", api="desktops_detail", code="401") is not None
    assert "wrong-secret" not in r.scrape()


def test_an_empty_project_reads_as_up_for_every_source(start_exporter: Any) -> None:
    # No desktops, no connection records, no recordings: every source has nothing to do,
    # which is healthy (WorkspaceSourceFailing must not fire), and the exporter is ready.
    state = FakeWorkspace(desktops=0)
    server = FakeServer(state)
    api = FakeApi(state, server.start())
    try:
        raw = api.config(connections={"enabled": True}, events={"enabled": True})
        r = start_exporter(fast(parse_config(raw, api.env())))
        sources = ("inventory", "monitoring", "connections", "events")
        wait_for(lambda: all(r.value(NS + "up", source=s) == 1.0 for s in sources))
        for s in sources:
            assert r.value(NS + "last_refresh_timestamp_seconds", source=s), s
        assert r.value(NS + "monitored_desktops") == 0.0
        assert requests.get(r.url + "/-/ready", timeout=5).status_code == 200
    finally:
        server.stop()


def test_an_empty_cloud_eye_project_reads_as_up(start_exporter: Any) -> None:
    state = FakeWorkspace(desktops=0)
    server = FakeServer(state)
    api = FakeApi(state, server.start())
    try:
        raw = api.config(monitoring={"source": "cloudeye", "cloudeye_dimension": "desktop_id"})
        r = start_exporter(fast(parse_config(raw, api.env())))
        wait_for(lambda: r.value(NS + "up", source="monitoring") == 1.0)
        assert r.value(NS + "up", source="inventory") == 1.0
    finally:
        server.stop()


def test_ready_after_first_inventory_refresh(fake_api: FakeApi, start_exporter: Any) -> None:
    r = start_exporter()
    wait_for(lambda: requests.get(r.url + "/-/ready", timeout=5).status_code == 200)


def test_ready_after_timeout_when_the_upstream_is_down(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.set_latency("desktops_detail", 3.0)
    r = start_exporter(web={"ready_timeout": "1s"})
    assert requests.get(r.url + "/-/ready", timeout=5).status_code == 503
    wait_for(lambda: requests.get(r.url + "/-/ready", timeout=5).status_code == 200, timeout=10)
    fake_api.state.set_latency("desktops_detail", 0)


def test_reload_applies_a_valid_config_and_keeps_counters(
    fake_api: FakeApi, start_exporter: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    for k, v in fake_api.env().items():
        monkeypatch.setenv(k, v)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(fake_api.config()))
    from exporter.config.targets import load_targets

    (settings,) = load_targets(path)
    r = start_exporter(fast(settings))
    wait_for(lambda: _monitored(r, 10))
    calls = r.value(NS + "api_requests_total", api="desktop_monitor", code="200")
    path.write_text(yaml.safe_dump(fake_api.config(inventory={"tag_labels": ["env"]})))
    resp = requests.post(r.url + "/-/reload", timeout=10)
    assert resp.status_code == 200
    assert "tag_env=" in r.scrape()
    assert (r.value(NS + "api_requests_total", api="desktop_monitor", code="200") or 0) >= (calls or 0)
    assert r.value(NS + "config_last_reload_successful") == 1.0
    path.write_text("region: [broken")
    resp = requests.post(r.url + "/-/reload", timeout=10)
    assert resp.status_code == 500
    assert "not valid YAML" in resp.text
    assert r.value(NS + "config_last_reload_successful") == 0.0
    assert "tag_env=" in r.scrape()  # the running config is kept


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed"
)
def test_promtool_accepts_a_real_scrape(fake_api: FakeApi, start_exporter: Any) -> None:
    r = start_exporter(inventory={"tag_labels": ["env"]})
    wait_for(lambda: _monitored(r, 10))
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=r.scrape(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_family_a_scrape_carries_is_in_the_catalogue(fake_api: FakeApi, start_exporter: Any) -> None:
    """The catalogue feeds the README table and the docs tests: a family exported past it is undocumented."""
    from exporter.exposition import catalogue

    known = {f.exposed_name for f in catalogue.ALL}
    known |= {
        f.full_name + s for f in catalogue.ALL if f.kind == "histogram" for s in ("_bucket", "_sum", "_count")
    }
    r = start_exporter()
    wait_for(lambda: _monitored(r, 10))
    scraped = {name for name, _ in r.samples()}
    assert scraped and scraped <= known, sorted(scraped - known)
