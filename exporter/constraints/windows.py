"""The kinds of rule about time windows (see :mod:`exporter.constraints.rules`): the span
between two times, times within the last so many days, and two epoch stamps of a body
within fixed bounds. Each names its own edges for the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from exporter.constraints.rules import (
    EPOCH_MS,
    Call,
    Probe,
    Rule,
    TimeFormat,
    Where,
    as_int,
    duration_text,
    first_value,
    parse_time,
    probe,
    render_time,
    target_of,
    values,
)


@dataclass(frozen=True, kw_only=True)
class Span(Rule):
    """``end - start`` within bounds (both given); ``lo_open``/``hi_open`` exclude the bound."""

    start: str
    end: str
    fmt: TimeFormat
    lo: float = 0.0
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    where: Where = "query"
    order: ClassVar[int] = 40

    def _span(self, call: Call) -> float | None:
        a = first_value(call, self.where, self.start)
        b = first_value(call, self.where, self.end)
        ta, tb = parse_time(self.fmt, a), parse_time(self.fmt, b)
        return None if ta is None or tb is None else tb - ta

    def inside(self, span: float) -> bool:
        eps = self.fmt.unit / 10
        lo_ok = span > self.lo + eps if self.lo_open else span >= self.lo - eps
        hi_ok = self.hi is None or (span < self.hi - eps if self.hi_open else span <= self.hi + eps)
        return lo_ok and hi_ok

    def check(self, call: Call) -> str | None:
        span = self._span(call)
        if span is None or self.inside(span):
            return None
        return f"Invalid parameter: {self.end} - {self.start} must be {self._bounds()}"

    def _bounds(self) -> str:
        ms = self.fmt is EPOCH_MS
        lo = f"{'>' if self.lo_open else '≥'} {duration_text(self.lo, ms)}"
        hi = "" if self.hi is None else f" and {'<' if self.hi_open else '≤'} {duration_text(self.hi, ms)}"
        return lo + hi

    def text(self) -> str:
        return f"`{self.end}` − `{self.start}` {self._bounds()}"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        end = parse_time(self.fmt, first_value(base, self.where, self.end))
        if end is None:
            raise ValueError(f"{self.id}: the base request has no valid {self.end}")
        unit = self.fmt.unit
        target = target_of(self.where, self.start)

        def at(span: float) -> Probe:
            label = f"span {duration_text(span, self.fmt is EPOCH_MS)}"
            return probe(label, **{target: render_time(self.fmt, end - span)})

        ok = [at(self.lo + (unit if self.lo_open else 0))]
        bad = [at(self.lo - (0 if self.lo_open else unit))]
        if self.hi is not None:
            ok.append(at(self.hi - (unit if self.hi_open else 0)))
            bad.append(at(self.hi + (0 if self.hi_open else unit)))
        return ok, bad


@dataclass(frozen=True, kw_only=True)
class Recent(Rule):
    """Each time lies within the last ``max_age`` seconds: ``now - max_age < t <= now``."""

    params: tuple[str, ...]
    fmt: TimeFormat
    max_age: float
    order: ClassVar[int] = 41

    def check(self, call: Call) -> str | None:
        for p in self.params:
            for value in values(call, "query", p):
                t = self.fmt.parse(value)
                if t is not None and not call.now - self.max_age < t <= call.now:
                    return f"Invalid parameter: {p} must be within the last {duration_text(self.max_age)}"
        return None

    def text(self) -> str:
        names = ", ".join(f"`{p}`" for p in self.params)
        age = duration_text(self.max_age)
        return f"{names} within the last {age}: now − {age} < t ≤ now"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        first, last = self.params[0], self.params[-1]
        now, unit = base.now, self.fmt.unit
        oldest = now - self.max_age + 60  # a minute of slack: requests take time to arrive
        ok = [
            probe(
                f"{first} {duration_text(self.max_age - 60)} ago", **{f"q.{first}": self.fmt.render(oldest)}
            ),
            probe(f"{last} now", **{f"q.{last}": self.fmt.render(now)}),
        ]
        bad = [
            probe(f"{first} just older", **{f"q.{first}": self.fmt.render(now - self.max_age - unit)}),
            probe(f"{last} in the future", **{f"q.{last}": self.fmt.render(now + unit)}),
        ]
        return ok, bad


@dataclass(frozen=True, kw_only=True)
class Stamps(Rule):
    """Two integer timestamps of a body (``from``, ``to``) each within ``[lo, hi]``. The
    probes move both together, so the window between them stays valid for other rows."""

    params: tuple[str, str]
    lo: int
    hi: int
    order: ClassVar[int] = 30

    def check(self, call: Call) -> str | None:
        for p in self.params:
            for raw in values(call, "body", p):
                number = as_int(raw, "body")
                if number is None:
                    return f"Invalid parameter: {p} must be an integer"
                if not self.lo <= number <= self.hi:
                    return f"Invalid parameter: {p} must be within [{self.lo}, {self.hi}]"
        return None

    def text(self) -> str:
        names = ", ".join(f"`{p}`" for p in self.params)
        return f"{names} integers within [{self.lo:,}, {self.hi:,}]"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        start, end = (first_value(base, "body", p) for p in self.params)
        if not isinstance(start, int) or not isinstance(end, int):
            raise ValueError(f"{self.id}: the base request has no {self.params}")
        span = end - start
        a, b = (f"b.{p}" for p in self.params)

        def window(label: str, first: Any, last: Any) -> Probe:
            return probe(label, **{a: first, b: last})

        ok = [window("earliest", self.lo, self.lo + span), window("latest", self.hi - span, self.hi)]
        bad = [
            window("too early", self.lo - 1, self.lo - 1 + span),
            window("too late", self.hi + 1 - span, self.hi + 1),
            window("not a number", str(start), end),
        ]
        return ok, bad
