"""Dataclass-driven validation of YAML config sections.

A config section is a frozen dataclass; each field's type and ``metadata`` (from
:func:`meta`) say what is accepted. :func:`build` walks a parsed YAML mapping,
converts every value, and appends one problem line per bad key, with its dotted
path, instead of stopping at the first.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
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
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    raise ValueError("not a duration")


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
            problems.append(f"{path}: must be a duration such as 30s, 5m or 1h (got {raw!r})")
            return None
    elif origin is list:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            problems.append(f"{path}: must be a list of strings (got {raw!r})")
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
        for k, v in raw.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                problems.append(f"{path}.{k}: must be a positive number (got {v!r})")
                continue
            value[str(k)] = vtype(v)
    elif tp is bool:
        if not isinstance(raw, bool):
            problems.append(f"{path}: must be true or false (got {raw!r})")
            return None
        value = raw
    elif tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.append(f"{path}: must be an integer (got {raw!r})")
            return None
        value = raw
    elif tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.append(f"{path}: must be a number (got {raw!r})")
            return None
        value = float(raw)
    elif tp is str:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            problems.append(f"{path}: must be a string (got {raw!r})")
            return None
        value = raw
    else:  # pragma: no cover - a programming error in the dataclasses
        raise TypeError(f"unsupported config type {tp!r} at {path}")
    choices = meta.get("choices") or ()
    if choices and value not in choices:
        problems.append(f"{path}: must be one of {', '.join(choices)} (got {value!r})")
        return None
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(value, int | float) and not isinstance(value, bool):
        unit = "s" if meta.get("duration") else ""
        if lo is not None and value < lo:
            problems.append(f"{path}: must be at least {lo:g}{unit} (got {value:g}{unit})")
            return None
        if hi is not None and value > hi:
            problems.append(f"{path}: must be at most {hi:g}{unit} (got {value:g}{unit})")
            return None
    return value


def build(cls: type, raw: Mapping[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            known = ", ".join(sorted(names))
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
