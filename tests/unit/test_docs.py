"""README stays in step with the code: every metric family and every config key is documented."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from exporter.config.settings import Config
from exporter.exposition import catalogue as m

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLE = (ROOT / "config.yaml").read_text()


@pytest.mark.parametrize("family", m.ALL, ids=lambda f: f.name)
def test_readme_metric_table_lists_every_family(family: m.Family) -> None:
    assert f"| `{family.exposed_name}` |" in README


def _keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _keys(tp, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        else:
            out.append(prefix + f.name)
    return out


@pytest.mark.parametrize("key", _keys(Config))
def test_example_config_documents_every_key(key: str) -> None:
    leaf = key.rsplit(".", 1)[-1]
    assert f"{leaf}:" in EXAMPLE, f"config.yaml does not mention {key}"
