"""The shipped alert rules: promtool check and unit tests, plus the house rules for alerts.

``helm/workspace-exporter/rules/alerts.yaml`` is the one rules file: Prometheus loads it,
the chart ships it in its PrometheusRule, and the promtool tests next to this module
(``*-test.yaml``) exercise every alert. The checks here hold every alert to the house
style: a ``Workspace`` CamelCase name, a severity, an explicit ``for``, a static one-sentence
summary, a templated description, a runbook link whose anchor exists in docs/runbook.md,
and one firing and one silent promtool case.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "workspace-exporter" / "rules" / "alerts.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
TESTS = sorted(Path(__file__).parent.glob("*-test.yaml"))
RUNBOOK_URL = "https://github.com/workspace-exporter/workspace-exporter/blob/main/docs/runbook.md#"
SEVERITIES = {"critical", "warning", "info"}

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)"
)


def _alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text("utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


ALERTS = _alerts()
NAMES = [a["alert"] for a in ALERTS]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@needs_promtool
def test_promtool_check_rules_accepts_the_rules_file() -> None:
    r = _promtool("check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in r.stdout
    assert "WARNING" not in (r.stdout + r.stderr).upper()


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    assert TESTS, "no promtool test files in tests/rules"
    r = _promtool("test", "rules", *(str(t) for t in TESTS))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_rules_file_holds_only_alerts_in_named_groups() -> None:
    doc = yaml.safe_load(RULES.read_text("utf-8"))
    assert set(doc) == {"groups"}
    names = [g["name"] for g in doc["groups"]]
    assert len(names) == len(set(names))
    assert all(name.startswith("workspace-exporter.") for name in names)
    assert all("alert" in rule for g in doc["groups"] for rule in g["rules"])
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("alert", ALERTS, ids=NAMES)
def test_alert_follows_the_house_style(alert: dict[str, Any]) -> None:
    name = alert["alert"]
    assert re.fullmatch(r"Workspace(?:[A-Z][a-z0-9]+)+", name), name
    assert alert["labels"]["severity"] in SEVERITIES
    assert re.fullmatch(r"\d+[smh]", str(alert.get("for", ""))), f"{name}: no explicit for"
    notes = alert["annotations"]
    assert set(notes) >= {"summary", "description", "runbook_url"}
    summary = notes["summary"]
    assert "{{" not in summary, "the summary is static (it is shared by grouped notifications)"
    assert summary.endswith(".") and summary[0].isupper()
    assert summary.count(". ") == 0, "one sentence"
    assert re.search(r"\$labels\.|\$value|\$externalLabels", notes["description"]), "templated description"
    assert notes["runbook_url"] == RUNBOOK_URL + f"alert-name-{name.lower()}"


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_runbook_has_one_section_per_alert_and_no_others() -> None:
    headings = re.findall(r"^#{2,3} (Alert Name: .+)$", RUNBOOK.read_text("utf-8"), re.MULTILINE)
    anchors = [_github_anchor(h) for h in headings]
    assert sorted(anchors) == sorted(f"alert-name-{n.lower()}" for n in NAMES)


def _cases() -> dict[str, tuple[int, int]]:
    """Per alert name: (firing cases, silent cases) over every promtool test file."""
    out: dict[str, list[int]] = {}
    for path in TESTS:
        doc = yaml.safe_load(path.read_text("utf-8"))
        assert doc["rule_files"] == ["../../helm/workspace-exporter/rules/alerts.yaml"], path.name
        for test in doc["tests"]:
            assert test.get("interval") == "1m", f"{path.name}: {test.get('name')}"
            for case in test.get("alert_rule_test", []):
                counts = out.setdefault(case["alertname"], [0, 0])
                counts[0 if case.get("exp_alerts") else 1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    cases = _cases()
    assert set(cases) <= set(NAMES), f"tests for unknown alerts: {set(cases) - set(NAMES)}"
    missing = [n for n in NAMES if cases.get(n, (0, 0))[0] == 0 or cases[n][1] == 0]
    assert not missing, f"alerts without a firing and a silent case: {missing}"


def test_firing_cases_state_every_label_and_annotation() -> None:
    by_name = {a["alert"]: a for a in ALERTS}
    for path in TESTS:
        for test in yaml.safe_load(path.read_text("utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                alert = by_name[case["alertname"]]
                for exp in case.get("exp_alerts") or []:
                    assert exp["exp_labels"]["severity"] == alert["labels"]["severity"], case["alertname"]
                    assert set(exp["exp_annotations"]) == set(alert["annotations"]), case["alertname"]
