"""End to end: fake Workspace API -> exporter -> Prometheus -> Alertmanager -> webhook.

One stack per module, all on 127.0.0.1: the fake API in-process, the exporter as a
subprocess (``python -m exporter``, the shortest intervals its config allows), a real
Prometheus scraping it every second with the shipped rules, a real Alertmanager (no
clustering) and a webhook receiver in this process. The tests check that Prometheus
holds the fake's values, that login failures, application crashes and error events
injected into the fake fire the matching alerts in Prometheus and reach the webhook
through Alertmanager, and that every query of the Grafana dashboard runs.

Rules: Prometheus loads a copy of helm/workspace-exporter/rules/alerts.yaml in which only
the alerts this test expects to fire (FAST) have their ``for:`` shortened to 1s, so the
test need not wait out 5-30 minutes; expressions and thresholds are unchanged. Every
other alert keeps its production ``for:`` and so cannot fire in a run this short: any
other alert pending or firing is a failure.

Timing: the exporter polls connection records and events every 30 s (the minimum), so
injected data shows up within about 30 s; the module takes about a minute. Every wait
is a deadline loop, and everything started is stopped, process groups included.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.fake import FAILURE_EXAMPLE, FakeServer, FakeWorkspace
from tests.e2e import grafana
from tests.e2e.stack import HOST, Diagnostics, Process, PrometheusApi, Webhook, eventually, free_port, http

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "workspace-exporter" / "rules" / "alerts.yaml"
NS = "huaweicloud_workspace_"
JOB = "workspace-exporter"
DESKTOPS = 6

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
if PROMETHEUS is None or ALERTMANAGER is None:
    pytest.skip(
        "needs the prometheus and prometheus-alertmanager binaries (Debian packages `prometheus`, "
        "`prometheus-alertmanager`; .ci/run installs them)",
        allow_module_level=True,
    )

# Alerts the injected data fires; their `for:` is shortened in the copy Prometheus loads.
FAST = {
    "WorkspaceLoginFailuresHigh",
    "WorkspaceLoginFailuresByReasonHigh",
    "WorkspaceDesktopErrorEventsBurst",
    "WorkspaceDesktopAppCrashing",
    "WorkspaceDesktopCpuUsageHigh",
}
FAILED, SUCCEEDED, CRASHES = 12, 3, 12
HOT_CPU = 0.97


@dataclass
class Stack:
    state: FakeWorkspace
    prometheus: PrometheusApi
    webhook: Webhook
    diagnostics: Diagnostics
    hot_desktop: dict[str, Any]  # CPU pinned at HOT_CPU
    crash_desktop: dict[str, Any]  # gets the injected events


def _exporter_config(state: FakeWorkspace, url: str) -> dict[str, Any]:
    return {
        "region": state.region,
        "project_id": state.project_id,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "inventory": {"interval": "30s"},
        "monitoring": {"interval": "60s"},
        # The look-back only guards against sub-second races at start: the fake has no older data.
        "connections": {"enabled": True, "interval": "30s", "lookback": "1m"},
        "events": {"enabled": True, "interval": "30s", "lookback": "1m"},
        "log": {"level": "info"},
    }


def _fast_rules() -> dict[str, Any]:
    doc = yaml.safe_load(RULES.read_text("utf-8"))
    found = set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in FAST:
                rule["for"] = "1s"
                found.add(rule["alert"])
    assert found == FAST, f"alerts missing from the rules file: {FAST - found}"
    return doc


def _env(state: FakeWorkspace) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HUAWEICLOUD_", "WORKSPACE_EXPORTER_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(HUAWEICLOUD_SDK_AK=state.ak, HUAWEICLOUD_SDK_SK=state.sk, NO_PROXY=HOST, no_proxy=HOST)
    return env


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


def _ready(url: str) -> bool:
    return http().get(url, timeout=2).status_code == 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    state = FakeWorkspace(desktops=DESKTOPS)
    desktops = state.desktops
    hot, crash = desktops[0], desktops[1]
    newest = math.floor(time.time() / 300) * 300  # the current 5-minute datapoint
    state.set_monitor(
        hot["desktop_id"],
        {"cpu_info": [{"average": HOT_CPU * 100, "timestamp": newest * 1000}], "online_status": 2},
    )
    fake = FakeServer(state)
    webhook = Webhook()
    diagnostics = Diagnostics()
    try:
        url = fake.start()
        webhook.start()

        exporter_port, am_port, prom_port = free_port(), free_port(), free_port()
        exporter = Process(
            "exporter",
            [
                sys.executable,
                "-m",
                "exporter",
                "--config.file",
                str(_write(tmp / "exporter.yaml", _exporter_config(state, url))),
                f"--web.listen-address={HOST}:{exporter_port}",
            ],
            tmp / "exporter.log",
            env=_env(state),
            cwd=ROOT,
        )
        diagnostics.processes.append(exporter)
        exporter.start()

        am_config = {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "webhook", "webhook_configs": [{"url": webhook.url, "send_resolved": False}]}
            ],
        }
        alertmanager = Process(
            "alertmanager",
            [
                str(ALERTMANAGER),
                f"--config.file={_write(tmp / 'alertmanager.yml', am_config)}",
                f"--storage.path={tmp / 'alertmanager-data'}",
                f"--web.listen-address={HOST}:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
        )
        diagnostics.processes.append(alertmanager)
        alertmanager.start()

        prom_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(_write(tmp / "alerts.yaml", _fast_rules()))],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": JOB, "static_configs": [{"targets": [f"{HOST}:{exporter_port}"]}]}
            ],
        }
        prometheus = Process(
            "prometheus",
            [
                str(PROMETHEUS),
                f"--config.file={_write(tmp / 'prometheus.yml', prom_config)}",
                f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                f"--web.listen-address={HOST}:{prom_port}",
                f"--web.external-url=http://{HOST}:{prom_port}/",  # in generatorURL
                "--rules.alert.resend-delay=1s",
            ],
            tmp / "prometheus.log",
        )
        diagnostics.processes.append(prometheus)
        prometheus.start()

        for name, ready in (
            ("exporter", f"http://{HOST}:{exporter_port}/-/ready"),
            ("alertmanager", f"http://{HOST}:{am_port}/-/ready"),
            ("prometheus", f"http://{HOST}:{prom_port}/-/ready"),
        ):
            eventually(lambda u=ready: _ready(u), f"{name} ready", 30, diagnostics)
        yield Stack(
            state,
            PrometheusApi(f"http://{HOST}:{prom_port}"),
            webhook,
            diagnostics,
            hot,
            crash,
        )
    finally:
        for process in reversed(diagnostics.processes):
            process.stop()
        webhook.stop()
        fake.stop()


@pytest.fixture(scope="module")
def incidents(stack: Stack) -> Stack:
    """Login failures, crashes and error events in the fake, once per module."""
    state = stack.state
    now = math.floor(time.time())
    for i in range(FAILED):
        state.add_connection_record(
            desktop_id=stack.crash_desktop["desktop_id"] if i % 2 else stack.hot_desktop["desktop_id"],
            connection_start_time=now,
            connection_failure_reason=FAILURE_EXAMPLE,
        )
    for _ in range(SUCCEEDED):
        state.add_connection_record(connection_start_time=now)
    record = state.add_screen_record(stack.crash_desktop["desktop_id"])["id"]
    for _ in range(CRASHES):
        state.add_operation(record, "APP", "APP_CRASH", "ERROR", operation_time=time.time())
    return stack


def _target_up(p: PrometheusApi) -> bool:
    return any(t["labels"].get("job") == JOB and t["health"] == "up" for t in p.targets())


def test_prometheus_scrapes_the_fakes_values_and_evaluates_every_rule(stack: Stack) -> None:
    p, why = stack.prometheus, stack.diagnostics
    eventually(lambda: _target_up(p), "the exporter target is up in Prometheus", 30, why)
    assert eventually(
        lambda: p.value(f'count({NS}desktop_info{{job="{JOB}"}})') == DESKTOPS,
        "every desktop in Prometheus",
        30,
        why,
    )
    eventually(
        lambda: p.value(f"{NS}monitored_desktops") == DESKTOPS, "monitoring data of every desktop", 60, why
    )
    for source in ("inventory", "monitoring", "connections", "events"):
        assert p.value(f'{NS}up{{source="{source}"}}') == 1.0, source

    hot = stack.hot_desktop["desktop_id"]
    assert p.value(f'{NS}desktop_cpu_usage_ratio{{desktop_id="{hot}"}}') == pytest.approx(HOT_CPU)
    # An ordinary desktop: the ratio is the fake's datapoint at the exported timestamp / 100.
    other = stack.crash_desktop["desktop_id"]
    at = time.time()
    cpu = p.value(f'{NS}desktop_cpu_usage_ratio{{desktop_id="{other}"}}', at)
    stamp = p.value(f'{NS}desktop_monitoring_timestamp_seconds{{desktop_id="{other}"}}', at)
    assert cpu is not None and stamp is not None
    average, _ = stack.state.expected_latest(other, stamp)["cpu_info"]
    assert cpu == pytest.approx(average / 100)
    name = stack.crash_desktop["computer_name"]
    assert p.query(f'{NS}desktop_info{{desktop_id="{other}", computer_name="{name}"}}')

    def evaluated() -> list[dict[str, Any]] | None:
        rules = p.rules()
        return rules if all(r["health"] != "unknown" for r in rules) else None

    rules = eventually(evaluated, "every rule evaluated", 30, why)
    assert len(rules) == sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text("utf-8"))["groups"])
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, f"rules failing to evaluate in Prometheus: {broken}"


def _firing(p: PrometheusApi) -> dict[str, list[dict[str, Any]]] | None:
    """Firing alerts by name, once every FAST alert fires with the whole injected data counted
    (a poll could catch the injection half done; the counts then settle at the next poll)."""
    firing: dict[str, list[dict[str, Any]]] = {}
    for alert in p.alerts():
        if alert["state"] == "firing":
            firing.setdefault(alert["labels"]["alertname"], []).append(alert)
    if not set(firing) >= FAST:
        return None
    ratio = float(firing["WorkspaceLoginFailuresHigh"][0]["value"])
    crashes = [float(a["value"]) for a in firing["WorkspaceDesktopAppCrashing"]]
    settled = ratio == pytest.approx(FAILED / (FAILED + SUCCEEDED)) and crashes == [CRASHES]
    return firing if settled else None


def _alerts_now(stack: Stack) -> str:
    lines = [f"{a['state']:8} {a['labels']} value={a['value']}" for a in stack.prometheus.alerts()]
    return "--- alerts in Prometheus:\n" + "\n".join(lines) + "\n" + stack.diagnostics()


def test_injected_failures_and_crashes_fire_alerts_that_reach_the_webhook(incidents: Stack) -> None:
    p, why = incidents.prometheus, incidents.diagnostics
    firing = eventually(
        lambda: _firing(p), f"alerts {sorted(FAST)} firing in Prometheus", 90, lambda: _alerts_now(incidents)
    )

    (overall,) = firing["WorkspaceLoginFailuresHigh"]
    assert overall["labels"] == {"alertname": "WorkspaceLoginFailuresHigh", "job": JOB, "severity": "warning"}
    assert float(overall["value"]) == pytest.approx(FAILED / (FAILED + SUCCEEDED))
    (by_reason,) = firing["WorkspaceLoginFailuresByReasonHigh"]
    assert by_reason["labels"]["reason_code"] == FAILURE_EXAMPLE.split(":")[0]

    crash_id, crash_name = incidents.crash_desktop["desktop_id"], incidents.crash_desktop["computer_name"]
    for alertname in ("WorkspaceDesktopAppCrashing", "WorkspaceDesktopErrorEventsBurst"):
        (alert,) = firing[alertname]
        assert alert["labels"]["desktop_id"] == crash_id
        assert float(alert["value"]) == CRASHES
        # The computer name comes from a `query` in the description template.
        assert f"desktop {crash_name} ({crash_id})" in alert["annotations"]["description"]

    (cpu,) = firing["WorkspaceDesktopCpuUsageHigh"]
    assert cpu["labels"]["computer_name"] == incidents.hot_desktop["computer_name"]
    assert cpu["annotations"]["description"].startswith(f"Desktop {incidents.hot_desktop['computer_name']} (")

    active = {a["labels"]["alertname"]: a["state"] for a in p.alerts()}
    assert set(active) == FAST, f"unexpected alerts pending or firing: {set(active) - FAST}"

    def delivered() -> dict[str, dict[str, Any]] | None:
        got = {a["labels"]["alertname"]: a for a in incidents.webhook.alerts()}
        return got if set(got) >= FAST else None

    got = eventually(delivered, "every alert at the webhook via Alertmanager", 30, why)
    for name in FAST:
        alert = got[name]
        assert alert["receiver"] == "webhook" and alert["status"] == "firing", name
        assert alert["labels"] == firing[name][0]["labels"], name
        assert alert["annotations"]["runbook_url"].endswith(f"#alert-name-{name.lower()}"), name
        assert alert["generatorURL"].startswith(p.url), name


def test_every_dashboard_query_runs_in_prometheus(incidents: Stack) -> None:
    p = incidents.prometheus
    eventually(lambda: _firing(p), "the injected data in Prometheus", 90, lambda: _alerts_now(incidents))
    values = {
        "job": ".+",
        "project_id": ".*",
        "region": ".*",
        "desktop": ".+",
        "__rate_interval": "1m",
        "__range": "5m",
        "__interval": "15s",
    }
    empty = []
    for where, expr in grafana.queries(grafana.load()):
        try:
            result = p.query(grafana.instantiate(expr, values))
        except ValueError as e:
            pytest.fail(f"{where}: Prometheus rejects the query {expr!r}: {e}")
        if not result:
            empty.append(where)
    assert not empty, f"dashboard queries without data although every source has data: {empty}"
