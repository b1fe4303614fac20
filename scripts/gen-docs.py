#!/usr/bin/env python3
"""Generate the reference tables of README.md and the chart README from the code.

Each table sits between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``
and is rebuilt from its single source, so a default, range or flag cannot drift from what
the program does:

- ``config-table`` (README.md): the config dataclasses (``exporter/config/sections/``)
  (key, default, accepted range, the field's description), plus the keys the targets
  loader reads itself;
- ``budget-table`` (README.md): the API table ``exporter/apis.py`` (default requests per
  minute, largest page);
- ``fleet-cost-table`` (README.md): the fleet sources' upstream calls per hour at the
  defaults, for 100 and for 10,000 desktops (``exporter/sources/fleet_cost.py``);
- ``cli-flags`` (README.md): the argparse parser of ``exporter/cli/main.py``;
- ``values-table`` (helm/workspace-exporter/README.md): values.yaml, its ``# --`` comments
  and defaults;
- ``constraints-table`` (docs/api-constraints.md): the constraint table
  ``exporter/constraints/`` (every row, what the fake enforces, how it refuses, the
  sources), and the rows whose sources disagree, with the choice made.

tests/unit/test_docs_generated.py fails when a committed table is stale.

    .venv/bin/python scripts/gen-docs.py           # rewrite the tables in place
    .venv/bin/python scripts/gen-docs.py --check   # exit 1 if any table is stale
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.apis import APIS  # noqa: E402 - the repository root is put on the path first
from exporter.cli.main import build_parser  # noqa: E402
from exporter.config.settings import TOP_LEVEL_ONLY_KEYS, Config  # noqa: E402
from exporter.config.targets import TARGET_INDEX_ENV, TARGET_KEYS  # noqa: E402
from exporter.constraints import SOURCES, TABLE, Rule, apis  # noqa: E402
from exporter.sources import fleet_cost  # noqa: E402

README = ROOT / "README.md"
CONSTRAINTS_DOC = ROOT / "docs" / "api-constraints.md"
CHART_DIR = ROOT / "helm" / "workspace-exporter"
CHART_README = CHART_DIR / "README.md"

# Keys the targets loader reads before the dataclasses see the document, and its environment
# variable: they have no dataclass field to carry a description.
TOP_LEVEL_ONLY_DOCS = {
    "targets": (
        f"list of mappings with keys {', '.join(f'`{k}`' for k in TARGET_KEYS)}, each merged over the "
        "top level, to watch several projects in one process"
    ),
}
ENV_ONLY_DOCS = {
    TARGET_INDEX_ENV: "watch only `targets[i]` (one pod per target; adds `project_id`/`region` labels)",
}
_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))


def fmt_duration(seconds: float) -> str:
    """``300.0`` → ``5m``; ``0.1`` → ``100ms``: the largest unit that divides the value."""
    if seconds == 0:
        return "0s"
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds * 1000:g}ms"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`"


def _default(value: Any, meta: typing.Mapping[str, Any]) -> str:
    if "(required)" in meta.get("doc", ""):
        return "— (required)"
    if meta.get("duration"):
        return _code(fmt_duration(value))
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, list | dict):
        return _code(json.dumps(value))
    if value == "":
        return '`""`'
    return _code(str(value))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _range(meta: typing.Mapping[str, Any]) -> str:
    choices = meta.get("choices") or ()
    if choices:
        return ", ".join(_code(c) for c in choices)
    lo, hi = meta.get("min"), meta.get("max")
    show = fmt_duration if meta.get("duration") else _number
    if lo is not None and hi is not None:
        return f"{show(lo)} – {show(hi)}"
    if hi is not None:
        return f"≤ {show(hi)}"
    if lo is not None:
        return f"≥ {show(lo)}"
    return ""


def config_fields(cls: type = Config, prefix: str = "") -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(dotted key, default, metadata) for every leaf field of the config dataclasses, in order."""
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            yield from config_fields(tp, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, getattr(instance, f.name), dict(f.metadata)


def config_table() -> str:
    rows = ["| key | default | range | meaning |", "|---|---|---|---|"]
    for key, default, meta in config_fields():
        rows.append(
            f"| `{key}` | {_default(default, meta)} | {_range(meta)} | {_cell(meta.get('doc', ''))} |"
        )
    for key in TOP_LEVEL_ONLY_KEYS:
        rows.append(f"| `{key}` | — |  | {_cell(TOP_LEVEL_ONLY_DOCS[key])} |")
    for name, doc in ENV_ONLY_DOCS.items():
        rows.append(f"| (env) `{name}` | unset |  | {_cell(doc)} |")
    return "\n".join(rows)


def budget_table() -> str:
    rows = ["| API (`api` label) | call | service | requests/min | page limit |", "|---|---|---|---|---|"]
    for spec in APIS.values():
        page = str(spec.page_limit) if spec.page_limit else "—"
        rows.append(
            f"| `{spec.name}` | `{spec.method} {spec.path}` | {spec.service} | {spec.per_minute:g} | {page} |"
        )
    return "\n".join(rows)


def fleet_cost_table() -> str:
    """Calls per hour of each fleet source at the default config, for the two tenants of
    :mod:`exporter.sources.fleet_cost`; the opt-in ones below the total, each on its own."""
    small, large = fleet_cost.SMALL, fleet_cost.LARGE
    default = Config()
    opt_in = dataclasses.replace(
        default,
        agents=dataclasses.replace(default.agents, monitoring_plugins=True),
        user_events=dataclasses.replace(default.user_events, enabled=True),
    )
    head = f"| source | API | calls/h, {small.desktops:,} desktops | calls/h, {large.desktops:,} desktops |"
    rows = [head, "|---|---|---|---|"]
    on = (fleet_cost.calls_per_hour(default, small), fleet_cost.calls_per_hour(default, large))
    every = (fleet_cost.calls_per_hour(opt_in, small), fleet_cost.calls_per_hour(opt_in, large))
    for source, apis_of in every[0].items():
        for api in apis_of:
            extra = api not in on[0].get(source, {})
            name = f"`{source}` (opt-in)" if extra else f"`{source}`"
            a, b = every[0][source][api], every[1][source][api]
            rows.append(f"| {name} | `{api}` | {a:,.0f} | {b:,.0f} |")
    rows.append(
        f"| **on by default** | | **{fleet_cost.total(on[0]):,.0f}** | **{fleet_cost.total(on[1]):,.0f}** |"
    )
    return "\n".join(rows)


_DEFAULT_IN_HELP = re.compile(r"\s*\(default:? ([^)]*)\)")


def cli_flags() -> str:
    """One row per flag (and default), naming the commands that take it."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    rows: dict[tuple[str, str, str], list[str]] = {}
    for command, cmd_parser in sub.choices.items():
        for action in cmd_parser._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            flag = max(action.option_strings, key=len)
            if action.choices:
                flag += " " + "\\|".join(str(c) for c in action.choices)
            elif action.nargs != 0:
                flag += " " + (action.metavar or action.dest.upper())
            help_text = action.help or ""
            stated = _DEFAULT_IN_HELP.search(help_text)
            help_text = _DEFAULT_IN_HELP.sub("", help_text)
            if action.default not in (None, False, argparse.SUPPRESS):
                default = _code(str(action.default))
            elif stated:
                default = _code(stated.group(1))
            else:
                default = "—"
            rows.setdefault((flag, default, help_text), []).append(command)
    out = ["| flag | commands | default | meaning |", "|---|---|---|---|"]
    for (flag, default, help_text), commands in rows.items():
        names = ", ".join(f"`{c}`" for c in commands)
        out.append(f"| `{flag}` | {names} | {default} | {_cell(help_text)} |")
    return "\n".join(out)


# values.yaml subtrees passed through as Kubernetes objects: one row for the whole subtree.
PASS_THROUGH = {"podSecurityContext", "securityContext", "livenessProbe", "readinessProbe", "resources"}
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<rest>.*)$")


def values_rows() -> Iterator[tuple[str, str]]:
    """(dotted path, description) for every leaf of values.yaml, from its ``# --`` comment."""
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in (CHART_DIR / "values.yaml").read_text("utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if comment:
                comment.append(stripped[1:].strip())
            continue
        match = _KEY_LINE.match(line)
        if not match:
            if stripped and not stripped.startswith("-"):
                comment = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), match["key"]])
        rest = match["rest"].split(" #")[0].strip()
        inside = any(k in PASS_THROUGH for _, k in stack)
        if not rest:
            stack.append((indent, match["key"]))
        if not inside and (rest or match["key"] in PASS_THROUGH):
            yield path, " ".join(c for c in comment if c)
        comment = []


def _lookup(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree


def _value(value: Any) -> str:
    if isinstance(value, str):
        return f"`'{value}'`" if '"' in value else _code(json.dumps(value))
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, dict | list):
        return _code(json.dumps(value)) if not value else "see values.yaml"
    return _code(str(value))


def values_table() -> str:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text("utf-8"))
    rows = ["| Key | Default | Description |", "| --- | --- | --- |"]
    for path, doc in values_rows():
        rows.append(f"| `{path}` | {_value(_lookup(values, path))} | {_cell(doc)} |")
    return "\n".join(rows)


def _refusal(rule: Rule) -> str:
    if rule.adjusts:
        return "answered; the request is adjusted"
    return f"{rule.status} `{rule.code}`" if rule.code else f"{rule.status} (Keystone error body)"


def _cites(rule: Rule) -> str:
    return "<br>".join(f"[{c.source}] {c.where}: {c.says}" for c in rule.cites)


def constraints_table() -> str:
    """One section per API: its rows, what the fake enforces and how it refuses, the sources."""
    out: list[str] = []
    for api in apis():
        spec = APIS[api]
        out += ["", f"### `{api}`: `{spec.method} {spec.path}`", ""]
        out += ["| row | the fake enforces | refused with | sources | choice |", "|---|---|---|---|---|"]
        for rule in (r for r in TABLE if r.api == api):
            cells = (f"`{rule.name}`", rule.text(), _refusal(rule), _cites(rule), rule.choice)
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    out += ["", "### Where the sources disagree or say nothing", ""]
    out += [f"- `{r.id}`: {r.text()}. {r.choice}" for r in TABLE if r.choice]
    out += ["", "Source tags:", ""]
    out += [f"- [{key}] {text}" for key, text in SOURCES.items()]
    return "\n".join(out).strip("\n")


BLOCKS: dict[str, tuple[Path, Callable[[], str]]] = {
    "config-table": (README, config_table),
    "budget-table": (README, budget_table),
    "fleet-cost-table": (README, fleet_cost_table),
    "cli-flags": (README, cli_flags),
    "values-table": (CHART_README, values_table),
    "constraints-table": (CONSTRAINTS_DOC, constraints_table),
}


def fill(text: str, name: str, content: str) -> str:
    """``text`` with the block ``name`` holding ``content``; ValueError when the markers are missing."""
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    head, sep, rest = text.partition(begin)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise ValueError(f"markers of {name} not found")
    return f"{head}{begin}\n{content}\n{end}{tail}"


def generated() -> dict[Path, str]:
    """Every file with generated blocks, as it should read."""
    out: dict[Path, str] = {}
    for name, (path, make) in BLOCKS.items():
        out[path] = fill(out.get(path) or path.read_text("utf-8"), name, make())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale; change nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        if path.read_text("utf-8") != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, "utf-8")
    for path in stale:
        verb = "is stale" if args.check else "rewritten"
        print(f"{path.relative_to(ROOT)}: {verb}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
