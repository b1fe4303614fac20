"""The kinds of rule one row of the constraint table can be, and the request view they check.

A rule checks a :class:`Call` (query values, parsed JSON body, body size, the server's
clock) and answers ``None`` or one sentence saying what is wrong. Each kind also names the
values just inside and just outside its bounds (:meth:`Rule.probes`), which the tests send
to the fake, and says in one line what it enforces (:meth:`Rule.text`), which the rendered
document shows. Parameters are named by path: ``limit`` is a query parameter; in a body,
``metrics[].dimensions[].name`` reaches every dimension name of every metric.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

Where = Literal["query", "body"]


@dataclass(frozen=True)
class Call:
    """One request as the rules see it."""

    query: Mapping[str, Sequence[str]] = field(default_factory=dict)  # every value of each key
    body: Any = None  # the parsed JSON body; None when there is none
    body_bytes: int = 0
    now: float = 0.0  # the server's clock, epoch seconds


@dataclass(frozen=True)
class Cite:
    """What one source says about a constraint (``source`` is a key of :data:`SOURCES`)."""

    source: str
    where: str
    says: str


SOURCES: dict[str, str] = {
    "seed": "a seed page the exporter was specified from (../shared/workspace-api.md names them)",
    "sdk": "the official Python SDK 3.1.219: a request model's docstring or type",
    "ref-zh": "the API reference, Chinese edition (support.huaweicloud.com/api-…)",
    "ref-en": "the API reference, international English edition (support.huaweicloud.com/intl/en-us/api-…)",
    "shared": "../shared/workspace-api.md, the collected upstream facts",
    "osc": "Huawei/OpenStackClient_Workspace, the old v1.0 CLI plug-in",
    "none": "no source documents it",
}


@dataclass(frozen=True)
class TimeFormat:
    name: str
    pattern: str  # regular expression of the whole value
    strptime: str
    example: str
    unit: float  # seconds between two values the format can tell apart

    def parse(self, value: str) -> float | None:
        if not re.fullmatch(self.pattern, value):
            return None
        try:
            return datetime.strptime(value, self.strptime).replace(tzinfo=UTC).timestamp()
        except ValueError:
            return None

    def render(self, ts: float) -> str:
        return datetime.fromtimestamp(math.floor(ts), tz=UTC).strftime(self.strptime)


MINUTE = TimeFormat("minute", r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", "%Y-%m-%dT%H:%MZ", "2016-08-20T21:11Z", 60.0)
SECOND = TimeFormat(
    "second", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "%Y-%m-%dT%H:%M:%SZ", "2021-05-11T11:45:42Z", 1.0
)
SPACED = TimeFormat(
    "spaced", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "%Y-%m-%d %H:%M:%S", "2024-10-15 11:04:41", 1.0
)
EPOCH_MS = TimeFormat("epoch_ms", r"\d{13}", "", "1700000000000", 0.001)  # a JSON integer in a body
FORMATS = (MINUTE, SECOND, SPACED)


def parse_time(fmt: TimeFormat, value: object) -> float | None:
    if fmt is EPOCH_MS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return value / 1000.0 if ok else None  # type: ignore[operator]
    return fmt.parse(value) if isinstance(value, str) else None


def render_time(fmt: TimeFormat, ts: float) -> object:
    return round(ts * 1000) if fmt is EPOCH_MS else fmt.render(ts)


# ------------------------------------------------------------------------------ paths


def values(call: Call, where: Where, path: str) -> list[Any]:
    """Every value ``path`` reaches: the non-empty query values, or the body values."""
    if where == "query":
        return [v for v in call.query.get(path, ()) if v != ""]
    current: list[Any] = [call.body]
    for part in path.split("."):
        many, key = part.endswith("[]"), part.removesuffix("[]")
        reached: list[Any] = []
        for node in current:
            child = node.get(key) if isinstance(node, dict) else None
            if child is None:
                continue
            if not many:
                reached.append(child)
            elif isinstance(child, list):
                reached.extend(child)
        current = reached
    return current


def present(call: Call, where: Where, path: str) -> bool:
    return bool(values(call, where, path))


def as_int(value: object, where: Where) -> int | None:
    if where == "query":
        return int(value) if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ------------------------------------------------------------------------------ probes


@dataclass(frozen=True)
class Probe:
    """A change to a valid request: ``sets`` maps ``q.<name>`` (a query parameter; None
    removes it, a list repeats it) or ``b.<dotted.path>`` (a body value; list indexes as
    numbers) to the new value."""

    label: str
    sets: tuple[tuple[str, Any], ...]


def probe(label: str, **sets: Any) -> Probe:
    return Probe(label, tuple(sets.items()))


def apply(query: Mapping[str, list[str]], body: Any, change: Probe) -> tuple[dict[str, list[str]], Any]:
    """The request ``change`` makes of ``query`` and ``body`` (both copied, never mutated)."""
    import copy

    out_query = {k: list(v) for k, v in query.items()}
    out_body = copy.deepcopy(body)
    for target, value in change.sets:
        kind, _, path = target.partition(".")
        if kind == "q":
            if value is None:
                out_query.pop(path, None)
            else:
                out_query[path] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        else:
            *parents, last = path.split(".")
            node = out_body
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            if isinstance(node, list):
                node[int(last)] = value
            elif value is None:
                node.pop(last, None)
            else:
                node[last] = value
    return out_query, out_body


def target_of(where: Where, path: str) -> str:
    return ("q." if where == "query" else "b.") + path.replace("[]", ".0")


def first_value(call: Call, where: Where, path: str) -> Any:
    found = values(call, where, path)
    return found[0] if found else None


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One documented constraint of one API (``api`` is a name of :mod:`exporter.apis`)."""

    api: str
    name: str
    cites: tuple[Cite, ...]
    choice: str = ""  # which source the rule follows and why, where they disagree or are silent
    adjusts: bool = False  # the API answers, but (documented) silently changes the request
    status: int = 400
    code: str = ""  # the error code of a rejection ("" for IAM, whose errors carry none)
    order: ClassVar[int] = 50  # rules run in this order: the first that fails names the rejection

    @property
    def id(self) -> str:
        return f"{self.api}.{self.name}"

    def check(self, call: Call) -> str | None:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        """Changes to the valid request ``base`` that this rule accepts (the edges), and
        changes just outside them that it rejects."""
        raise NotImplementedError


def duration_text(seconds: float, ms: bool = False) -> str:
    """``3600`` → ``1 h``; with ``ms`` the value is shown in milliseconds (``300,000 ms``)."""
    if ms:
        return f"{round(seconds * 1000):,} ms"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
