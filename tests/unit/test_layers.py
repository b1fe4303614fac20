"""Import direction: the contracts of ``[tool.importlinter]`` in pyproject.toml hold, and no cycle.

import-linter checks the contracts (docs/decisions.md says why it and not a checker of our
own): the rooms of docs/architecture.md as layers, lowest last, base modules at the bottom
and a new folder or module under ``exporter/`` refused until it has a room; sources never
import prometheus_client; no source reaches into another, nor one source's families module
into another's; the fake imports of the exporter only the API table and the constraint
table, and only ``cli/demo.py`` imports the fake; no cycle between the modules or packages
of one package. Function-level and ``if TYPE_CHECKING:`` imports count like any other.

Two rules that no contract type can say are checked here on grimp's graph (the one
import-linter builds): no cycle between any two modules, a package and its own modules
included (``acyclic_siblings`` compares siblings only), and the fake imports nothing from
outside the exporter but the standard library (a contract forbids named packages; it
cannot allow the standard library alone).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PACKAGE = "exporter"
FAKE = "exporter.fake"
# lint-imports as the console script runs it, from this interpreter.
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def contracts() -> dict[str, dict[str, Any]]:
    """The contracts of pyproject.toml by id."""
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with this repository's contracts on the ``exporter`` package under ``root``."""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(PYPROJECT), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def graph() -> grimp.ImportGraph:
    """The package's import graph, outside packages (the standard library too) as their top names."""
    return grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)


def _ours(module: str, package: str = PACKAGE) -> bool:
    return module == package or module.startswith(package + ".")


def module_cycles(g: grimp.ImportGraph) -> list[str]:
    """Every cycle among the package's modules, as ``a -> b -> ... -> a``, each once."""
    seen: set[frozenset[str]] = set()
    out: list[str] = []
    for importer in sorted(m for m in g.modules if _ours(m)):
        for imported in sorted(m for m in g.find_modules_directly_imported_by(importer) if _ours(m)):
            back = g.find_shortest_chain(importer=imported, imported=importer)
            if back is None or frozenset(back) in seen:
                continue
            seen.add(frozenset(back))
            out.append(" -> ".join((importer, *back)))
    return out


def fake_outside_imports(g: grimp.ImportGraph) -> list[str]:
    """Each import of the fake from neither the exporter nor the standard library, with its lines."""
    out: list[str] = []
    for module in sorted(m for m in g.modules if _ours(m, FAKE)):
        for imported in sorted(g.find_modules_directly_imported_by(module)):
            top = imported.split(".")[0]
            if top == PACKAGE or top in sys.stdlib_module_names or top == "__future__":
                continue
            lines = ",".join(
                str(d["line_number"]) for d in g.get_import_details(importer=module, imported=imported)
            )
            out.append(f"{module}:{lines} imports {imported}: the fake uses the standard library only")
    return out


# ------------------------------------------------------------------------------- the package


def test_the_import_contracts_hold() -> None:
    run = lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in run.stdout


def test_no_import_cycle_between_any_two_modules() -> None:
    g = graph()
    assert len([m for m in g.modules if _ours(m)]) > 40  # the whole package was read
    assert module_cycles(g) == []


def test_the_fake_imports_only_the_standard_library_from_outside() -> None:
    assert fake_outside_imports(graph()) == []


def _layer_names(layer: str) -> set[str]:
    return {name.strip() for name in re.split(r"[:|]", layer)}


def test_the_architecture_page_lists_the_rooms_of_the_layers_contract() -> None:
    rooms = contracts()["rooms"]
    layers = [_layer_names(layer) for layer in reversed(rooms["layers"])]
    ranked: list[set[str]] = []
    apart: set[str] = set()
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        row = re.match(r"\| (\d+|—) \| ([^|]+) \|", line)
        if row is None:
            continue
        names = {Path(n.rstrip("/")).stem for n in re.findall(r"`([^`]+)`", row[2])}
        if row[1] == "—":
            apart |= names
        else:
            assert int(row[1]) == len(ranked), line
            ranked.append(names)
    assert ranked == layers
    assert apart == set(rooms["exhaustive_ignores"])


# ---------------------------------------------------------------- the contracts catch slips


def _write(path: Path, text: str, append: bool = False) -> None:
    with path.open("a" if append else "w", encoding="utf-8") as f:
        f.write(text)


def test_each_contract_breaks_on_a_seeded_slip(tmp_path: Path) -> None:
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    pkg = tmp_path / PACKAGE
    type_only = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
    _write(pkg / "sources" / "rogue_hint.py", type_only + "    from exporter.app.exporter import Exporter\n")
    _write(pkg / "config" / "rogue_lazy.py", "def f() -> None:\n    from exporter.upstream import client\n")
    _write(pkg / "sources" / "rogue_relative.py", "from ..serve import policy\n")
    _write(pkg / "rogue_room.py", "")
    _write(pkg / "sources" / "rogue_metrics.py", "import prometheus_client\n")
    _write(pkg / "sources" / "inventory.py", "from exporter.sources import events\n", append=True)
    _write(pkg / "exposition" / "desktop_lines.py", "from exporter.exposition import events\n", append=True)
    _write(pkg / "fake" / "rogue.py", "from exporter import errors\n")
    _write(pkg / "app" / "rogue.py", "from exporter.fake import FakeServer\n")
    _write(pkg / "sources" / "rogue_a.py", "from exporter.sources import rogue_b\n")
    _write(pkg / "sources" / "rogue_b.py", type_only + "    from exporter.sources import rogue_a\n")

    run = lint(tmp_path)
    out = run.stdout

    assert run.returncode == 1, out + run.stderr
    assert f"Contracts: 0 kept, {len(contracts())} broken." in out
    for expected in [
        "- exporter.sources.rogue_hint -> exporter.app.exporter (l.4)",
        "- exporter.config.rogue_lazy -> exporter.upstream.client (l.2)",
        "- exporter.sources.rogue_relative -> exporter.serve.policy (l.1)",
        "rogue_room",
        "exporter.sources.rogue_metrics -> prometheus_client (l.1)",
        "exporter.sources.inventory -> exporter.sources.events",
        "exporter.exposition.desktop_lines -> exporter.exposition.events",
        "exporter.fake.rogue -> exporter.errors (l.1)",
        "exporter.app.rogue -> exporter.fake (l.1)",
        ".rogue_b -> .rogue_a",
    ]:
        assert expected in out, f"{expected!r} not in:\n{out}"


# ------------------------------------------------------------- the graph checks catch slips


def _graph(imports: dict[str, list[str]]) -> grimp.ImportGraph:
    g = grimp.ImportGraph()
    for importer, imported in imports.items():
        g.add_module(importer)
        for name in imported:
            g.add_module(name)
            g.add_import(importer=importer, imported=name, line_number=1, line_contents="import " + name)
    return g


def test_a_cycle_between_a_package_and_its_own_module_is_reported() -> None:
    # __init__ re-exports from inner, inner imports a name of __init__: an ImportError at run
    # time, and no pair of siblings for acyclic_siblings to see.
    g = _graph(
        {
            "exporter.sources.pkg": ["exporter.sources.pkg.inner"],
            "exporter.sources.pkg.inner": ["exporter.sources.pkg"],
        }
    )
    assert module_cycles(g) == ["exporter.sources.pkg -> exporter.sources.pkg.inner -> exporter.sources.pkg"]


def test_a_cycle_of_three_modules_is_reported_once() -> None:
    g = _graph(
        {
            "exporter.sources.a": ["exporter.sources.b"],
            "exporter.sources.b": ["exporter.sources.c"],
            "exporter.sources.c": ["exporter.sources.a"],
            "exporter.sources.d": ["exporter.sources.a"],
        }
    )
    assert module_cycles(g) == [
        "exporter.sources.a -> exporter.sources.b -> exporter.sources.c -> exporter.sources.a"
    ]


@pytest.mark.parametrize("outside", ["requests", "h11", "yaml"])
def test_the_fake_importing_a_package_outside_the_standard_library_is_reported(outside: str) -> None:
    g = _graph({"exporter.fake.rogue": ["json", "exporter.apis", "exporter.fake.state", outside]})
    assert fake_outside_imports(g) == [
        f"exporter.fake.rogue:1 imports {outside}: the fake uses the standard library only"
    ]
