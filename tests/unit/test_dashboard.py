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
from pathlib import Path
from typing import Any

import pytest
import yaml
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
RULES = Path(__file__).resolve().parents[2] / "helm" / "workspace-exporter" / "rules" / "alerts.yaml"
# Series the shipped recording rules make.
RECORDED = {
    r["record"]
    for g in yaml.safe_load(RULES.read_text("utf-8"))["groups"]
    for r in g["rules"]
    if "record" in r
}
NS = NAMESPACE + "_"


def _variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in BOARD["templating"]["list"]}


def test_the_dashboard_has_a_stable_uid_a_title_and_unique_panel_ids() -> None:
    assert BOARD["uid"] == "workspace-exporter"
    assert BOARD["title"]
    ids = [p["id"] for p in PANELS]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) for i in ids)


def test_the_variables_are_datasource_job_region_project_and_desktop() -> None:
    variables = _variables()
    assert list(variables) == ["datasource", "job", "region", "project_id", "desktop"]
    ds = variables["datasource"]
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    for name in ("job", "region", "project_id", "desktop"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DATASOURCE
    assert grafana.variable_query(variables["job"]) == NS + "build_info"
    # With one project the series have no project_id/region labels: All must match "no label".
    for name in ("region", "project_id"):
        v = variables[name]
        assert v["includeAll"] and v["multi"] and v["allValue"] == ".*", name
        assert (grafana.variable_query(v) or "").startswith(NS + "build_info{"), name
    assert 'region=~"$region"' in (grafana.variable_query(variables["project_id"]) or "")
    desktop = variables["desktop"]
    query = grafana.variable_query(desktop) or ""
    assert NS + "desktop_info" in query and '$project_id"' in query and '$region"' in query
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
            if t["expr"].startswith("sum(up{"):
                continue  # Prometheus' own up: one per exporter process, whatever projects it watches
            for variable in ("project_id", "region"):
                assert f'{variable}=~"${variable}"' in t["expr"], f"{where}: not filtered by ${variable}"


def test_fleet_wide_sums_are_kept_apart_per_project() -> None:
    """A multi-target exporter's projects are summed only within a project: every aggregation
    over exporter series keeps project_id and region, or is per desktop (ids are unique across
    projects). Pie charts and the heatmap show one breakdown of the projects selected."""
    aggregation = re.compile(r"\b(sum|count|min|max|avg)\b(?:\s+by\s*\(([^)]*)\))?\s*\(")
    for panel in PANELS:
        if panel["type"] in ("row", "piechart", "heatmap"):
            continue
        for t in panel["targets"]:
            expr = t["expr"]
            if expr.startswith("sum(up{") or "ALERTS" in expr or '$desktop"' in expr:
                continue  # Prometheus' own series; the drill-down row's chosen desktops
            for m in aggregation.finditer(expr):
                labels = {x.strip() for x in (m.group(2) or "").split(",") if x.strip()}
                kept = {"project_id", "region"} <= labels or "desktop_id" in labels
                assert kept, f"panel {panel['id']} {panel['title']!r}: {expr}"


def test_no_panel_draws_nan() -> None:
    """An API never called, an hour without connections: a quantile or a ratio of nothing is
    NaN. Quantiles keep only real numbers (>= 0), ratios divide only by more than zero."""
    for where, expr in grafana.queries(BOARD):
        if "histogram_quantile(" in expr:
            assert expr.rstrip().endswith(">= 0"), f"{where}: {expr}"
        for denominator in re.findall(r"\)\s*/\s*(.*)", expr):
            assert re.search(r"> 0\)\s*$", denominator), f"{where}: {expr}"


def test_login_failure_ratios_are_the_ones_the_alert_reads() -> None:
    rules = yaml.safe_load(RULES.read_text("utf-8"))
    (alert,) = [
        r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "WorkspaceLoginFailuresHigh"
    ]
    recorded = set(re.findall(r"job:huaweicloud_workspace_[a-z_]+:increase15m", alert["expr"]))
    assert len(recorded) == 2
    ratios = [p for p in PANELS if p.get("title", "").startswith("Login failure ratio")]
    assert len(ratios) == 2
    for panel in ratios:
        (target,) = panel["targets"]
        assert set(re.findall(r"job:huaweicloud_workspace_[a-z_]+:increase15m", target["expr"])) == recorded


def test_the_rows_cover_the_fleet_its_capacity_desktops_logins_latency_events_and_exporter() -> None:
    rows = [p["title"] for p in PANELS if p["type"] == "row"]
    assert rows == [
        "Fleet overview",
        "Fleet capacity and health",
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
        foreign = {n for n in names if not n.startswith(NS)} - PROMETHEUS_SERIES - RECORDED
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
        # the fleet sources, each refreshed once
        "desktop_pool_desktops_assigned",
        "quota_used",
        "scheduled_task_last_run_desktops",
        "agent_version_desktops",
        "alarm_records",
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
        for name in grafana.metric_names(expr) - PROMETHEUS_SERIES - RECORDED:
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
