"""The chart's PrometheusRule, rendered by Helm's engine, checked with promtool like the plain file.

rules/alerts.src.yaml is filled in twice: by the chart's template from the release's values, and
by scripts/gen-rules.py from the default values (rules/alerts.yaml, which tests/rules/ tests).
Here the chart's rendering goes through ``promtool check rules`` and ``promtool test rules``:
with the default values against every promtool case of tests/rules/, and with
tests/rules/values/other-values.yaml (another job selector, other thresholds, another ``for``)
against the cases written for those values. Test dependencies: ``.ci/install-packaging.sh``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip(
    "helm_python", reason="helm-python-sdk not installed: run .ci/install-packaging.sh"
)

PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.chart,
    pytest.mark.skipif(
        PROMTOOL is None,
        reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "workspace-exporter"
RULE_TESTS = ROOT / "tests" / "rules"
OTHER_VALUES = RULE_TESTS / "values" / "other-values.yaml"
OTHER_VALUES_TESTS = RULE_TESTS / "values" / "other-values-test.yaml"
RENDERED = "chart-rendered-rules.yaml"


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def rendered_groups(chart: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    """spec.groups of the one PrometheusRule the chart renders with ``values``."""
    rendered = chart.render(values, name="ws", namespace="monitoring", is_install=True)
    rules = [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc and doc["kind"] == "PrometheusRule"
    ]
    assert len(rules) == 1
    groups: list[dict[str, Any]] = rules[0]["spec"]["groups"]
    return groups


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def run_promtool_tests(groups: list[dict[str, Any]], tests: list[Path], workdir: Path) -> None:
    """``promtool check rules`` on the groups, then ``promtool test rules`` with ``tests`` on them."""
    (workdir / RENDERED).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), "utf-8")
    check = promtool("check", "rules", RENDERED, cwd=workdir)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in (check.stdout + check.stderr).upper()
    copies = []
    for path in tests:
        doc = yaml.safe_load(path.read_text("utf-8"))
        doc["rule_files"] = [RENDERED]
        copy = workdir / path.name
        copy.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
        copies.append(copy.name)
    result = promtool("test", "rules", *copies, cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(copies), result.stdout


def test_default_values_render_exactly_the_generated_plain_file(chart: Any) -> None:
    plain = yaml.safe_load((CHART_DIR / "rules" / "alerts.yaml").read_text("utf-8"))
    assert rendered_groups(chart, {"prometheusRule": {"enabled": True}}) == plain["groups"]


def test_the_promtool_cases_pass_on_the_chart_rendering_with_default_values(
    chart: Any, tmp_path: Path
) -> None:
    tests = sorted(RULE_TESTS.glob("*-test.yaml"))
    assert tests
    run_promtool_tests(rendered_groups(chart, {"prometheusRule": {"enabled": True}}), tests, tmp_path)


def test_the_promtool_cases_pass_on_the_chart_rendering_with_other_values(chart: Any, tmp_path: Path) -> None:
    values = helm.values_from_yaml(OTHER_VALUES.read_text("utf-8"))
    groups = rendered_groups(chart, values)
    run_promtool_tests(groups, [OTHER_VALUES_TESTS], tmp_path)


def test_other_values_fail_the_promtool_cases_written_for_the_defaults(chart: Any, tmp_path: Path) -> None:
    """The cases for other values are not vacuous: under the defaults they fail."""
    groups = rendered_groups(chart, {"prometheusRule": {"enabled": True}})
    (tmp_path / RENDERED).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), "utf-8")
    shutil.copy(OTHER_VALUES_TESTS, tmp_path / OTHER_VALUES_TESTS.name)
    result = promtool("test", "rules", OTHER_VALUES_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    for alert in (
        "WorkspaceExporterDown",
        "WorkspaceExporterAbsent",
        "WorkspaceDesktopCpuUsageHigh",
        "WorkspaceLoginFailuresHigh",
    ):
        assert f"alertname: {alert}," in result.stdout + result.stderr, alert


def test_a_removed_threshold_fails_the_render(chart: Any) -> None:
    """Helm drops a key set to null; the schema requires every threshold back."""
    with pytest.raises(helm.HelmError, match="desktopCpuUsageRatio"):
        chart.render(
            {"prometheusRule": {"enabled": True, "thresholds": {"desktopCpuUsageRatio": None}}},
            name="ws",
            namespace="monitoring",
        )


def test_a_placeholder_without_a_value_fails_the_render_with_its_name(tmp_path: Path) -> None:
    copy = tmp_path / "workspace-exporter"
    shutil.copytree(CHART_DIR, copy)
    source = copy / "rules" / "alerts.src.yaml"
    source.write_text(
        source.read_text("utf-8").replace("${thresholds.desktopCpuUsageRatio}", "${thresholds.cpu}"),
        "utf-8",
    )
    with helm.Chart.load(copy) as changed, pytest.raises(helm.HelmError, match=r"\$\{thresholds\.cpu\}"):
        changed.render({"prometheusRule": {"enabled": True}}, name="ws", namespace="monitoring")
