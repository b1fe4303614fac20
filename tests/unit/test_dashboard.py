"""The shipped Grafana dashboard: light structure checks, and every metric it queries exists.

The metric check scrapes a real exporter running against the fake Workspace API with
connection records (a failure included) and key desktop events seeded, so counters that
only appear with their first event are there too. tests/e2e/test_e2e.py additionally runs
every query of the dashboard against a real Prometheus.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.catalogue import NAMESPACE
from exporter.fake import FAILURE_EXAMPLE
from tests.conftest import FakeApi, RunningExporter, wait_for
from tests.e2e import grafana

BOARD = grafana.load()
PANELS = list(grafana.panels(BOARD))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Series Prometheus makes itself, not the exporter.
PROMETHEUS_SERIES = {"up", "ALERTS"}
NS = NAMESPACE + "_"


def _variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in BOARD["templating"]["list"]}


def test_the_dashboard_has_a_stable_uid_a_title_and_unique_panel_ids() -> None:
    assert BOARD["uid"] == "workspace-exporter"
    assert BOARD["title"]
    ids = [p["id"] for p in PANELS]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) for i in ids)


def test_the_variables_are_datasource_job_and_desktop() -> None:
    variables = _variables()
    assert list(variables) == ["datasource", "job", "desktop"]
    ds = variables["datasource"]
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    for name in ("job", "desktop"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DATASOURCE
    assert grafana.variable_query(variables["job"]) == NS + "build_info"
    desktop = variables["desktop"]
    assert NS + "desktop_info" in (grafana.variable_query(desktop) or "")
    # The picker shows the computer name and passes the desktop_id on.
    assert "(?<text>" in desktop["regex"] and "(?<value>" in desktop["regex"]
    assert desktop["regex"].index("computer_name") < desktop["regex"].index("desktop_id")


def test_every_panel_queries_the_datasource_variable() -> None:
    for panel in PANELS:
        if panel["type"] == "row":
            assert not panel.get("targets"), panel["title"]
            continue
        where = f"panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == DATASOURCE, where
        assert panel["targets"], where
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        for t in panel["targets"]:
            assert t["expr"].strip(), where
            assert t.get("datasource", DATASOURCE) == DATASOURCE, where
            assert '$job"' in t["expr"] or "ALERTS" in t["expr"], f"{where}: not filtered by $job"


def test_the_rows_cover_the_fleet_desktops_logins_latency_events_and_exporter() -> None:
    rows = [p["title"] for p in PANELS if p["type"] == "row"]
    assert rows == [
        "Fleet overview",
        "Desktop drill-down: $desktop",
        "Logins",
        "Connection latency",
        "Desktop events",
        "Exporter health",
    ]


def test_panels_fit_the_24_column_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in PANELS:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (api, le) (rate(a_bucket{job=~"$job"}[$__rate_interval]))', {"a_bucket"}),
        ("topk(10, b * on (desktop_id) group_left (computer_name) max by (desktop_id) (c))", {"b", "c"}),
        ('count(d{status!="ACTIVE"}) or vector(0)', {"d"}),
        ("time() - e offset 5m > 1e3 and bool f", {"e", "f"}),
        ('label_replace(g, "x", "$1", "y", "(.*)")', {"g"}),
        ("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert grafana.metric_names(expr) == names


def test_every_query_uses_exporter_metrics_or_prometheus_series() -> None:
    for where, expr in grafana.queries(BOARD):
        names = grafana.metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        foreign = {n for n in names if not n.startswith(NS)} - PROMETHEUS_SERIES
        assert not foreign, f"{where}: {foreign}"


def _seed(fake_api: FakeApi) -> None:
    state = fake_api.state
    now = math.floor(state.now())
    for _ in range(3):
        state.add_connection_record(connection_start_time=now - 5)
    state.add_connection_record(connection_start_time=now - 5, connection_failure_reason=FAILURE_EXAMPLE)
    record = state.add_screen_record(state.desktops[0]["desktop_id"])["id"]
    for event in (("APP", "APP_CRASH", "ERROR"), ("HDP", "HDP_USB", "ALARM"), ("APP", "APP_START", "INFO")):
        state.add_operation(record, *event, operation_time=time.time() - 60)


def _scrape_is_complete(r: RunningExporter) -> dict[str, tuple[str, str]] | None:
    """Sample name -> (family name, family type), once every source has delivered its data."""
    families: dict[str, tuple[str, str]] = {}
    for family in text_string_to_metric_families(r.scrape()):
        for sample in family.samples:
            families[sample.name] = (family.name, family.type)
    wanted = (
        "connection_failures_total",
        "desktop_events_total",
        "desktop_memory_usage_ratio",
        "desktop_session_start_timestamp_seconds",
        "screen_records",
    )
    if not all(NS + w in families for w in wanted) or r.value(NS + "monitored_desktops") != 10:
        return None
    return families


@pytest.mark.integration
def test_every_metric_the_dashboard_queries_exists_in_a_real_scrape(
    fake_api: FakeApi, start_exporter: Callable[..., RunningExporter]
) -> None:
    _seed(fake_api)
    r = start_exporter(
        connections={"enabled": True, "lookback": "1m"}, events={"enabled": True, "lookback": "1h"}
    )
    families = wait_for(lambda: _scrape_is_complete(r), timeout=30)
    used: dict[str, str] = {}
    for where, expr in grafana.queries(BOARD):
        for name in grafana.metric_names(expr) - PROMETHEUS_SERIES:
            used.setdefault(name, where)
    missing = {name: where for name, where in used.items() if name not in families}
    assert not missing, f"metrics the dashboard queries but the exporter does not expose: {missing}"
    for name, where in used.items():
        family, kind = families[name]
        if name.endswith("_bucket"):
            assert kind == "histogram", f"{where}: {name} is not the buckets of a histogram"
        if kind == "histogram":  # _bucket, _sum, _count of one histogram family
            assert re.fullmatch(re.escape(family) + "_(bucket|sum|count)", name), f"{where}: {name}"
    # Every kind of family is covered: info, gauges, counters born with an event, histograms.
    assert {NS + "desktop_info", NS + "connection_failures_total", NS + "desktop_events_total"} <= set(used)
    histograms = {families[n][0] for n in used if families[n][1] == "histogram"}
    assert histograms == {
        NS + "connection_network_rtt_seconds",
        NS + "connection_e2e_rtt_seconds",
        NS + "connection_setup_duration_seconds",
        NS + "api_request_duration_seconds",
    }
