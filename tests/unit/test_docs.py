"""README stays in step with the code: every metric family and every config key is documented."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

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


def _documented(doc: object, key: str) -> bool:
    """True when the whole dotted ``key`` path exists in the loaded YAML ``doc``."""
    node = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize("key", _keys(Config))
def test_example_config_documents_every_key(key: str) -> None:
    assert _documented(yaml.safe_load(EXAMPLE), key), f"config.yaml does not document {key}"


def test_a_key_under_another_section_does_not_count() -> None:
    """The whole path is matched: ``inventory.interval`` does not document ``monitoring.interval``."""
    doc = yaml.safe_load("inventory:\n  interval: 5m\nmonitoring:\n  enabled: true\n")
    assert _documented(doc, "inventory.interval")
    assert not _documented(doc, "monitoring.interval")
    assert not _documented(doc, "inventory.interval.seconds")


def test_unknown_top_level_key_names_every_valid_top_level_key() -> None:
    """The hint lists each Config field and ``targets``, which the targets loader reads."""
    from exporter.config.settings import TOP_LEVEL_ONLY_KEYS
    from exporter.config.targets import parse_targets
    from exporter.errors import ConfigError

    env = {"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk", "HUAWEICLOUD_SDK_PROJECT_ID": "p"}
    with pytest.raises(ConfigError) as err:
        parse_targets({"region": "ap-southeast-1", "regoin": "x"}, env)
    (line,) = [p for p in err.value.problems if p.startswith("regoin:")]
    listed = line.split("known keys here: ", 1)[1].rstrip(")").split(", ")
    assert listed == sorted([f.name for f in dataclasses.fields(Config)] + list(TOP_LEVEL_ONLY_KEYS))
    assert "targets" in listed
