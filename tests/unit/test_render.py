"""Cached exposition: data rendered once per version; live self-metrics every scrape; valid gzip."""

from __future__ import annotations

import gzip
import zlib

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.render import CachedExposition

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
    return CachedExposition(data, live, lambda: v.version), g, c, v


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
