"""A real Prometheus watches `workspace-exporter demo --scenario stuck-desktops` fire its alerts.

Prometheus loads a copy of the shipped rules in which only the two alerts of the
scenario have ``for: 1s``, scrapes the demo every second and must report both alerts
firing for the desktops the scenario picked. Bounded: under a minute.
"""

from __future__ import annotations

import functools
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.fake.scenarios import SCENARIOS
from tests.e2e.stack import HOST, Diagnostics, Process, PrometheusApi, eventually, free_port, http

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "workspace-exporter" / "rules" / "alerts.yaml"
PROMETHEUS = shutil.which("prometheus")
SCENARIO = "stuck-desktops"
ALERTS = set(SCENARIOS[SCENARIO].alerts)
if PROMETHEUS is None:
    pytest.skip(
        "needs the prometheus binary (Debian package `prometheus`; .ci/run installs it)",
        allow_module_level=True,
    )


def _rules() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text("utf-8"))
    found = set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in ALERTS:
                rule["for"] = "1s"
                found.add(rule["alert"])
    assert found == ALERTS, f"alerts missing from the rules file: {ALERTS - found}"
    return doc


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


def _ready(url: str) -> bool:
    return http().get(url, timeout=2).status_code == 200


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Process, PrometheusApi, Diagnostics]]:
    diagnostics = Diagnostics()
    exporter_port, prom_port = free_port(), free_port()
    demo = Process(
        "demo",
        [
            sys.executable,
            "-m",
            "exporter",
            "demo",
            "--scenario",
            SCENARIO,
            "--desktops",
            "8",
            f"--web.listen-address={HOST}:{exporter_port}",
            f"--demo.dir={tmp_path / 'demo'}",
        ],
        tmp_path / "demo.log",
        cwd=ROOT,
    )
    prom_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(_write(tmp_path / "alerts.yaml", _rules()))],
        "scrape_configs": [
            {"job_name": "workspace-exporter", "static_configs": [{"targets": [f"{HOST}:{exporter_port}"]}]}
        ],
    }
    prometheus = Process(
        "prometheus",
        [
            str(PROMETHEUS),
            f"--config.file={_write(tmp_path / 'prometheus.yml', prom_config)}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address={HOST}:{prom_port}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        for process in (demo, prometheus):
            diagnostics.processes.append(process)
            process.start()
        for name, url in (
            ("demo", f"http://{HOST}:{exporter_port}/-/ready"),
            ("prometheus", f"http://{HOST}:{prom_port}/-/ready"),
        ):
            eventually(functools.partial(_ready, url), f"{name} ready", 30, diagnostics)
        yield demo, PrometheusApi(f"http://{HOST}:{prom_port}"), diagnostics
    finally:
        for process in reversed(diagnostics.processes):
            process.stop()


def test_a_demo_scenario_fires_its_alerts_in_a_real_prometheus(
    watched: tuple[Process, PrometheusApi, Diagnostics],
) -> None:
    demo, prometheus, diagnostics = watched

    def firing() -> dict[str, set[str]] | None:
        out: dict[str, set[str]] = {}
        for alert in prometheus.alerts():
            if alert["state"] == "firing" and alert["labels"]["alertname"] in ALERTS:
                out.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"]["desktop_id"])
        return out if set(out) == ALERTS else None

    fired = eventually(firing, f"{sorted(ALERTS)} firing", 40, diagnostics)
    assert all(len(ids) == 1 for ids in fired.values())
    assert fired["WorkspaceDesktopStuckLoggingIn"] != fired["WorkspaceDesktopStatusError"]
    log = demo.log.read_text("utf-8")
    assert f"scenario at start: {SCENARIO}" in log and not re.search(r"Traceback", log)
