"""Import direction: every import in ``exporter/`` runs down the rooms, never up, never in a circle.

Rooms, lowest first (docs/architecture.md explains each):
base (clock, errors, secret, timeutil, tokenbucket, logs, apis, constraints, fatal) < config <
upstream < sources < exposition < serve < app < cli. A module may import its own room and lower
ones.
``fake`` (the fake Workspace API) imports only the standard library, itself, the API
name table and the constraint table it enforces; only ``cli/demo.py`` imports it.
Sources never import prometheus_client.

Imports are read with :mod:`ast` (function-level and TYPE_CHECKING imports included),
so a layering slip fails here before it becomes a circular import at run time.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "exporter"

BASE = ("clock", "errors", "secret", "timeutil", "tokenbucket", "logs", "apis", "constraints", "fatal")
ROOMS = ("config", "upstream", "sources", "exposition", "serve", "app", "cli")
RANK = {name: 0 for name in BASE} | {room: i + 1 for i, room in enumerate(ROOMS)}
# The fake checks fault names against the API table and enforces the constraint table;
# everything else it needs is its own.
FAKE_MAY_IMPORT = {"exporter.apis", "exporter.constraints"}
FAKE_USERS = {"exporter.cli.demo"}
# Third-party packages a room must not import (the room's docstring says why).
FORBIDDEN_THIRD_PARTY = {"sources": {"prometheus_client"}}


def room(module: str) -> str:
    """``exporter.sources.events`` -> ``sources``; the package itself is base."""
    parts = module.split(".")
    if len(parts) == 1:
        return "clock"  # exporter/__init__.py: the version string, nothing else
    if parts[1] == "__main__":
        return "cli"
    return parts[1]


@functools.cache
def _read(path: Path) -> tuple[tuple[str, str], ...]:
    out = []
    for file in sorted(path.rglob("*.py")):
        rel = file.relative_to(path.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), file.read_text(encoding="utf-8")))
    return tuple(out)


def read_package(path: Path = PACKAGE) -> dict[str, str]:
    """Every module of the package: dotted name -> source text (a fresh dict per call)."""
    return dict(_read(path))


@functools.cache
def _parse(source: str) -> ast.Module:
    return ast.parse(source)


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                out.update(id(n) for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom))
    return out


def _imports(module: str, source: str, known: Mapping[str, str]) -> Iterator[tuple[str, int, bool]]:
    """(imported name, line, type-only) per import; ``from pkg import mod`` names the module."""
    is_package = module in known and any(k.startswith(module + ".") for k in known)
    tree = _parse(source)
    type_only = _type_only(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in type_only
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), node.lineno, id(node) in type_only


def violations(modules: Mapping[str, str], type_only: bool = False) -> list[str]:
    """Every upward import, forbidden import and import cycle among ``modules``.

    Cycles are those of the imports that run; with ``type_only`` the cycles that only
    ``if TYPE_CHECKING:`` imports close are returned instead (nothing else).
    """
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    typed: dict[str, set[str]] = {m: set() for m in modules}
    stdlib = sys.stdlib_module_names
    for module, source in modules.items():
        src_room = room(module)
        for name, line, hint in _imports(module, source, modules):
            top = name.split(".")[0]
            where = f"{module}:{line} imports {name}"
            if top != "exporter":
                if src_room == "fake" and top not in stdlib and top != "__future__":
                    problems.append(f"{where}: the fake uses the standard library only")
                if top in FORBIDDEN_THIRD_PARTY.get(src_room, set()):
                    problems.append(f"{where}: {src_room} must not import {top}")
                continue
            if name in modules and name != module:
                typed[module].add(name)
                if not hint:
                    graph[module].add(name)
            dst_room = room(name)
            if src_room == "fake":
                allowed = any(name == m or name.startswith(m + ".") for m in FAKE_MAY_IMPORT)
                if dst_room != "fake" and not allowed:
                    problems.append(f"{where}: the fake imports only itself and the standard library")
                continue
            if dst_room == "fake":
                if module not in FAKE_USERS:
                    problems.append(f"{where}: only {', '.join(sorted(FAKE_USERS))} may import the fake")
                continue
            if dst_room not in RANK or src_room not in RANK:
                problems.append(f"{where}: room {dst_room if dst_room not in RANK else src_room} has no rank")
            elif RANK[dst_room] > RANK[src_room]:
                problems.append(f"{where}: {src_room} may not import {dst_room} (upward)")
    if type_only:
        runtime = {tuple(c) for c in _cycles(graph)}
        return [f"import cycle: {' -> '.join(c)}" for c in _cycles(typed) if tuple(c) not in runtime]
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return list(dict.fromkeys(problems))  # one line per import, however many names it takes


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


# ------------------------------------------------------------------------------- the package


def test_every_import_in_the_package_runs_down_the_rooms_without_cycles() -> None:
    modules = read_package()
    assert len(modules) > 40  # the whole package was read
    assert violations(modules) == []


# A cycle closed only by type hints does not fail at import time, but it still ties two
# modules together: each one listed here is a debt, and a new one fails the test.
KNOWN_TYPE_ONLY_CYCLES: list[str] = []


def test_no_new_cycle_is_closed_by_type_hints_alone() -> None:
    assert violations(read_package(), type_only=True) == KNOWN_TYPE_ONLY_CYCLES


def test_every_module_belongs_to_a_ranked_room() -> None:
    rooms = {room(m) for m in read_package()}
    assert rooms <= set(RANK) | {"fake"}


# ------------------------------------------------------------------ the checker catches slips


def _with(name: str, source: str) -> dict[str, str]:
    modules = read_package()
    modules[name] = source
    return modules


def test_a_source_importing_the_app_is_an_upward_import() -> None:
    modules = _with("exporter.sources.rogue", "from exporter.app.exporter import Exporter\n")
    assert violations(modules) == [
        "exporter.sources.rogue:1 imports exporter.app.exporter: sources may not import app (upward)"
    ]


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("exporter.sources.rogue", "import exporter.app.scheduler\n", "sources may not import app (upward)"),
        ("exporter.sources.rogue", "from exporter.exposition import catalogue\n", "(upward)"),
        ("exporter.config.rogue", "def f():\n    from exporter.upstream import client\n", "(upward)"),
        (
            "exporter.sources.rogue",
            "from prometheus_client import Counter\n",
            "must not import prometheus_client",
        ),
        ("exporter.fake.rogue", "import requests\n", "standard library only"),
        ("exporter.fake.rogue", "from exporter.sources import base\n", "imports only itself"),
        ("exporter.app.rogue", "from exporter.fake import FakeServer\n", "may import the fake"),
        ("exporter.sources.rogue", "from . import base\nfrom ..app import multi\n", "(upward)"),
    ],
)
def test_each_forbidden_import_is_reported(name: str, source: str, expected: str) -> None:
    found = violations(_with(name, source))
    assert len(found) == 1
    assert expected in found[0]
    assert found[0].startswith(name + ":")


def test_a_cycle_within_one_room_is_reported() -> None:
    modules = {
        "exporter.sources.a": "from exporter.sources import b\n",
        "exporter.sources.b": "from exporter.sources.c import x\n",
        "exporter.sources.c": "import exporter.sources.a\n",
        "exporter.sources.d": "from exporter.sources import a\n",
    }
    assert violations(modules) == [
        "import cycle: exporter.sources.a -> exporter.sources.b -> exporter.sources.c"
    ]


def test_relative_imports_resolve_against_the_module() -> None:
    modules = {
        "exporter.sources": "",
        "exporter.sources.a": "from .b import x\nfrom . import c\n",
        "exporter.sources.b": "",
        "exporter.sources.c": "",
    }
    found = list(_imports("exporter.sources.a", modules["exporter.sources.a"], modules))
    assert found == [("exporter.sources.b", 1, False), ("exporter.sources.c", 2, False)]


def test_type_checking_imports_count_for_direction_but_not_for_runtime_cycles() -> None:
    modules = {
        "exporter.sources.a": "from exporter.sources import b\n",
        "exporter.sources.b": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from exporter.sources import a\n"
            "    from exporter.app import exporter\n"
        ),
        "exporter.app.exporter": "",
    }
    assert violations(modules) == [
        "exporter.sources.b:4 imports exporter.app.exporter: sources may not import app (upward)"
    ]
    assert violations(modules, type_only=True) == ["import cycle: exporter.sources.a -> exporter.sources.b"]
