"""Cached exposition: data rendered once per version (in the background once started); live
self-metrics every scrape; valid gzip; a failed render keeps the last good bytes."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable
from functools import partial
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from exporter.app.multi import MultiExporter
from exporter.config.settings import parse_config
from exporter.exposition.lines import Block
from exporter.exposition.render import CachedExposition
from exporter.sources.inventory import Desktop, InventorySnapshot, InventorySource
from exporter.sources.monitoring import DesktopMetrics, MonitoringSnapshot
from exporter.sources.monitoring_paths import MonitoringPaths
from tests.oracle import data_collector, encoded

OM = "application/openmetrics-text; version=1.0.0"


class Versioned:
    def __init__(self) -> None:
        self.version = 1


def _setup() -> tuple[CachedExposition, Gauge, Counter, Versioned]:
    data, live = CollectorRegistry(), CollectorRegistry()
    g = Gauge("huaweicloud_workspace_test_data", "Data.", ["desktop_id"], registry=data)
    for i in range(100):
        g.labels(f"d{i}").set(i)
    c = Counter("huaweicloud_workspace_test_live", "Live.", registry=live)
    v = Versioned()
    return (
        CachedExposition(lambda: list(data.collect()), lambda: list(live.collect()), lambda: v.version),
        g,
        c,
        v,
    )


def test_data_is_rendered_once_per_version_and_format() -> None:
    exp, g, _, v = _setup()
    for _ in range(20):
        exp.body("", False)
        exp.body("", True)
    assert exp.renders == 1
    exp.body(OM, False)
    assert exp.renders == 2
    g.labels("d0").set(42)
    assert b'desktop_id="d0"} 0.0' in exp.body("", False)[0]  # same version: cached bytes
    v.version = 2
    assert b'desktop_id="d0"} 42.0' in exp.body("", False)[0]
    assert exp.renders == 3


def test_live_metrics_change_on_every_scrape() -> None:
    exp, _, c, _ = _setup()
    c.inc()
    assert b"huaweicloud_workspace_test_live_total 1.0" in exp.body("", False)[0]
    c.inc()
    assert b"huaweicloud_workspace_test_live_total 2.0" in exp.body("", False)[0]
    c.inc()
    assert b"huaweicloud_workspace_test_live_total 3.0" in gzip.decompress(exp.body("", True)[0])


def test_gzip_body_is_one_valid_member_equal_to_the_plain_body() -> None:
    exp, _, c, _ = _setup()
    for _ in range(3):
        c.inc()
        plain, ct_plain = exp.body("", False)
        packed, ct_gz = exp.body("", True)
        assert gzip.decompress(packed) == plain
        assert ct_plain == ct_gz
        d = zlib.decompressobj(31)
        assert d.decompress(packed) == plain
        assert d.eof
        assert d.unused_data == b""  # exactly one gzip member


def test_openmetrics_body_has_exactly_one_eof_at_the_end() -> None:
    exp, _, _, _ = _setup()
    body, ct = exp.body(OM, False)
    assert ct.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    assert body.count(b"# EOF") == 1
    text = body.decode()
    names = {f.name for f in text_string_to_metric_families(text.replace("# EOF\n", ""))}
    assert {"huaweicloud_workspace_test_data", "huaweicloud_workspace_test_live"} <= names


def test_text_format_parses_with_both_parts() -> None:
    exp, _, _, _ = _setup()
    text = exp.body("", False)[0].decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(fams["huaweicloud_workspace_test_data"].samples) == 100


def test_chunks_are_the_body_without_copying_the_cached_part() -> None:
    exp, _, c, _ = _setup()
    c.inc()
    first, _ = exp.chunks("", False)
    c.inc()
    second, _ = exp.chunks("", False)
    assert first[0] is second[0]  # the cached data part is served as is, per scrape
    assert b"".join(second) == exp.body("", False)[0]
    assert b"huaweicloud_workspace_test_live_total 2.0" in second[1]
    packed, _ = exp.chunks("", True)
    again, _ = exp.chunks("", True)
    assert packed[0] is again[0]
    assert gzip.decompress(b"".join(again)) == exp.body("", False)[0]


class Flaky:
    """Data whose rendering fails while ``broken`` is set (as a lone surrogate once did)."""

    def __init__(self) -> None:
        self.version = 1
        self.broken = False
        self.value = 1.0

    def blocks(self) -> list[Block]:
        if self.broken:
            "pc\ud800x".encode()
        g = GaugeMetricFamily("huaweicloud_workspace_test_flaky", "Flaky.", labels=["desktop_id"])
        g.add_metric(["d1"], self.value)
        return [g]


def _flaky() -> tuple[CachedExposition, Flaky]:
    f = Flaky()
    exp = CachedExposition(f.blocks, lambda: [], lambda: f.version, poll_interval=0.01)
    return exp, f


def _serves(exp: CachedExposition, line: bytes) -> bool:
    return line in exp.body("", False)[0]


def _wait(cond: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_a_failed_render_keeps_the_last_good_bytes_and_is_counted() -> None:
    exp, f = _flaky()
    assert b'huaweicloud_workspace_test_flaky{desktop_id="d1"} 1.0' in exp.body("", False)[0]
    f.version, f.broken, f.value = 2, True, 2.0
    for gz in (False, True, False):
        body, _ = exp.body("", gz)
        text = gzip.decompress(body) if gz else body
        assert b'huaweicloud_workspace_test_flaky{desktop_id="d1"} 1.0' in text
        assert b"huaweicloud_workspace_render_errors_total 1.0" in text  # not retried per scrape
    f.version, f.broken = 3, False
    assert b'huaweicloud_workspace_test_flaky{desktop_id="d1"} 2.0' in exp.body("", False)[0]


def test_the_background_renderer_renders_and_scrapes_only_read() -> None:
    exp, f = _flaky()
    exp.start()
    try:
        exp.body("", True)  # asks for the text format and gzip once
        renders = exp.renders
        for value in (2.0, 3.0):
            f.value, f.version = value, f.version + 1
            exp.poke()
            line = f'huaweicloud_workspace_test_flaky{{desktop_id="d1"}} {value}'.encode()
            assert _wait(partial(_serves, exp, line))
            assert line in gzip.decompress(exp.body("", True)[0])
        assert exp.renders == renders + 2  # one per data change, none per scrape
        f.version, f.broken = f.version + 1, True
        assert _wait(lambda: exp.stats.errors == 1)
        assert b'{desktop_id="d1"} 3.0' in exp.body("", False)[0]
    finally:
        exp.stop()
    assert exp._thread is None


def test_a_format_nobody_asks_for_any_more_is_no_longer_rendered() -> None:
    f = Flaky()
    exp = CachedExposition(f.blocks, lambda: [], lambda: f.version, poll_interval=0.01, format_idle=0.2)
    exp.start()
    try:
        exp.body(OM, True)  # registers OpenMetrics; the text format was registered at start
        assert _wait(lambda: exp._formats == {"openmetrics"})  # the text format idle for 0.2 s
        before = exp.renders
        f.version = 2
        exp.body(OM, True)  # keep OpenMetrics asked for
        assert _wait(lambda: b"# EOF" in exp.body(OM, False)[0] and exp.current())
        assert exp.renders == before + 1  # OpenMetrics only
        text, _ = exp.body("", False)  # asked again: rendered once by this scrape
        assert b'huaweicloud_workspace_test_flaky{desktop_id="d1"} 1.0' in text
        assert exp.renders == before + 2
    finally:
        exp.stop()


def test_a_failing_version_callback_does_not_end_the_renderer() -> None:
    broken = [True]

    def version() -> int:
        if broken[0]:
            raise RuntimeError("boom")
        return 1

    exp = CachedExposition(lambda: [], lambda: [], version, poll_interval=0.01)
    exp.start()
    try:
        assert _wait(lambda: exp.stats.errors >= 2)
        broken[0] = False
        assert _wait(exp.current)
        assert exp._thread is not None and exp._thread.is_alive()
        assert b"huaweicloud_workspace_render_errors_total" in exp.body("", False)[0]
    finally:
        exp.stop()


@pytest.mark.parametrize("targets", [1, 2])
def test_multi_exporter_serves_what_generate_latest_would(targets: int) -> None:
    settings = [
        parse_config(
            {
                "region": "cn-north-4",
                "project_id": f"p{i}",
                "endpoints": {"workspace": "http://127.0.0.1:9", "iam": "http://127.0.0.1:9"},
            },
            {"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk"},
        )
        for i in range(targets)
    ]
    multi = MultiExporter(settings)  # never started: no upstream calls
    for n, e in enumerate(multi.exporters):
        desktops = [Desktop(f"d{n}-{i}", f'pc "{i}"\n', "user\\x") for i in range(30)]
        e.source("inventory", InventorySource).snapshot = InventorySnapshot.of(desktops, 0.0)
        entries = {
            d.desktop_id: DesktopMetrics(d.desktop_id, (("cpu_usage_ratio", i / 7),), 1.0, "logged_in")
            for i, d in enumerate(desktops)
        }
        paths = e.source("monitoring", MonitoringPaths)
        paths.per_desktop.snapshot = MonitoringSnapshot(MappingProxyType(entries), 0.0)
    for accept in ("", OM):
        expected = encoded(data_collector(multi), accept)
        body, _ = multi.exposition.body(accept, False)
        assert body.startswith(expected)
        assert len(expected) > 10_000


def test_api_counters_are_encoded_again_only_after_a_call_changed_them() -> None:
    """The API self-metrics change only when a call ends: between calls a scrape reuses the
    families and their encoding; after one, the scrape shows it."""
    raw = {"region": "cn-north-4", "project_id": "p1", "monitoring": {"enabled": False}}
    multi = MultiExporter([parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})])
    api = multi.exporters[0].api_metrics
    first = list(api.collect())
    assert list(api.collect()) == first and all(a is b for a, b in zip(api.collect(), first, strict=True))
    before, _ = multi.exposition.body(OM, False)
    assert multi.exposition.body(OM, False)[0] == before  # from the kept encoding
    api.request_done("desktops_detail", "200", 0.2)
    assert not any(a is b for a, b in zip(api.collect(), first, strict=True))
    after, _ = multi.exposition.body(OM, False)
    line = b'huaweicloud_workspace_api_requests_total{api="desktops_detail",code="200"} 1.0\n'
    assert line not in before and line in after
    assert after == multi.exposition.body(OM, False)[0]  # and again, from the kept encoding
