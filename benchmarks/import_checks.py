"""Import checks compared on seeded slips: our former ast checker, import-linter, grimp graph checks.

Each case writes a few modules (or appends a line to one) in a fresh copy of ``exporter/``
and runs, each in a child process whose ``exporter`` is the copy:

- ``ast``: the checker ``tests/unit/test_layers.py`` held before import-linter replaced it,
  read from git (``--ours REF``): every upward import, forbidden import and import cycle
  (type-only ones too), and every module in a ranked room;
- ``linter``: ``lint-imports`` with the contracts of ``[tool.importlinter]`` in pyproject.toml;
- ``graph``: the two checks ``tests/unit/test_layers.py`` runs on grimp's graph beside the
  contracts (cycles between any two modules, the fake's standard-library-only rule).

A cell is ``caught`` or ``-``; ``linter+graph`` is what the test suite runs now. Then the
time of each check on the unchanged tree (in-process, excluding the interpreter's start;
median of ``--repeat``), the lines each takes, and what each prints for an upward import.
Needs the ``test`` extra (import-linter, grimp) and a git checkout.

    python -m benchmarks.import_checks                 # figures of record: --repeat 21
    python -m benchmarks.import_checks --repeat 3      # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
TESTS = ROOT / "tests" / "unit"
# The last commit whose tests/unit/test_layers.py was the ast checker.
OURS_REF = "3844c0e"
HINT = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    "


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str] = field(default_factory=dict)  # path under exporter/ -> text
    append: dict[str, str] = field(default_factory=dict)  # path under exporter/ -> line added


CASES = [
    Case("nothing seeded"),
    Case("upward: from x import y", {"sources/rogue.py": "from exporter.app.exporter import Exporter\n"}),
    Case("upward: import x.y", {"sources/rogue.py": "import exporter.app.scheduler\n"}),
    Case("upward: from exporter import app", {"sources/rogue.py": "from exporter import app\n"}),
    Case("upward: relative", {"sources/rogue.py": "from ..app import multi\n"}),
    Case(
        "upward: in a function", {"config/rogue.py": "def f():\n    from exporter.upstream import client\n"}
    ),
    Case("upward: TYPE_CHECKING only", {"sources/rogue.py": HINT + "from exporter.app import exporter\n"}),
    Case(
        "upward: in try/except ImportError",
        {"sources/rogue.py": "try:\n    from exporter.serve import policy\nexcept ImportError:\n    pass\n"},
    ),
    Case(
        "upward: importlib.import_module",
        {"sources/rogue.py": "import importlib\n\nm = importlib.import_module('exporter.app')\n"},
    ),
    Case(
        "cycle: two siblings",
        {
            "sources/rogue_a.py": "from exporter.sources import rogue_b\n",
            "sources/rogue_b.py": "import exporter.sources.rogue_a\n",
        },
    ),
    Case(
        "cycle: type-only",
        {
            "sources/rogue_a.py": "from exporter.sources import rogue_b\n",
            "sources/rogue_b.py": HINT + "from exporter.sources import rogue_a\n",
        },
    ),
    Case(
        "cycle: package and its own module",
        {
            "sources/rogue_pkg/__init__.py": "from exporter.sources.rogue_pkg.inner import X\n\nY = 1\n",
            "sources/rogue_pkg/inner.py": "from exporter.sources.rogue_pkg import Y\n\nX = Y\n",
        },
    ),
    Case(
        "cycle: module into a subpackage and back",
        {
            "sources/rogue_b.py": "from exporter.sources.cloudeye import rogue\n",
            "sources/cloudeye/rogue.py": "from exporter.sources import rogue_b\n",
        },
    ),
    Case(
        "cycle: packages only, no module cycle",
        {
            "sources/rogue_b.py": "from exporter.sources.cloudeye import source\n",
            "sources/cloudeye/rogue.py": "from exporter.sources import rogue_b\n",
        },
    ),
    Case("ban: sources import prometheus_client", {"sources/rogue.py": "import prometheus_client\n"}),
    Case("ban: fake imports requests", {"fake/rogue.py": "import requests\n"}),
    Case("ban: fake imports h11 (test-only)", {"fake/rogue.py": "import h11\n"}),
    Case("fake imports exporter.errors", {"fake/rogue.py": "from exporter import errors\n"}),
    Case("app imports the fake", {"app/rogue.py": "from exporter.fake import FakeServer\n"}),
    Case("cli, not demo.py, imports the fake", {"cli/rogue.py": "from exporter.fake import sim\n"}),
    Case("a module without a room", {"rogue_room.py": "X = 1\n"}),
    Case(
        "one source imports another", append={"sources/inventory.py": "from exporter.sources import events\n"}
    ),
]


def _seed(case: Case, into: Path) -> Path:
    root = into / "tree"
    shutil.copytree(ROOT / "exporter", root / "exporter", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in case.files.items():
        path = root / "exporter" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for rel, text in case.append.items():
        with (root / "exporter" / rel).open("a", encoding="utf-8") as f:
            f.write(text)
    return root


# ------------------------------------------------------------------ the children (one check)


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _child(kind: str, root: Path, ours: Path) -> dict[str, object]:
    sys.path.insert(0, str(root))
    found = importlib.util.find_spec("exporter")
    origin = found.origin if found is not None else None
    assert origin is not None
    assert origin.startswith(str(root)), f"exporter is imported from {origin}, not the seeded copy"
    if kind == "ast":
        m = _load("ours_layers", ours)
        t0 = time.perf_counter()
        modules = m.read_package(root / "exporter")
        problems = m.violations(modules) + m.violations(modules, type_only=True)
        problems += [f"{n}: no room" for n in modules if m.room(n) not in {*m.RANK, "fake"}]
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "caught": bool(problems), "output": "\n".join(problems)}
    if kind == "linter":
        from importlinter.cli import lint_imports

        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
        seconds = time.perf_counter() - t0
        text = out.getvalue()
        broken = text[text.find("Broken contracts") :] if "Broken contracts" in text else ""
        return {"seconds": seconds, "caught": code != 0, "output": broken}
    m = _load("new_layers", TESTS / "test_layers.py")
    t0 = time.perf_counter()
    g = m.graph()
    problems = m.module_cycles(g) + m.fake_outside_imports(g)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "caught": bool(problems), "output": "\n".join(problems)}


def run_child(kind: str, root: Path, ours: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), "--child", kind, "--root", str(root), "--ours-file", str(ours)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result


# ------------------------------------------------------------------------------ the parent


def _lines(path: Path, start: str = "", stop: str = "") -> int:
    """Non-blank lines of ``path`` from the line starting ``start`` to the one starting ``stop``."""
    text = path.read_text(encoding="utf-8").splitlines()
    first = next((i for i, s in enumerate(text) if s.startswith(start)), 0) if start else 0
    last = next((i for i, s in enumerate(text) if i > first and stop and s.startswith(stop)), len(text))
    return sum(1 for s in text[first:last] if s.strip())


def _config_lines() -> int:
    text = PYPROJECT.read_text(encoding="utf-8").splitlines()
    first = next(i for i, s in enumerate(text) if s == "[tool.importlinter]")
    last = next(
        i for i, s in enumerate(text) if i > first and s.startswith("[") and "tool.importlinter" not in s
    )
    return sum(1 for s in text[first:last] if s.strip() and not s.startswith("#"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ours", default=OURS_REF, help="git revision holding the ast checker")
    parser.add_argument("--repeat", type=int, default=21, help="timed runs per check on the unchanged tree")
    parser.add_argument("--child", choices=["ast", "linter", "graph"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ours-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.root, args.ours_file)))
        return 0

    kinds = ("ast", "linter", "graph")
    with tempfile.TemporaryDirectory(prefix="import-checks-") as tmp:
        ours = Path(tmp) / "ours_layers.py"
        ours.write_text(
            subprocess.run(
                ["git", "show", f"{args.ours}:tests/unit/test_layers.py"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout,
            encoding="utf-8",
        )
        results: dict[str, dict[str, dict[str, object]]] = {}
        for i, case in enumerate(CASES):
            root = _seed(case, Path(tmp) / str(i))
            results[case.name] = {k: run_child(k, root, ours) for k in kinds}
        clean = _seed(CASES[0], Path(tmp) / "clean")
        timed = {k: [run_child(k, clean, ours) for _ in range(args.repeat)] for k in kinds}
        ours_lines = (_lines(ours, stop="# ---"), _lines(ours, start="# ---"))

    def mark(r: dict[str, object]) -> str:
        return "caught" if r["caught"] else "-"

    print("| case | ast (ours) | linter | graph | linter+graph |")
    print("|---|---|---|---|---|")
    for case in CASES:
        r = results[case.name]
        both = {"caught": r["linter"]["caught"] or r["graph"]["caught"]}
        print(f"| {case.name} | {mark(r['ast'])} | {mark(r['linter'])} | {mark(r['graph'])} | {mark(both)} |")
    seeded = CASES[1:]
    for k in (*kinds, "linter+graph"):
        parts = k.split("+")
        n = sum(1 for c in seeded if any(results[c.name][p]["caught"] for p in parts))
        print(f"{k}: {n}/{len(seeded)} seeded slips caught")
    print()
    print(f"Unchanged tree, median of {args.repeat} (ms): check in-process / child process wall")
    for k in kinds:
        inside = statistics.median(float(str(r["seconds"])) for r in timed[k]) * 1000
        wall = statistics.median(float(str(r["wall"])) for r in timed[k]) * 1000
        print(f"  {k}: {inside:.0f} / {wall:.0f}")
    print()
    new = TESTS / "test_layers.py"
    print("Non-blank lines (checker and its rules / tests of the package and of the checker):")
    print(f"  ast, tests/unit/test_layers.py at {args.ours}: {ours_lines[0]} / {ours_lines[1]}")
    print(f"  [tool.importlinter] in pyproject.toml, without comments: {_config_lines()}")
    print(f"  tests/unit/test_layers.py now: {_lines(new, stop='# ---')} / {_lines(new, start='# ---')}")
    print()
    upward = results[CASES[1].name]
    for k in kinds:
        print(f"--- what {k} prints for '{CASES[1].name}':")
        print(str(upward[k]["output"]).strip() or "(nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
