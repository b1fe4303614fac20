"""The shipped rules: promtool check and unit tests, plus the house rules for alerts.

``helm/workspace-exporter/rules/alerts.src.yaml`` is the one source of the rules; the chart
fills its placeholders from its values, and ``scripts/gen-rules.py`` fills them from the
default values into ``rules/alerts.yaml``, the plain file Prometheus loads and the promtool
tests next to this module (``*-test.yaml``) exercise. tests/chart/test_chart_rules.py runs
the same promtool tests against the chart's rendering. The checks here hold every alert to the
house style: a ``Workspace`` CamelCase name, a severity, an explicit ``for``, a static
one-sentence summary, a templated description, a runbook link whose anchor exists in
docs/runbook.md, and one firing and one silent promtool case; and every recording rule to the
``level:metric:operations`` naming convention.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.cli.rules import demo_rules, render, rule_values

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "workspace-exporter"
RULES = CHART / "rules" / "alerts.yaml"
SOURCE = RULES.with_name("alerts.src.yaml")
RUNBOOK = ROOT / "docs" / "runbook.md"
TESTS = sorted(Path(__file__).parent.glob("*-test.yaml"))
RUNBOOK_URL = "https://github.com/workspace-exporter/workspace-exporter/blob/main/docs/runbook.md#"
SEVERITIES = {"critical", "warning", "info"}
RULE_FILES_ENTRY = "../../helm/workspace-exporter/rules/alerts.yaml"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)"
)


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text("utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


ALERTS = [r for r in _rules() if "alert" in r]
NAMES = [a["alert"] for a in ALERTS]
RECORDS = [r for r in _rules() if "record" in r]
# level:metric:operations, with the operation naming its window (rate5m, increase15m, ...).
RECORD_NAME = re.compile(
    r"(?P<level>[a-z]+(?:_[a-z]+)*):(?P<metric>huaweicloud_workspace_[a-z_]+):[a-z]+\d+[smh]"
)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_rules", ROOT / "scripts" / "gen-rules.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@needs_promtool
def test_promtool_check_rules_accepts_the_rules_file() -> None:
    r = _promtool("check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(ALERTS) + len(RECORDS)} rules found" in r.stdout
    assert "WARNING" not in (r.stdout + r.stderr).upper()


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    assert TESTS, "no promtool test files in tests/rules"
    r = _promtool("test", "rules", *(str(t) for t in TESTS))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_generated_rules_file_is_current() -> None:
    assert RULES.read_text("utf-8") == _generator().generate(), (
        "rules/alerts.yaml is stale: run .venv/bin/python scripts/gen-rules.py"
    )


def test_the_generator_names_a_placeholder_without_a_value() -> None:
    values = rule_values(CHART)
    del values["thresholds"]["desktopCpuUsageRatio"]
    with pytest.raises(KeyError, match=r"thresholds\.desktopCpuUsageRatio"):
        render(SOURCE.read_text("utf-8"), values)


def test_every_for_and_the_runbook_base_are_chart_values() -> None:
    """Every alert's ``for:`` is a placeholder (the demo shortens them all), as is the base of
    its runbook_url (point it at your own runbook)."""
    source = SOURCE.read_text("utf-8")
    fors = re.findall(r"^\s+for: (.+)$", source, re.MULTILINE)
    assert len(fors) == len(ALERTS) and all(re.fullmatch(r"\$\{for\.\w+\}", f) for f in fors), fors
    urls = re.findall(r"runbook_url: (.+)$", source, re.MULTILINE)
    assert len(urls) == len(ALERTS) and all(u.startswith("${runbookUrl}#alert-name-") for u in urls)


def test_the_demo_rules_have_the_shipped_expressions_and_short_fors() -> None:
    demo = yaml.safe_load(demo_rules(CHART))
    shipped = yaml.safe_load(RULES.read_text("utf-8"))
    demo_alerts = [r for g in demo["groups"] for r in g["rules"] if "alert" in r]
    assert [a["alert"] for a in demo_alerts] == NAMES
    assert {a["for"] for a in demo_alerts} == {"30s"}
    same = [r["expr"] for g in shipped["groups"] for r in g["rules"] if "record" in r]
    assert [r["expr"] for g in demo["groups"] for r in g["rules"] if "record" in r] == same


def test_the_rules_file_holds_recordings_first_then_alerts_in_named_groups() -> None:
    doc = yaml.safe_load(RULES.read_text("utf-8"))
    assert set(doc) == {"groups"}
    names = [g["name"] for g in doc["groups"]]
    assert len(names) == len(set(names))
    assert all(name.startswith("workspace-exporter.") for name in names)
    # Recordings first: promtool then evaluates them before the alerts of the same round (Prometheus
    # runs groups independently, so there an alert may read a recording one interval old).
    assert names[0] == "workspace-exporter.recording"
    assert all("record" in rule for rule in doc["groups"][0]["rules"])
    assert all("alert" in rule for g in doc["groups"][1:] for rule in g["rules"])
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("record", RECORDS, ids=[r["record"] for r in RECORDS])
def test_recording_rule_is_named_level_metric_operation_and_is_used(record: dict[str, Any]) -> None:
    name = record["record"]
    assert RECORD_NAME.fullmatch(name), f"{name}: not level:metric:operation<window>"
    assert "_total" not in name, "the suffix goes with increase()/rate()"
    users = [r for r in _rules() if r is not record and name in r["expr"]]
    assert users, f"{name} is recorded but nothing reads it"


def test_the_counter_born_guard_is_written_once_per_window() -> None:
    """Alerts count events only through the recorded increases, never with their own guard."""
    for alert in ALERTS:
        assert "present_over_time" not in alert["expr"], alert["alert"]
        for counter in ("connections_total", "connection_failures_total", "desktop_events_total"):
            assert counter not in alert["expr"], f"{alert['alert']} reads {counter} unguarded"
    guards = [r for r in RECORDS if "build_info[" in r["expr"]]
    assert sorted(r["record"] for r in guards) == [
        "instance:huaweicloud_workspace_build_info:covers15m",
        "instance:huaweicloud_workspace_build_info:covers1h",
    ]


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
        assert doc["rule_files"] == [RULE_FILES_ENTRY], path.name
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
