"""``/metrics?name[]=…``: exactly the named families, whole, from the one renderer, in both
formats and with gzip."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from exporter.app.multi import MultiExporter
from exporter.config.settings import Settings, parse_config
from exporter.exposition import catalogue as m
from exporter.serve.server import MAX_QUERY_FIELDS, HTTPServer, make_app
from exporter.sources.inventory import Desktop, InventorySnapshot, InventorySource
from exporter.sources.monitoring import DesktopMetrics, MonitoringSnapshot
from exporter.sources.monitoring_paths import MonitoringPaths

TEXT = "text/plain; version=0.0.4"
OM = "application/openmetrics-text; version=1.0.0"
UP = m.UP.full_name


def _settings(region: str) -> Settings:
    return parse_config(
        {
            "region": region,
            "project_id": "p1",
            "endpoints": {"workspace": "http://127.0.0.1:9", "iam": "http://127.0.0.1:9"},
        },
        {"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk"},
    )


def _multi(regions: tuple[str, ...] = ("cn-north-4",)) -> MultiExporter:
    """One target per region (never started: no upstream calls), each with five desktops."""
    multi = MultiExporter([_settings(r) for r in regions])
    for e in multi.exporters:
        desktops = [Desktop(f"d{i}", f"pc-{i}", "user") for i in range(5)]
        e.source("inventory", InventorySource).snapshot = InventorySnapshot.of(desktops, 0.0)
        entries = {
            d.desktop_id: DesktopMetrics(d.desktop_id, (("cpu_usage_ratio", 0.5),), 1.0, "logged_in")
            for d in desktops
        }
        paths = e.source("monitoring", MonitoringPaths)
        paths.per_desktop.snapshot = MonitoringSnapshot(MappingProxyType(entries), 0.0)
        e.api_metrics.request_done("desktops_detail", "200", 0.2)
    return multi


def _get(
    multi: MultiExporter, names: Iterable[str], accept: str, encoding: str = ""
) -> tuple[str, bytes, dict[str, str]]:
    app = make_app(multi.exposition, lambda: True, lambda: (True, ""))
    query = urlencode([("name[]", n) for n in names])
    env: dict[str, Any] = {
        "PATH_INFO": "/metrics",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": query,
        "HTTP_ACCEPT": accept,
        "HTTP_ACCEPT_ENCODING": encoding,
    }
    seen: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(env, start))
    return seen["status"], body, seen["headers"]


def _blocks(body: bytes) -> dict[str, bytes]:
    """A body cut into its families (each from its HELP line to the next), by the name in HELP."""
    out: dict[str, bytes] = {}
    current = ""
    for line in body.splitlines(keepends=True):
        if line.startswith(b"# HELP "):
            current = line.split()[2].decode()
            out[current] = b""
        if line != b"# EOF\n":
            out[current] += line
    return out


def _families(body: bytes) -> list[str]:
    """The family names of a body, read by prometheus_client's parser of its format (an info
    family is a gauge named ``…_info`` in the text format)."""
    text = body.decode()
    parse = openmetrics_families if text.endswith("# EOF\n") else text_string_to_metric_families
    return [f.name.removesuffix("_info") for f in parse(text)]


@pytest.mark.parametrize("accept", [TEXT, OM])
def test_one_family_name_returns_exactly_that_family(accept: str) -> None:
    multi = _multi()
    status, body, headers = _get(multi, [UP], accept)
    assert status == "200 OK"
    assert _families(body) == [UP]
    assert body.count(b"\n" + UP.encode() + b'{source="') == len(multi.exporters[0].sources)  # one per source
    full, _ = multi.exposition.body(accept, False)
    assert list(_blocks(body).values()) == [_blocks(full)[UP]]  # cut from the same render
    assert headers["Content-Type"].startswith(accept.split(";")[0])
    assert body.endswith(b"# EOF\n") == (accept == OM)


@pytest.mark.parametrize("accept", [TEXT, OM])
def test_family_and_sample_names_each_select_a_whole_family_in_exposition_order(accept: str) -> None:
    multi = _multi()
    names = [
        m.API_REQUESTS.full_name + "_total",  # a counter by its sample name
        m.API_DURATION.full_name + "_bucket",  # a histogram by one of its sample names: all of it
        m.DESKTOP_INFO.full_name,  # an info family by its family name
        m.MONITORING["cpu_usage_ratio"].full_name,  # a per-desktop gauge
        "huaweicloud_workspace_no_such_family",
    ]
    _, body, _ = _get(multi, names, accept)
    full, _ = multi.exposition.body(accept, False)
    every = _blocks(full)
    got = _blocks(body)
    assert set(_families(body)) == {
        m.API_REQUESTS.full_name,
        m.API_DURATION.full_name,
        m.DESKTOP_INFO.full_name,
        m.MONITORING["cpu_usage_ratio"].full_name,
    }
    assert list(got) == [name for name in every if name in got]  # in the order of the full body
    assert all(got[name] == every[name] for name in got)  # whole: every sample, HELP and TYPE
    duration = got[next(n for n in got if n.startswith(m.API_DURATION.full_name))]
    assert b"_count{" in duration and b"_sum{" in duration and b"_bucket{" in duration


@pytest.mark.parametrize("accept", [TEXT, OM])
def test_gzip_of_a_selection_is_the_plain_selection(accept: str) -> None:
    multi = _multi()
    names = [UP, m.DESKTOP_INFO.full_name + "_info"]
    _, plain, _ = _get(multi, names, accept)
    status, packed, headers = _get(multi, names, accept, "gzip")
    assert status == "200 OK" and headers["Content-Encoding"] == "gzip"
    assert headers["Content-Length"] == str(len(packed))
    assert gzip.decompress(packed) == plain
    assert _families(plain) == [m.DESKTOP_INFO.full_name, UP]


@pytest.mark.parametrize(("accept", "empty"), [(TEXT, b""), (OM, b"# EOF\n")])
def test_names_that_select_nothing_give_an_empty_exposition(accept: str, empty: bytes) -> None:
    status, body, _ = _get(_multi(), ["nothing", ""], accept)
    assert (status, body) == ("200 OK", empty)


def test_too_many_query_fields_are_a_400() -> None:
    status, body, _ = _get(_multi(), [UP] * (MAX_QUERY_FIELDS + 1), TEXT)
    assert status == "400 Bad Request"
    assert str(MAX_QUERY_FIELDS).encode() in body


def test_a_selection_is_served_over_http() -> None:
    multi = _multi()
    server = HTTPServer("127.0.0.1", 0, make_app(multi.exposition, lambda: True, lambda: (True, "")))
    server.start()
    try:
        r = requests.get(server.url + "/metrics", params={"name[]": UP}, timeout=10)
        assert r.status_code == 200
        assert _families(r.content) == [UP]
        r = requests.get(server.url + "/metrics", params={"name[]": UP}, headers={"Accept": OM}, timeout=10)
        assert _families(r.content) == [UP] and r.content.endswith(b"# EOF\n")
    finally:
        server.stop()


@pytest.mark.parametrize("accept", [TEXT, OM])
def test_a_multi_target_exporter_serves_the_named_family_of_every_target(accept: str) -> None:
    """Two targets' families are merged by name; ``name[]`` selects the merged family whole,
    every sample with its target's labels, and nothing else."""
    multi = _multi(("cn-north-4", "ap-southeast-1"))
    server = HTTPServer("127.0.0.1", 0, make_app(multi.exposition, lambda: True, lambda: (True, "")))
    server.start()
    try:
        r = requests.get(
            server.url + "/metrics", params={"name[]": UP}, headers={"Accept": accept}, timeout=10
        )
    finally:
        server.stop()
    assert r.status_code == 200
    assert _families(r.content) == [UP]
    for region, target in zip(("cn-north-4", "ap-southeast-1"), multi.exporters, strict=True):
        # one per source of the target
        assert r.content.count(f'project_id="p1",region="{region}",source="'.encode()) == len(target.sources)
    full, _ = multi.exposition.body(accept, False)
    assert list(_blocks(r.content).values()) == [_blocks(full)[UP]]
