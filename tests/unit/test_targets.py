"""Several projects in one process, and hash shards of one project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import Metric

from exporter.cli.main import main
from exporter.config.settings import ShardConfig, parse_config
from exporter.config.targets import parse_targets, select_target
from exporter.errors import ConfigError
from exporter.exposition.lines import merge
from exporter.sources.inventory import InventorySource, shard_of
from tests.conftest import FakeApi
from tests.unit.memory_lister import MemoryLister, Sink

ENV = {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK", "OTHER_AK": "AK2", "OTHER_SK": "SK2"}


def test_without_targets_the_top_level_is_the_only_target() -> None:
    targets = parse_targets({"region": "ap-southeast-1", "project_id": "p1"}, ENV)
    assert [(t.config.region, t.config.project_id) for t in targets] == [("ap-southeast-1", "p1")]


def test_targets_inherit_shared_keys_and_override_their_own() -> None:
    raw = {
        "region": "ap-southeast-1",
        "monitoring": {"interval": "10m"},
        "auth": {"ak_env": "HUAWEICLOUD_SDK_AK"},
        "targets": [
            {"project_id": "p1"},
            {
                "region": "cn-north-4",
                "project_id": "p2",
                "auth": {"ak_env": "OTHER_AK", "sk_env": "OTHER_SK"},
            },
        ],
    }
    t1, t2 = parse_targets(raw, ENV)
    assert (t1.config.region, t1.config.project_id, t1.credentials.ak) == ("ap-southeast-1", "p1", "AK")
    assert (t2.config.region, t2.config.project_id, t2.credentials.ak) == ("cn-north-4", "p2", "AK2")
    assert t2.credentials.sk.reveal() == "SK2"
    assert t2.config.endpoints.workspace == "https://workspace.cn-north-4.myhuaweicloud.com"
    assert t1.config.monitoring.interval == t2.config.monitoring.interval == 600


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "targets: must be a non-empty list"),
        ("p1", "targets: must be a non-empty list"),
        (["p1"], "targets[0]: must be a mapping"),
        ([{"project_id": "p1", "budget": {}}], "targets[0].budget: unknown key"),
        (
            [{"project_id": "p1"}, {"project_id": "p1"}],
            "targets[1]: same region and project_id as targets[0]",
        ),
        ([{"project_id": "p1", "region": "BAD REGION"}], "targets[0].region: must be a region id"),
        (
            [{"project_id": "p1", "auth": {"ak_env": "MISSING"}}],
            "targets[0].auth: no access key: set MISSING",
        ),
    ],
)
def test_bad_targets_name_the_item(targets: Any, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_targets({"region": "ap-southeast-1", "targets": targets}, ENV)
    assert any(p.startswith(message) for p in exc.value.problems), exc.value.problems


def test_shared_problems_are_reported_once_not_per_target() -> None:
    raw = {
        "region": "ap-southeast-1",
        "web": {"listen_address": "x"},
        "targets": [{"project_id": "a"}, {"project_id": "b"}],
    }
    with pytest.raises(ConfigError) as exc:
        parse_targets(raw, ENV)
    assert sum(p.startswith("web.listen_address") for p in exc.value.problems) == 1


def _registry(value: float) -> CollectorRegistry:
    r = CollectorRegistry()
    Gauge("huaweicloud_workspace_x", "X.", ["desktop_id"], registry=r).labels("d1").set(value)
    return r


def test_merged_families_carry_project_and_region_labels() -> None:
    fams = merge(
        [
            (list(_registry(1).collect()), {"project_id": "p1", "region": "r1"}),
            (list(_registry(2).collect()), {"project_id": "p2", "region": "r2"}),
        ]
    )
    assert len(fams) == 1  # one family, samples from both
    assert isinstance(fams[0], Metric)
    labels = sorted((s.labels["project_id"], s.value) for s in fams[0].samples)
    assert labels == [("p1", 1.0), ("p2", 2.0)]


def test_a_single_target_gets_no_extra_labels() -> None:
    fams = merge([(list(_registry(1).collect()), {})])
    assert isinstance(fams[0], Metric)
    assert fams[0].samples[0].labels == {"desktop_id": "d1"}


def test_target_labels_always_is_accepted() -> None:
    s = parse_config({"region": "ap-southeast-1", "target_labels": "always"}, ENV)
    assert s.config.target_labels == "always"


def test_shards_are_stable_and_complete() -> None:
    ids = [f"desk-{i:05d}-{i * 7919 % 10007}" for i in range(10_000)]
    for count in (1, 2, 3, 8):
        owners = [shard_of(d, count) for d in ids]
        assert owners == [shard_of(d, count) for d in ids]  # stable
        assert set(owners) == set(range(count))  # every shard used
        per = [owners.count(i) for i in range(count)]
        assert max(per) - min(per) < 0.1 * len(ids) / count + 50  # roughly even


def _lister(n: int) -> MemoryLister:
    ids = [f"d{i}" for i in range(n)]
    return MemoryLister([{"desktop_id": d} for d in ids], {d: "" for d in ids})


def test_every_desktop_lands_in_exactly_one_shard() -> None:
    from exporter.clock import FakeClock
    from exporter.config.settings import InventoryConfig

    seen: dict[str, int] = {}
    for index in range(4):
        src = InventorySource(_lister(1000), InventoryConfig(), FakeClock(), Sink(), ShardConfig(index, 4))
        src.refresh()
        assert src.snapshot is not None
        for d in src.snapshot.desktops:
            assert d.desktop_id not in seen
            seen[d.desktop_id] = index
    assert len(seen) == 1000


def test_shard_index_comes_from_the_environment_for_one_deployment_per_shard() -> None:
    s = parse_config(
        {"region": "ap-southeast-1", "shard": {"count": 4}}, {**ENV, "WORKSPACE_EXPORTER_SHARD_INDEX": "3"}
    )
    assert (s.config.shard.index, s.config.shard.count) == (3, 4)
    with pytest.raises(ConfigError) as exc:
        parse_config({"region": "ap-southeast-1", "shard": {"count": 2, "index": 2}}, ENV)
    assert exc.value.problems[0].startswith("shard.index: must be below shard.count (2)")


TWO_TARGETS: dict[str, Any] = {
    "region": "ap-southeast-1",
    "targets": [
        {"project_id": "p1", "auth": {"method": "aksk"}},
        {"region": "cn-north-4", "project_id": "p2", "auth": {"ak_env": "OTHER_AK", "sk_env": "OTHER_SK"}},
    ],
}


def test_target_index_from_the_environment_selects_one_target_and_keeps_its_labels() -> None:
    (only,) = parse_targets(TWO_TARGETS, {**ENV, "WORKSPACE_EXPORTER_TARGET_INDEX": "1"})
    assert (only.config.region, only.config.project_id, only.credentials.ak) == ("cn-north-4", "p2", "AK2")
    # Other pods export the other targets into the same Prometheus: label the series.
    assert only.config.target_labels == "always"


def test_a_selected_target_needs_only_its_own_credentials() -> None:
    env = {"OTHER_AK": "AK2", "OTHER_SK": "SK2", "WORKSPACE_EXPORTER_TARGET_INDEX": "1"}
    (only,) = parse_targets(TWO_TARGETS, env)
    assert only.config.project_id == "p2"
    with pytest.raises(ConfigError):  # without the selection, targets[0]'s missing AK/SK is an error
        parse_targets(TWO_TARGETS, {"OTHER_AK": "AK2", "OTHER_SK": "SK2"})


@pytest.mark.parametrize("value", ["2", "-1", "one"])
def test_a_bad_target_index_names_the_variable_and_the_range(value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_targets(TWO_TARGETS, {**ENV, "WORKSPACE_EXPORTER_TARGET_INDEX": value})
    assert exc.value.problems == [
        f"WORKSPACE_EXPORTER_TARGET_INDEX: must be an index into targets, below 2, got '{value}'"
    ]
    single = {"region": "ap-southeast-1", "project_id": "p1"}
    assert len(parse_targets(single, {**ENV, "WORKSPACE_EXPORTER_TARGET_INDEX": "0"})) == 1
    with pytest.raises(ConfigError):
        parse_targets(single, {**ENV, "WORKSPACE_EXPORTER_TARGET_INDEX": "1"})


# -- one loader for every command: export-connections takes the config `run` takes ---------------

PAIR = {
    "region": "ap-southeast-1",
    "targets": [{"project_id": "p1"}, {"project_id": "p2", "region": "eu-west-101"}],
}


def test_select_target_takes_the_only_one_or_the_named_one() -> None:
    one = parse_targets({"region": "ap-southeast-1", "project_id": "p1"}, ENV)
    assert select_target(one, None) is one[0]
    two = parse_targets(PAIR, ENV)
    assert select_target(two, "p2/eu-west-101") is two[1]
    assert select_target(two, " ap-southeast-1 ") is two[0]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            None,
            "--target: the config watches 2 targets; choose one with --target PROJECT_ID/REGION "
            "(one of: p1/ap-southeast-1, p2/eu-west-101)",
        ),
        ("p3/ap-southeast-1", "--target: 'p3/ap-southeast-1' matches no target; use PROJECT_ID/REGION"),
        ("p1/eu-west-101", "--target: 'p1/eu-west-101' matches no target"),
    ],
)
def test_select_target_without_a_clear_choice_names_the_flag(selector: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        select_target(parse_targets(PAIR, ENV), selector)
    (problem,) = exc.value.problems
    assert problem.startswith(message), problem


def test_a_region_shared_by_two_targets_needs_the_project_too() -> None:
    raw = {"region": "ap-southeast-1", "targets": [{"project_id": "p1"}, {"project_id": "p2"}]}
    with pytest.raises(ConfigError) as exc:
        select_target(parse_targets(raw, ENV), "ap-southeast-1")
    assert "matches several targets" in exc.value.problems[0]


def _targets_config(fake_api: FakeApi, tmp_path: Path) -> Path:
    raw = fake_api.config()
    raw["targets"] = [
        {"project_id": "other-project", "region": "eu-west-101"},
        {"project_id": fake_api.state.project_id},
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return path


def test_export_connections_accepts_a_targets_config_check_config_accepts(
    fake_api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    config = _targets_config(fake_api, tmp_path)
    assert main(["check-config", "--config.file", str(config)]) == 0
    out = tmp_path / "export.xlsx"
    chosen = f"{fake_api.state.project_id}/{fake_api.state.region}"
    argv = ["export-connections", "--config.file", str(config), "--output", str(out)]
    assert main([*argv, "--target", chosen]) == 0
    assert out.stat().st_size > 0
    assert f"wrote {out.stat().st_size} bytes to {out}" in capsys.readouterr().out


def test_export_connections_with_several_targets_and_no_choice_exits_2(
    fake_api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    config = _targets_config(fake_api, tmp_path)
    out = tmp_path / "export.xlsx"
    assert main(["export-connections", "--config.file", str(config), "--output", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("workspace-exporter export-connections: invalid configuration: --target: ")
    assert not out.exists()
    assert fake_api.state.calls() == 0
