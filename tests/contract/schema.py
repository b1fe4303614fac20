"""Strict checks of JSON against the official SDK models (``openapi_types`` / ``attribute_map``).

The SDK's own deserialiser is lenient: it drops keys its model lacks and coerces types
(an int ``version`` becomes ``"4"``). These helpers are not: every key must be one the
model names, every value the type the model says, recursively. ``null`` is accepted for
any field (the SDK keeps it as ``None`` and the API reference shows nulls, e.g. the end
time of a failed connection).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(([^,]+), (.+)\)$")


def _model_package(model: type) -> str:
    return model.__module__.rsplit(".", 1)[0]


def model_class(package: str, name: str) -> type | None:
    """The SDK model class ``name`` of the package ``package`` (``...v2.model``), or None."""
    module = importlib.import_module(package)
    found = getattr(module, name, None)
    return found if isinstance(found, type) else None


def wire_names(model: type) -> dict[str, str]:
    """JSON key -> attribute name of an SDK model."""
    return {wire: attr for attr, wire in model.attribute_map.items()}  # type: ignore[attr-defined]


def violations(data: Any, type_name: str, package: str, where: str = "$") -> list[str]:
    """Every way ``data`` departs from the SDK type ``type_name`` (empty list: it conforms)."""
    if data is None:
        return []
    if type_name == "object":
        return []
    if type_name == "str":
        return [] if isinstance(data, str) else [f"{where}: {type(data).__name__} {data!r}, model says str"]
    if type_name == "bool":
        return [] if isinstance(data, bool) else [f"{where}: {type(data).__name__} {data!r}, model says bool"]
    if type_name == "int":
        ok = isinstance(data, int) and not isinstance(data, bool)
        return [] if ok else [f"{where}: {type(data).__name__} {data!r}, model says int"]
    if type_name == "float":
        ok = isinstance(data, int | float) and not isinstance(data, bool)
        return [] if ok else [f"{where}: {type(data).__name__} {data!r}, model says float"]
    if m := _LIST.match(type_name):
        if not isinstance(data, list):
            return [f"{where}: {type(data).__name__}, model says {type_name}"]
        out: list[str] = []
        for i, item in enumerate(data):
            out += violations(item, m.group(1), package, f"{where}[{i}]")
        return out
    if m := _DICT.match(type_name):
        if not isinstance(data, dict):
            return [f"{where}: {type(data).__name__}, model says {type_name}"]
        out = []
        for key, item in data.items():
            out += violations(key, m.group(1), package, f"{where}.<key>")
            out += violations(item, m.group(2), package, f"{where}[{key!r}]")
        return out
    model = model_class(package, type_name)
    if model is None:
        return [f"{where}: the SDK has no type {type_name!r}"]
    return model_violations(data, model, where)


def model_violations(data: Any, model: type, where: str = "$") -> list[str]:
    """Every way the JSON value ``data`` departs from the SDK model class ``model``."""
    types: dict[str, str] = model.openapi_types  # type: ignore[attr-defined]
    if not types:  # enum-like wrappers (e.g. CES ``BatchPeriod``) and raw-body responses
        return []
    if data is None:
        return []
    if not isinstance(data, dict):
        return [f"{where}: {type(data).__name__}, model {model.__name__} is an object"]
    # Response headers (``X-Subject-Token``) are attributes too, but never body keys.
    names = {k: v for k, v in wire_names(model).items() if not k.lower().startswith("x-")}
    package = _model_package(model)
    out: list[str] = []
    for key, value in data.items():
        attr = names.get(key)
        if attr is None:
            out.append(f"{where}.{key}: {model.__name__} has no such key")
            continue
        out += violations(value, types[attr], package, f"{where}.{key}")
    return out
