"""The kinds of rule a row of the constraint table can be (see :mod:`exporter.constraints.rules`).

Each kind checks one sort of constraint (a size, a required parameter, a pair, a time
format, an integer range, a set of values, a count of items, a pattern) and names its own
edges for the tests. The kinds about time windows are in :mod:`exporter.constraints.windows`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from exporter.constraints.rules import (
    FORMATS,
    SECOND,
    Call,
    Probe,
    Rule,
    TimeFormat,
    Where,
    as_int,
    first_value,
    present,
    probe,
    target_of,
    values,
)


@dataclass(frozen=True, kw_only=True)
class BodySize(Rule):
    limit: int
    order: ClassVar[int] = 0

    def check(self, call: Call) -> str | None:
        if call.body_bytes > self.limit:
            return f"Request entity too large: the body may hold at most {self.limit} bytes"
        return None

    def text(self) -> str:
        return f"request body at most {self.limit:,} bytes (else 413)"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        return [probe("as is")], [probe(f"{self.limit + 1} bytes", **{"b._pad": "x" * (self.limit + 1)})]


@dataclass(frozen=True, kw_only=True)
class Required(Rule):
    params: tuple[str, ...]
    where: Where = "query"
    order: ClassVar[int] = 10

    def check(self, call: Call) -> str | None:
        missing = [p for p in self.params if not present(call, self.where, p)]
        return f"Invalid parameter: {', '.join(missing)} is required" if missing else None

    def text(self) -> str:
        return "required: " + ", ".join(f"`{p}`" for p in self.params)

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        bad = [probe(f"no {p}", **{target_of(self.where, p): None}) for p in self.params]
        return [probe("all given")], bad


@dataclass(frozen=True, kw_only=True)
class Together(Rule):
    """If one is given, the other is required."""

    params: tuple[str, str]
    neither: bool = True  # whether the API takes neither (some other rule may require them)
    order: ClassVar[int] = 11

    def check(self, call: Call) -> str | None:
        a, b = (present(call, "query", p) for p in self.params)
        if a != b:
            return f"Invalid parameter: {self.params[0]} and {self.params[1]} must be given together"
        return None

    def text(self) -> str:
        return f"`{self.params[0]}` and `{self.params[1]}`: both or neither"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        a, b = self.params
        ok = [probe("both")]
        if self.neither:
            ok.append(probe("neither", **{f"q.{a}": None, f"q.{b}": None}))
        return ok, [probe(f"only {a}", **{f"q.{b}": None}), probe(f"only {b}", **{f"q.{a}": None})]


@dataclass(frozen=True, kw_only=True)
class Format(Rule):
    params: tuple[str, ...]
    fmt: TimeFormat
    order: ClassVar[int] = 20

    def check(self, call: Call) -> str | None:
        for p in self.params:
            for value in values(call, "query", p):
                if self.fmt.parse(value) is None:
                    return f"Invalid parameter: {p} must look like {self.fmt.example}"
        return None

    def text(self) -> str:
        return f"{', '.join(f'`{p}`' for p in self.params)} formatted like `{self.fmt.example}`"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        p = self.params[0]
        ts = self.fmt.parse(str(first_value(base, "query", p))) or 1_700_000_000.0
        others = [f for f in FORMATS if f is not self.fmt]
        bad = [probe(f"{p} as {f.name}", **{f"q.{p}": f.render(ts)}) for f in others]
        bad.append(probe(f"{p} with a fraction", **{f"q.{p}": SECOND.render(ts)[:-1] + ".000Z"}))
        return [probe("as documented")], bad


@dataclass(frozen=True, kw_only=True)
class IntRange(Rule):
    param: str
    lo: int | None
    hi: int | None = None
    default: int | None = None
    where: Where = "query"
    order: ClassVar[int] = 30

    def check(self, call: Call) -> str | None:
        for raw in values(call, self.where, self.param):
            number = as_int(raw, self.where)
            if number is None:
                return f"Invalid parameter: {self.param} must be an integer"
            if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi):
                return f"Invalid parameter: {self.param} must be within {self._range()}"
        return None

    def _range(self) -> str:
        lo = "" if self.lo is None else f"{self.lo:,}"
        hi = "" if self.hi is None else f"{self.hi:,}"
        return f"[{lo}, {hi}]" if hi else f"≥ {lo}" if lo else "any"

    def text(self) -> str:
        default = "" if self.default is None else f", default {self.default:,}"
        bounds = self._range()
        return f"`{self.param}` integer" + ("" if bounds == "any" else f" {bounds}") + default

    def _set(self, value: Any) -> dict[str, Any]:
        return {target_of(self.where, self.param): value if self.where == "body" else str(value)}

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        ok, bad = [], [probe("not a number", **self._set("1x" if self.where == "query" else "1"))]
        for edge, outside in ((self.lo, -1), (self.hi, 1)):
            if edge is not None:
                ok.append(probe(f"{edge}", **self._set(edge)))
                bad.append(probe(f"{edge + outside}", **self._set(edge + outside)))
        if not ok:  # unbounded: any integer will do
            ok.append(probe("an integer", **self._set(10)))
        return ok, bad


@dataclass(frozen=True, kw_only=True)
class OneOf(Rule):
    param: str
    allowed: tuple[str, ...]
    where: Where = "query"
    order: ClassVar[int] = 31

    def check(self, call: Call) -> str | None:
        for value in values(call, self.where, self.param):
            if value not in self.allowed:
                return f"Invalid parameter: {self.param} must be one of {', '.join(self.allowed)}"
        return None

    def text(self) -> str:
        return f"`{self.param}` one of " + ", ".join(f"`{v}`" for v in self.allowed)

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        target = target_of(self.where, self.param)
        ok = [probe(v, **{target: v}) for v in (self.allowed[0], self.allowed[-1])]
        wrong = self.allowed[0].swapcase()
        wrong = wrong if wrong not in self.allowed else self.allowed[0] + "_X"
        return ok, [probe(wrong, **{target: wrong})]


@dataclass(frozen=True, kw_only=True)
class Count(Rule):
    """How many items a list parameter holds: repeated query keys (or one value split on
    ``sep``), or a JSON list (every list ``param`` reaches)."""

    param: str
    lo: int
    hi: int
    where: Where = "query"
    sep: str = ""
    item: Any = None  # an item to repeat in probes (None: copy the base request's first)
    order: ClassVar[int] = 32

    def _sizes(self, call: Call) -> list[int]:
        found = values(call, self.where, self.param)
        if self.where == "query" and not self.sep:
            return [len(found)] if found else []
        out = []
        for v in found:
            if isinstance(v, list) and not self.sep:
                out.append(len(v))
            elif isinstance(v, str) and self.sep:
                out.append(len([x for x in v.split(self.sep) if x]))
            else:
                out.append(-1)
        return out

    def check(self, call: Call) -> str | None:
        for n in self._sizes(call):
            if n < 0:
                return f"Invalid parameter: {self.param} must be a list"
            if not self.lo <= n <= self.hi:
                return f"Invalid parameter: {self.param} must hold {self.lo} to {self.hi} items (got {n})"
        return None

    def text(self) -> str:
        how = f", separated by `{self.sep}`" if self.sep else ""
        return f"`{self.param}` holds {self.lo}–{self.hi:,} items{how}"

    def _items(self, base: Call, n: int) -> Any:
        if self.where == "body" and not self.sep:
            first = first_value(base, "body", self.param)
            item = self.item if self.item is not None else (first[0] if first else {})
            return [item] * n
        items = [f"{self.item or self.param}{i}" for i in range(n)]
        return self.sep.join(items) if self.sep else items

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        target = target_of(self.where, self.param).removesuffix(".0") if self.where == "body" else ""
        target = target or target_of(self.where, self.param)
        ok = [probe(f"{self.hi} items", **{target: self._items(base, self.hi)})]
        bad = [probe(f"{self.hi + 1} items", **{target: self._items(base, self.hi + 1)})]
        if self.lo > 0:
            ok.append(probe(f"{self.lo} items", **{target: self._items(base, self.lo)}))
            bad.append(probe(f"{self.lo - 1} items", **{target: self._items(base, self.lo - 1)}))
        return ok, bad


@dataclass(frozen=True, kw_only=True)
class Pattern(Rule):
    params: tuple[str, ...]
    regex: str
    what: str  # the rule in words
    bad_example: str
    where: Where = "query"
    order: ClassVar[int] = 33

    def check(self, call: Call) -> str | None:
        for p in self.params:
            for value in values(call, self.where, p):
                if not isinstance(value, str) or not re.fullmatch(self.regex, value):
                    return f"Invalid parameter: {p} must be {self.what}"
        return None

    def text(self) -> str:
        return f"{', '.join(f'`{p}`' for p in self.params)}: {self.what}"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        target = target_of(self.where, self.params[0])
        return [probe("as documented")], [probe(repr(self.bad_example), **{target: self.bad_example})]
