"""Reading the shipped Grafana dashboard: its panels, its PromQL and the metric names in it.

Shared by tests/unit/test_dashboard.py (names against a real scrape, structure) and
tests/e2e/test_e2e.py (every query against a real Prometheus).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "helm" / "workspace-exporter" / "dashboards" / "workspace-exporter.json"

Board = dict[str, Any]

# PromQL words that look like metric names but are not.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "atan2", "inf", "nan", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{?\w+(?::\w+)?\}?")
_IDENT = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<expr>.*?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$", re.DOTALL
)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)


def load(path: Path = DASHBOARD) -> Board:
    board: Board = json.loads(path.read_text("utf-8"))
    return board


def panels(board: Board) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, with the panels nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variable_query(variable: Mapping[str, Any]) -> str | None:
    """The PromQL behind a query variable (``label_values(expr, label)``, ``query_result(expr)``)."""
    raw = variable.get("query")
    text = raw.get("query", "") if isinstance(raw, Mapping) else str(raw or "")
    if m := _LABEL_VALUES.match(text):
        return m.group("expr")
    if m := _QUERY_RESULT.match(text):
        return m.group("expr")
    return text or None


def queries(board: Board) -> list[tuple[str, str]]:
    """``(where, expr)`` for every panel target and every query variable."""
    out = []
    for panel in panels(board):
        for t in panel.get("targets", []):
            out.append((f"panel {panel['id']} {panel.get('title')!r} target {t.get('refId')}", t["expr"]))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query" and (expr := variable_query(variable)):
            out.append((f"variable {variable['name']}", expr))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and label names excluded)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("("):  # a function or an aggregation
            continue
        if m.group().lower() in _KEYWORDS:
            continue
        names.add(m.group())
    return names


def instantiate(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with Grafana variables (``$x``, ``${x}``, ``${x:fmt}``) replaced from ``values``."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for dashboard variable {name!r} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)
