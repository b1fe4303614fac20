#!/usr/bin/env python3
"""Regenerate ``properties.config`` of the Helm chart's values.schema.json from exporter/config/settings.py.

The exporter's config dataclasses are the single source of truth for the config file: their
fields, types, choices and bounds become a JSON Schema (draft-07) with
``additionalProperties: false`` at every level, so ``helm install`` rejects a misspelt or
mistyped config key before a pod starts. The rest of values.schema.json is written by hand;
tests/chart/test_chart.py fails when this part is stale.

    .venv/bin/python scripts/gen-chart-config-schema.py           # rewrite the schema
    .venv/bin/python scripts/gen-chart-config-schema.py --check   # exit 1 if stale
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "helm" / "workspace-exporter" / "values.schema.json"
sys.path.insert(0, str(ROOT))

from exporter.config import settings as cfg  # noqa: E402
from exporter.config import targets  # noqa: E402

# Same grammar as exporter.config.schema.parse_duration: 30s, 5m, 1h, 1.5d, 500ms or plain seconds.
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"
EXTRA: dict[str, dict[str, Any]] = {
    "region": {
        "pattern": r"^[a-z]{2,}(-[a-z0-9]+)+$",
        "description": "Huawei Cloud region of the Workspace service, e.g. ap-southeast-1 (required).",
    },
    "web.listen_address": {"description": "Ignored: the chart always sets :10187."},
}


def _field_schema(path: str, tp: Any, meta: typing.Mapping[str, Any]) -> dict[str, Any]:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return section_schema(tp, path)
    origin = typing.get_origin(tp)
    out: dict[str, Any]
    if meta.get("duration"):
        out = {"type": ["string", "number"], "pattern": DURATION_PATTERN}
    elif origin is list:
        out = {"type": "array", "items": {"type": "string"}}
    elif origin is dict:
        out = {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}}
    elif tp is bool:
        out = {"type": "boolean"}
    elif tp is int:
        out = {"type": "integer"}
    elif tp is float:
        out = {"type": "number"}
    elif tp is str:
        out = {"type": "string"}
    else:  # pragma: no cover - a new field type needs a mapping here
        raise TypeError(f"{path}: no JSON Schema mapping for {tp!r}")
    if meta.get("choices"):
        out["enum"] = list(meta["choices"])
    # For durations the bounds apply to plain seconds only; the exporter checks "5m" strings.
    if meta.get("min") is not None:
        out["minimum"] = meta["min"]
    if meta.get("max") is not None:
        out["maximum"] = meta["max"]
    if meta.get("doc"):
        out["description"] = meta["doc"]
    out.update(EXTRA.get(path, {}))
    return out


def section_schema(cls: type, prefix: str = "") -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        props[f.name] = _field_schema(path, hints[f.name], f.metadata)
    return {"type": "object", "additionalProperties": False, "properties": props}


def config_schema() -> dict[str, Any]:
    schema = section_schema(cfg.Config)
    target_keys = targets.TARGET_KEYS
    if target_keys:
        # Several projects: each item overrides these keys of the top level
        # (exporter.config.targets.parse_targets).
        props = schema["properties"]
        schema["properties"]["targets"] = {
            "type": "array",
            "minItems": 1,
            "description": "Watched projects; each item overrides "
            + ", ".join(target_keys)
            + " of the top level.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {key: props[key] for key in target_keys},
            },
        }
    schema["description"] = (
        "Exporter configuration (config.yaml), rendered into the ConfigMap. "
        "Generated from exporter/config/settings.py by scripts/gen-chart-config-schema.py."
    )
    return schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the schema is stale")
    args = parser.parse_args()
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    fresh = config_schema()
    if args.check:
        if schema["properties"].get("config") != fresh:
            print(f"{SCHEMA}: properties.config is stale; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    schema["properties"]["config"] = fresh
    SCHEMA.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    print(f"updated {SCHEMA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
