"""docs/architecture.md cannot go stale silently: it names every module, every path it names
exists, and its list of the files a new source touches reaches every file the shipped
sources reach.

* Every module of ``exporter/`` is named in its room's row of the rooms table (by its path
  in the room, its file name, a folder it is in, or a glob such as ``*_records.py``): a new
  module fails here until the page says where it lives and what it does.
* Every path in backticks exists (``<name>`` stands for any one path segment), in the rooms
  table relative to the row's room, elsewhere relative to the repository or ``exporter/``.
* "How to add a source": for every entry of the shipped table, each file of the package,
  the chart's values, ``config.yaml`` and ``pyproject.toml`` that names one of its APIs (as
  a quoted string) or its config section (its dataclass, or its key in a YAML or JSON file)
  matches a path of that list, unless :data:`NOT_FOR_A_NEW_SOURCE` says why a new source
  does not touch it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.app.entry import SourceEntry
from exporter.app.table import SOURCES
from exporter.config.settings import Config, parse_config

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "exporter"
PAGE = ROOT / "docs" / "architecture.md"
EXTENSIONS = (".py", ".md", ".yaml", ".json", ".toml")
# Files that name a shipped source's API or section for a reason a new source does not share.
NOT_FOR_A_NEW_SOURCE = {
    "exporter/fake/__init__.py": "the package docstring's example counts desktops_detail calls",
}
SCANNED = ("helm/workspace-exporter/values.yaml", "helm/workspace-exporter/values.schema.json")
SCANNED_TOP = ("config.yaml", "pyproject.toml")


def _page() -> str:
    return PAGE.read_text("utf-8")


def _ticked(text: str) -> list[str]:
    """The path-like tokens in backticks (``a/b.py``, ``x.yaml``, ``dir/``), anchors cut."""
    out = []
    for token in re.findall(r"`([^`\s]+)`", text):
        token = re.sub(r"(\.py):\w+$", r"\1", token)  # `upstream/auth.py:outcome_of`
        if token.startswith("/") or not ("/" in token or token.endswith(EXTENSIONS)):
            continue
        out.append(token)
    return out


def _regex(pattern: str) -> re.Pattern[str]:
    """A page path as a regex over repository paths: ``<name>`` and ``*`` are any run of
    characters within one segment; a trailing ``/`` is the folder and all it holds."""
    parts = re.split(r"(<[a-z]+>|\*)", pattern.rstrip("/"))
    body = "".join("[^/]*" if p == "*" or p.startswith("<") else re.escape(p) for p in parts)
    return re.compile(body + ("/.+" if pattern.endswith("/") else ""))


def _files(base: Path) -> list[str]:
    return sorted(
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


REPO_FILES = [
    f
    for top in ("exporter", "tests", "helm", "docs", "scripts", "benchmarks")
    for f in (f"{top}/{rel}" for rel in _files(ROOT / top))
] + [p.name for p in ROOT.iterdir() if p.is_file()]


def _exists(token: str, bases: list[str]) -> bool:
    """``token`` names a file or folder of the repository relative to one of ``bases``
    ("" is the repository), or (for a bare name) one anywhere under a base."""
    for base in bases:
        prefix = f"{base}/" if base else ""
        rx = _regex(prefix + token)
        if any(rx.fullmatch(f) for f in REPO_FILES):
            return True
        if (
            "/" not in token.rstrip("/")
            and base
            and any(
                f.startswith(prefix) and _regex(token).fullmatch(f.rsplit("/", 1)[-1]) for f in REPO_FILES
            )
        ):
            return True
    return False


# ------------------------------------------------------------------------------ the rooms


def _rooms() -> list[tuple[list[str], list[str]]]:
    """Per row of the rooms table: the folders of ``exporter/`` it is about ("" for the base
    row's top-level modules) and the path tokens of its "owns" cell."""
    rows = []
    for line in _page().splitlines():
        row = re.match(r"\| (\d+|—) \| ([^|]+) \| ([^|]+) \|", line)
        if row is None:
            continue
        room_cell, owns = row[2], row[3]
        if room_cell.startswith("base:"):
            folders = [f"exporter/{t.rstrip('/')}" for t in re.findall(r"`([^`]+/)`", room_cell)]
            rows.append((["", *folders], _ticked(room_cell) + _ticked(owns)))
            continue
        folders = [t.rstrip("/") for t in re.findall(r"`([^`]+)/`", room_cell)]
        files = [t for t in re.findall(r"`([^`/]+\.py)`", room_cell)]
        rows.append(([f"exporter/{f}" for f in folders] + ["exporter"] * bool(files), _ticked(owns) + files))
    return rows


def _room_of(module: str) -> str:
    """``exporter/<room>`` for a module in a folder, "" for a top-level one."""
    parts = module.split("/")
    return f"exporter/{parts[1]}" if len(parts) > 2 else ""


def _named(module: str, folder: str, tokens: list[str]) -> bool:
    rel = module[len(folder) + 1 :] if folder.startswith("exporter/") else module.removeprefix("exporter/")
    name = rel.rsplit("/", 1)[-1]
    return any(_regex(t).fullmatch(rel) or _regex(t).fullmatch(name) for t in tokens)


def test_the_rooms_table_names_every_module_of_the_package() -> None:
    rows = _rooms()
    assert len(rows) == 9
    modules = [f"exporter/{m}" for m in _files(PACKAGE) if m.endswith(".py")]
    unnamed = []
    for module in modules:
        if module.endswith("/__init__.py") and module != "exporter/__init__.py":
            continue  # a package is named by its folder
        if module == "exporter/__init__.py":
            continue
        room = _room_of(module)
        # A top-level module belongs to the base row, or to a row that names it in its room cell.
        homes = {room} if room else {"", "exporter"}
        candidates = [tokens for folders, tokens in rows if homes & set(folders)]
        if not any(_named(module, room, tokens) for tokens in candidates):
            unnamed.append(module)
    assert unnamed == [], "name these in their room's row of docs/architecture.md"


def test_the_check_sees_a_module_missing_from_the_page() -> None:
    rows = _rooms()
    sources = next(tokens for folders, tokens in rows if "exporter/sources" in folders)
    assert _named("exporter/sources/labels.py", "exporter/sources", sources)
    assert _named("exporter/sources/event_records.py", "exporter/sources", sources)  # *_records.py
    assert _named("exporter/sources/cloudeye/v1.py", "exporter/sources", sources)  # cloudeye/
    assert not _named("exporter/sources/rogue.py", "exporter/sources", sources)
    assert not _named(
        "exporter/sources/labels.py", "exporter/sources", [t for t in sources if t != "labels.py"]
    )


# ------------------------------------------------------------------------------ the paths


def test_every_path_the_page_names_exists() -> None:
    missing = []
    rows = {line for line in _page().splitlines() if re.match(r"\| (\d+|—) \| ", line)}
    for folders, tokens in _rooms():
        bases = [*folders, "exporter", ""]
        missing += [t for t in tokens if not _exists(t, bases)]
    prose = "\n".join(line for line in _page().splitlines() if line not in rows)
    missing += [t for t in _ticked(prose) if not _exists(t, ["", "exporter"])]
    assert missing == []


def test_a_path_that_does_not_exist_is_seen() -> None:
    assert _exists("exporter/sources/<name>.py", [""])
    assert _exists("app/entry.py", ["", "exporter"])
    assert not _exists("exporter/sources/nothing.py", [""])
    assert not _exists("exporter/app/<name>/", [""])  # app/ has no package


# ------------------------------------------------------------------ how to add a source


def _add_a_source() -> list[re.Pattern[str]]:
    page = _page()
    section = page[page.index("## How to add a source") :]
    section = section[: section.index("Nothing else changes")]
    return [_regex(t) for t in _ticked(section)]


def _configs() -> list[Config]:
    env = {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"}
    raws = [{}, {"monitoring": {"source": "cloudeye"}}, {"connections": {"api": "v1.0"}}]
    return [
        parse_config({"region": "ap-southeast-1", "project_id": "0" * 32, **raw}, env).config for raw in raws
    ]


def _reached(entry: SourceEntry) -> list[str]:
    """The files that name one of ``entry``'s APIs or its config section."""
    configs = _configs()
    apis = sorted({api for c in configs for api in entry.apis_for(c)})
    quoted = [re.compile(rf"[\"']{re.escape(api)}[\"']") for api in apis]
    code = list(quoted)
    data = list(quoted)
    if entry.section is not None:
        section_class = type(getattr(configs[0], entry.section)).__name__
        code.append(re.compile(rf"\b{section_class}\b"))
        data.append(re.compile(rf"^\s*\"?{entry.section}\"?:", re.MULTILINE))
    hits = []
    for path in [f"exporter/{m}" for m in _files(PACKAGE) if m.endswith(".py")] + [*SCANNED, *SCANNED_TOP]:
        text = (ROOT / path).read_text("utf-8")
        needles = code if path.endswith(".py") else data
        if any(n.search(text) for n in needles):
            hits.append(path)
    return hits


@pytest.mark.parametrize("entry", SOURCES, ids=[e.name for e in SOURCES])
def test_the_add_a_source_list_names_every_file_a_shipped_source_reaches(entry: SourceEntry) -> None:
    listed = _add_a_source()
    reached = _reached(entry)
    assert {"exporter/apis.py", "config.yaml", *SCANNED} <= set(reached)  # the scan sees them
    unlisted = [
        f for f in reached if f not in NOT_FOR_A_NEW_SOURCE and not any(p.fullmatch(f) for p in listed)
    ]
    assert unlisted == [], "add these to 'How to add a source' in docs/architecture.md"


def test_the_list_check_sees_a_missing_file() -> None:
    listed = _add_a_source()
    for path in (
        "exporter/fake/routes.py",
        "helm/workspace-exporter/values.yaml",
        "exporter/upstream/paging.py",
    ):
        assert any(p.fullmatch(path) for p in listed), path
    for path in ("exporter/serve/server.py", "exporter/app/exporter.py", "exporter/upstream/client.py"):
        assert not any(p.fullmatch(path) for p in listed), path
