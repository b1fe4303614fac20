"""The constraint table: every documented constraint of every API the exporter calls.

One row (a :class:`~exporter.constraints.rules.Rule`) per constraint, with its sources
and, where they disagree, which one it follows and why. The numbers live here once: the
API table takes its page limits from it (:func:`page_limit`), the sources size their
windows and batches from it, the fake (:mod:`exporter.fake.strict`) enforces every row
on every request, and ``scripts/gen-docs.py`` renders it into docs/api-constraints.md.

    >>> [r.id for r in rules_for("os_operations") if r.check(Call(query={"limit": ["1000"]}))]
    ['os_operations.limit']
"""

from __future__ import annotations

from collections.abc import Iterator

from exporter.constraints.ces import CES, IAM_ROWS, coded
from exporter.constraints.fleet import FLEET
from exporter.constraints.kinds import IntRange
from exporter.constraints.rules import SOURCES, Call, Cite, Rule
from exporter.constraints.workspace import WORKSPACE

#: Error code of a rejected Workspace request: the "invalid parameter" code of the
#: Workspace examples (workspace-api.md, section H); the real one may differ, so no
#: client may depend on it.
WORKSPACE_CODE = "WKS.00211102"

TABLE: tuple[Rule, ...] = (*coded(WORKSPACE, WORKSPACE_CODE), *coded(FLEET, WORKSPACE_CODE), *CES, *IAM_ROWS)

_BY_API: dict[str, tuple[Rule, ...]] = {}
for _rule in sorted(TABLE, key=lambda r: r.order):
    _BY_API[_rule.api] = (*_BY_API.get(_rule.api, ()), _rule)


def rules_for(api: str) -> tuple[Rule, ...]:
    """The rows of ``api`` in the order they are checked (the first failing one is reported)."""
    return _BY_API.get(api, ())


def apis() -> Iterator[str]:
    """The APIs with rows, in table order."""
    return iter(dict.fromkeys(r.api for r in TABLE))


def _limit_row(api: str) -> IntRange | None:
    return next((r for r in rules_for(api) if isinstance(r, IntRange) and r.name == "limit"), None)


def page_limit(api: str) -> int:
    """The largest ``limit`` ``api`` takes (0: the API is not paged by ``limit``)."""
    row = _limit_row(api)
    return row.hi or 0 if row is not None else 0


def default_limit(api: str) -> int:
    """The page size ``api`` uses when no ``limit`` is sent (the table's default)."""
    row = _limit_row(api)
    if row is None or row.default is None:
        raise KeyError(f"{api} has no limit row with a default")
    return row.default


__all__ = [
    "SOURCES",
    "TABLE",
    "Call",
    "Cite",
    "Rule",
    "apis",
    "default_limit",
    "page_limit",
    "rules_for",
]
