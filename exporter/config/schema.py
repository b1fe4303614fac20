"""Dataclass-driven validation of YAML config sections.

A config section is a frozen dataclass; each field's type and ``metadata`` (from
:func:`meta`) say what is accepted. :func:`build` walks a parsed YAML mapping,
converts every value, and appends one problem line per bad key, with its dotted
path, instead of stopping at the first.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from exporter.config.yamlfile import excerpt, key_name

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
# Bound of a mapping's numbers when the field names none: finite, and far below float overflow.
_LARGEST = 1e15
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def meta(
    doc: str = "",
    *,
    duration: bool = False,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, Any]:
    return {"doc": doc, "duration": duration, "choices": choices, "min": minimum, "max": maximum}


def parse_duration(value: object) -> float:
    """``300``, ``"300"``, ``"5m"``, ``"1h"``, ``"1.5s"`` → seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    seconds = math.nan
    try:
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and len(value) <= 64:
            m = _DURATION_RE.match(value)
            if m:
                seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    except OverflowError:
        pass
    if not math.isfinite(seconds):
        raise ValueError("not a duration")
    return seconds


def _number(value: float) -> str:
    """A number for an error message: never raises, never prints hundreds of digits."""
    if isinstance(value, int) and abs(value) >= 10**15:
        return excerpt(value)
    return f"{value:g}"


def convert(path: str, tp: Any, meta: Mapping[str, Any], raw: object, problems: list[str]) -> Any:
    """Convert one raw YAML value to the field type, appending problems; returns None on error."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            problems.append(f"{path}: must be a mapping of keys (got {type(raw).__name__})")
            return None
        return build(tp, raw, path, problems)
    origin = typing.get_origin(tp)
    if meta.get("duration"):
        try:
            value: Any = parse_duration(raw)
        except ValueError:
            finite = "" if not isinstance(raw, float) or math.isfinite(raw) else "finite "
            problems.append(f"{path}: must be a {finite}duration such as 30s, 5m or 1h (got {excerpt(raw)})")
            return None
    elif origin is list:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            problems.append(f"{path}: must be a list of strings (got {excerpt(raw)})")
            return None
        value = list(raw)
    elif origin is dict:
        if raw is None:
            return {}
        _, vtype = typing.get_args(tp)
        if not isinstance(raw, dict):
            problems.append(f"{path}: must be a mapping (got {type(raw).__name__})")
            return None
        value = {}
        hi = meta.get("max")
        for k, v in raw.items():
            key = key_name(k)
            number = isinstance(v, int | float) and not isinstance(v, bool)
            if not number or not 0 < v <= (_LARGEST if hi is None else hi):
                bound = _number(_LARGEST if hi is None else hi)
                problems.append(f"{path}.{key}: must be a positive number up to {bound} (got {excerpt(v)})")
                continue
            value[str(k)] = vtype(v)
    elif tp is bool:
        if not isinstance(raw, bool):
            problems.append(f"{path}: must be true or false (got {excerpt(raw)})")
            return None
        value = raw
    elif tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.append(f"{path}: must be an integer (got {excerpt(raw)})")
            return None
        value = raw
    elif tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.append(f"{path}: must be a number (got {excerpt(raw)})")
            return None
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            problems.append(f"{path}: must be a finite number (got {excerpt(raw)})")
            return None
    elif tp is str:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            problems.append(f"{path}: must be a string (got {excerpt(raw)})")
            return None
        value = raw
    else:  # pragma: no cover - a programming error in the dataclasses
        raise TypeError(f"unsupported config type {tp!r} at {path}")
    choices = meta.get("choices") or ()
    if choices and value not in choices:
        problems.append(f"{path}: must be one of {', '.join(choices)} (got {excerpt(value)})")
        return None
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(value, int | float) and not isinstance(value, bool):
        unit = "s" if meta.get("duration") else ""
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{path}: must be a finite number (got {excerpt(value)})")
            return None
        if lo is not None and value < lo:
            problems.append(f"{path}: must be at least {lo:g}{unit} (got {_number(value)}{unit})")
            return None
        if hi is not None and value > hi:
            problems.append(f"{path}: must be at most {hi:g}{unit} (got {_number(value)}{unit})")
            return None
    return value


def build(
    cls: type, raw: Mapping[str, Any], prefix: str, problems: list[str], also_known: tuple[str, ...] = ()
) -> Any:
    """``cls`` built from ``raw``; ``also_known``: keys a caller handles itself, named in the hint."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            name = key_name(key)
            where = f"{prefix}.{name}" if prefix else name
            known = ", ".join(sorted(names | set(also_known)))
            problems.append(f"{where}: unknown key (known keys here: {known})")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        path = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if isinstance(tp, types.UnionType):  # pragma: no cover - not used today
            tp = typing.get_args(tp)[0]
        value = convert(path, tp, f.metadata, raw[f.name], problems)
        if value is not None:
            kwargs[f.name] = value
    return cls(**kwargs)
