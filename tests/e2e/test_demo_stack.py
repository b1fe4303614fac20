"""The runbook pastes, the dashboard keeps projects apart, ``demo --with-prometheus`` shows alerts.

One real demo stack: ``workspace-exporter demo --projects 2 --with-prometheus`` as a subprocess
(two fake projects behind one exporter, a real Prometheus scraping it every 15 s with the demo's
rules, a real Alertmanager notifying the demo's own webhook). Scenarios give every query
something to find (429s, hot desktops, error events, a login storm, a stuck desktop). Then:

* every ``promql`` block of docs/runbook.md parses in that Prometheus and returns a series, and
  every alert expression the runbook quotes parses;
* every query of the Grafana dashboard (All selected) returns series and no NaN, and with one
  project selected returns that project's series only;
* exporter-side scenarios fire in the demo's Prometheus, their notifications reach the demo's
  log through Alertmanager, ``GET /_fake/scenario`` lists them, ``calm`` resolves them, and
  ``exporter-down`` moves the scrape target;
* every ``sh`` block of the runbook runs in bash against the demo and exits 0 (its variables
  set as its first block says, ``workspace-exporter`` from this venv);
* every log message the runbook quotes is one the exporter logs.

Bounded: every wait is a deadline loop (about two minutes in all), every process is stopped.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.logs import split_format
from tests.e2e import grafana
from tests.e2e.stack import HOST, Diagnostics, Process, PrometheusApi, eventually, free_port, http

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
NS = "huaweicloud_workspace_"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
VARIABLE = re.compile(r"^([A-Z_]+)=(\S+)")
# Scenarios whose data the runbook's queries look at (seconds each runs): 20 s of 429s are
# enough for the queries about them, and throttling longer slows down the monitoring data.
BACKGROUND = {
    "throttling": 20,
    "hot-desktops": None,
    "login-failure-storm": None,
    "stuck-desktops": None,
    "config-reload-failed": None,
}


def blocks(kind: str) -> list[str]:
    return [body.strip() for lang, body in FENCE.findall(RUNBOOK.read_text("utf-8")) if lang == kind]


def _variables() -> dict[str, str]:
    (first,) = [b for b in blocks("sh") if all(VARIABLE.match(line) for line in b.splitlines())]
    return dict(VARIABLE.match(line).groups() for line in first.splitlines())  # type: ignore[union-attr]


def test_the_runbook_has_blocks_to_run_and_sets_its_variables_once() -> None:
    assert len(blocks("promql")) >= 25 and len(blocks("sh")) >= 8
    assert set(_variables()) == {"EXPORTER", "CONFIG", "TARGET", "COMPUTER"}
    text = RUNBOOK.read_text("utf-8")
    assert "<file>" not in text and "{source}" not in text and "api=...}" not in text


def _event_texts() -> set[str]:
    """The event text of every log call in the exporter (``msg`` of the line)."""
    texts = set()
    for path in (ROOT / "exporter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("debug", "info", "warning", "error", "exception")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and (parsed := split_format(node.args[0].value)) is not None
            ):
                texts.add(parsed[0])
    return texts


def test_every_log_message_the_runbook_quotes_is_one_the_exporter_logs() -> None:
    quoted = set(re.findall(r'msg="([^"`\n]+)"', RUNBOOK.read_text("utf-8")))
    assert len(quoted) >= 5
    assert quoted <= _event_texts(), quoted - _event_texts()


# ------------------------------------------------------------------------------------ the stack

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
needs_stack = pytest.mark.skipif(
    PROMETHEUS is None or ALERTMANAGER is None,
    reason="needs prometheus and prometheus-alertmanager (Debian packages; .ci/run installs them)",
)


@dataclass
class Demo:
    process: Process
    exporter: str
    api_url: str
    config: Path
    prometheus: PrometheusApi
    diagnostics: Diagnostics

    def log(self) -> str:
        return self.process.log.read_text("utf-8", errors="replace")

    def trigger(self, name: str, duration: float | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": name} if duration is None else {"name": name, "duration": duration}
        r = http().post(f"{self.api_url}/_fake/scenario", json=doc, timeout=10)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("runbook")
    port = free_port()
    process = Process(
        "demo",
        [
            sys.executable,
            "-m",
            "exporter",
            "demo",
            "--with-prometheus",
            "--projects=2",
            # At start, so the first events refresh already reads the crashing desktop's recording.
            "--scenario=error-events",
            "--web.enable-lifecycle",
            f"--web.listen-address={HOST}:{port}",
            f"--demo.dir={tmp / 'demo'}",
        ],
        tmp / "demo.log",
        cwd=ROOT,
    )
    diagnostics = Diagnostics([process])
    process.start()
    try:
        text = eventually(
            lambda: next((t for t in [process.log.read_text("utf-8")] if "Alertmanager: " in t), None),
            "the demo's banner with Prometheus and Alertmanager",
            90,
            diagnostics,
        )
        api_url = re.search(r"fake credentials\): (http://\S+)", text).group(1)  # type: ignore[union-attr]
        config = Path(re.search(r"config file .*: (\S+)", text).group(1))  # type: ignore[union-attr]
        prometheus_url = re.search(r"Prometheus .*: (http://\S+)/alerts", text).group(1)  # type: ignore[union-attr]
        running = Demo(process, f"{HOST}:{port}", api_url, config, PrometheusApi(prometheus_url), diagnostics)
        # Staged at once, so each has fired by the time a test looks: data for every runbook
        # query, and an exporter-side alert going through Alertmanager to the demo's log.
        for name, duration in BACKGROUND.items():
            running.trigger(name, duration)
        yield running
    finally:
        process.stop(20)


@needs_stack
def test_every_runbook_query_parses_and_returns_a_series(demo: Demo) -> None:
    queries = blocks("promql")

    def empty() -> list[str]:
        return [q for q in queries if not demo.prometheus.query(q)]

    missing: list[str] = []

    def all_found() -> bool:
        missing[:] = empty()
        return not missing

    # Rates need two scrapes, recorded increases a rule round, events a refresh (60 s).
    eventually(all_found, "every runbook query returning a series", 240, lambda: "\n".join(missing))
    # The alert expressions each section quotes parse (they are empty while nothing fires).
    text = RUNBOOK.read_text("utf-8")
    for expression in re.findall(r"\*\*Expression:\*\* `([^`]+)`", text):
        demo.prometheus.query(expression)  # raises ValueError on a parse error


@needs_stack
def test_every_dashboard_query_keeps_projects_apart_and_draws_no_nan(demo: Demo) -> None:
    board = grafana.load()
    projects = {r["metric"]["project_id"] for r in demo.prometheus.query(f"{NS}build_info")}
    assert len(projects) == 2
    values = {"job": ".+", "desktop": ".+", "__rate_interval": "5m", "__range": "15m", "__interval": "15s"}
    everything = {**values, "project_id": ".*", "region": ".*"}
    results: dict[str, list[dict[str, Any]]] = {}

    def complete() -> bool:
        results.clear()
        for where, expr in grafana.queries(board):
            results[where] = demo.prometheus.query(grafana.instantiate(expr, everything))
        return all(results.values())

    eventually(
        complete,
        "every dashboard query with data",
        120,
        lambda: str([w for w, r in results.items() if not r]),
    )
    nan = [where for where, result in results.items() for r in result if r.get("value", [0, ""])[1] == "NaN"]
    assert not nan, f"NaN in {nan}"
    per_project = [w for w, result in results.items() if any("project_id" in r["metric"] for r in result)]
    assert len(per_project) > 30  # fleet sums and ratios are per project, not across projects
    one = sorted(projects)[0]
    for where, expr in grafana.queries(board):
        if "$project_id" not in expr:
            continue
        for r in demo.prometheus.query(
            grafana.instantiate(expr, {**values, "project_id": one, "region": ".*"})
        ):
            assert r["metric"].get("project_id", one) == one, f"{where}: {r['metric']}"


@needs_stack
def test_the_demos_stack_fires_notifies_resolves_and_loses_its_target(demo: Demo) -> None:
    """config-reload-failed (staged at the start) fires in the demo's Prometheus and reaches the
    demo's log through Alertmanager; calm resolves it; exporter-down moves the scrape target to a
    closed port (up 0, same instance) and its end moves it back."""
    alert = "WorkspaceConfigReloadFailed"
    (running,) = [
        r
        for r in http().get(f"{demo.api_url}/_fake/scenario", timeout=10).json()["running"]
        if r["name"] == "config-reload-failed"
    ]
    assert running["alerts"] == [alert] and running["ends_in_seconds"] > 0

    def firing() -> bool:
        return any(
            a["labels"]["alertname"] == alert and a["state"] == "firing" for a in demo.prometheus.alerts()
        )

    eventually(firing, f"{alert} firing in the demo's Prometheus", 120, demo.diagnostics)

    def notified(status: str) -> bool:
        return (
            re.search(rf'msg="alert notification" status={status} alertname={alert}\b', demo.log())
            is not None
        )

    eventually(lambda: notified("firing"), "the firing notification in the demo's log", 60, demo.diagnostics)
    demo.trigger("calm")
    eventually(lambda: notified("resolved"), "the resolved notification in the log", 120, demo.diagnostics)

    up = f'up{{job="workspace-exporter", instance="{demo.exporter}"}}'
    demo.trigger("exporter-down")
    eventually(
        lambda: demo.prometheus.value(up) == 0.0, "the target down in Prometheus", 60, demo.diagnostics
    )
    demo.trigger("calm")
    eventually(
        lambda: demo.prometheus.value(up) == 1.0, "the target back in Prometheus", 60, demo.diagnostics
    )
    assert "Traceback" not in demo.log()


@needs_stack
def test_every_runbook_command_exits_zero(demo: Demo, tmp_path: Path) -> None:
    eventually(
        lambda: http().get(f"http://{demo.exporter}/-/ready", timeout=5).status_code == 200, "ready", 60
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_SDK_")}
    env.update(
        EXPORTER=demo.exporter,
        CONFIG=str(demo.config),
        TARGET=_variables()["TARGET"],  # the demo's first project
        COMPUTER=_variables()["COMPUTER"],
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        NO_PROXY=HOST,
        no_proxy=HOST,
    )
    assert shutil.which("workspace-exporter", path=env["PATH"]), "the venv's console script"
    variables = _variables()
    for block in blocks("sh"):
        if all(VARIABLE.match(line) for line in block.splitlines()):
            assert dict(VARIABLE.match(line).groups() for line in block.splitlines()) == variables  # type: ignore[union-attr]
            continue
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, f"{block}\n--- exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert list(tmp_path.glob("*.xlsx")), "the export commands wrote their files"
