"""Exposition content: families built from snapshots, checked with get_sample_value and a golden file.

The desktop families are built here by the book (``tests/oracle.py``, prometheus_client's
objects and encoder); the renderer writes the same bytes (``test_lines.py`` on random fleets,
and the golden file below)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.clock import FakeClock
from exporter.config.settings import InventoryConfig, parse_config, tag_label_name
from exporter.errors import AuthError, ConfigError
from exporter.exposition import catalogue as m
from exporter.exposition.encode import TEXT
from exporter.exposition.lines import render_pieces
from exporter.sources.inventory import Desktop, InventorySnapshot, InventorySource, parse_desktop
from exporter.sources.monitoring import DesktopMetrics, MonitoringSnapshot
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from tests.conftest import FakeApi
from tests.oracle import DesktopLines, Families, desktop_families
from tests.unit.memory_lister import MemoryLister, Sink

GOLDEN = Path(__file__).parent.parent / "fixtures" / "exposition" / "desktops.prom"
T0 = 1_763_900_000.0

D1 = Desktop(
    "d1",
    "ws-0001",
    "alice",
    "ACTIVE",
    "CONNECTED",
    "az1",
    "Windows",
    "p1",
    "DEDICATED",
    "",
    (("env", "prod"), ("cost-center", "42")),
)
D2 = Desktop("d2", "ws-0002", "bob", "SHUTOFF", "UNREGISTER", "az1", "Linux", "p1", "DEDICATED", "")


View = tuple[InventorySnapshot | None, MonitoringSnapshot | None, InventoryConfig]


def _registry(view: View) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(Families(lambda: desktop_families(*view)))
    return reg


def _view(inv_cfg: InventoryConfig | None = None, with_d2_metrics: bool = False) -> View:
    inv = InventorySnapshot.of([D1, D2], T0)
    entries = {
        "d1": DesktopMetrics(
            "d1", (("cpu_usage_ratio", 0.25), ("memory_usage_ratio", 0.5)), T0, "logged_in", T0 - 600
        ),
        "gone": DesktopMetrics("gone", (("cpu_usage_ratio", 0.9),), T0, None),
    }
    if with_d2_metrics:
        entries["d2"] = DesktopMetrics(
            "d2", (("cpu_usage_ratio", 0.1),), T0 - 300, "not_logged_in", T0 - 900, T0 - 60
        )
    return inv, MonitoringSnapshot(MappingProxyType(entries), T0), inv_cfg or InventoryConfig()


def test_info_series_carries_inventory_labels() -> None:
    reg = _registry(_view())
    labels = {
        "desktop_id": "d1",
        "computer_name": "ws-0001",
        "user_name": "alice",
        "status": "ACTIVE",
        "login_status": "CONNECTED",
        "availability_zone": "az1",
        "os_type": "Windows",
        "product_id": "p1",
        "desktop_type": "DEDICATED",
        "pool_id": "",
    }
    assert reg.get_sample_value("huaweicloud_workspace_desktop_info", labels) == 1.0


def test_monitoring_values_are_exposed_per_desktop() -> None:
    reg = _registry(_view())
    assert reg.get_sample_value("huaweicloud_workspace_desktop_cpu_usage_ratio", {"desktop_id": "d1"}) == 0.25
    assert (
        reg.get_sample_value("huaweicloud_workspace_desktop_memory_usage_ratio", {"desktop_id": "d1"}) == 0.5
    )
    assert (
        reg.get_sample_value(
            "huaweicloud_workspace_desktop_monitoring_timestamp_seconds", {"desktop_id": "d1"}
        )
        == T0
    )
    st = "huaweicloud_workspace_desktop_online_status"
    assert reg.get_sample_value(st, {"desktop_id": "d1", "state": "logged_in"}) == 1.0
    assert reg.get_sample_value(st, {"desktop_id": "d1", "state": "not_logged_in"}) == 0.0
    assert reg.get_sample_value(st, {"desktop_id": "d1", "state": "logging_in"}) == 0.0
    assert (
        reg.get_sample_value(
            "huaweicloud_workspace_desktop_session_start_timestamp_seconds", {"desktop_id": "d1"}
        )
        == T0 - 600
    )


def test_missing_metric_is_absent_not_zero() -> None:
    reg = _registry(_view())
    assert (
        reg.get_sample_value("huaweicloud_workspace_desktop_disk_usage_ratio", {"desktop_id": "d1"}) is None
    )
    assert reg.get_sample_value("huaweicloud_workspace_desktop_cpu_usage_ratio", {"desktop_id": "d2"}) is None
    assert (
        reg.get_sample_value(
            "huaweicloud_workspace_desktop_session_end_timestamp_seconds", {"desktop_id": "d1"}
        )
        is None
    )


def test_desktops_missing_from_the_inventory_are_not_exposed() -> None:
    reg = _registry(_view())
    assert (
        reg.get_sample_value("huaweicloud_workspace_desktop_cpu_usage_ratio", {"desktop_id": "gone"}) is None
    )


def test_tag_keys_become_labels_only_when_configured() -> None:
    reg = _registry(_view(InventoryConfig(tag_labels=["env", "cost-center", "absent"])))
    text = generate_latest(reg).decode()
    assert 'tag_env="prod"' in text
    assert 'tag_cost_center="42"' in text
    assert 'tag_absent=""' in text
    assert "tag_" not in generate_latest(_registry(_view())).decode()
    assert tag_label_name("a.b-c") == "tag_a_b_c"


def test_user_name_label_can_be_turned_off() -> None:
    text = generate_latest(_registry(_view(InventoryConfig(user_name_label=False)))).decode()
    assert "alice" not in text
    assert "user_name" not in text


def test_no_inventory_yet_means_no_desktop_series() -> None:
    assert generate_latest(_registry((None, None, InventoryConfig()))) == b""


def test_exposition_matches_the_golden_file() -> None:
    text = generate_latest(_registry(_view(with_d2_metrics=True))).decode()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_the_renderer_writes_the_golden_file() -> None:
    inv, mon, cfg = _view(with_d2_metrics=True)
    view = SimpleNamespace(inventory=inv, monitoring=mon, inventory_config=cfg)
    text = b"".join(render_pieces(DesktopLines(lambda: view).blocks({}), TEXT)).decode()
    assert text == GOLDEN.read_text()


def test_every_exposed_family_is_in_the_catalogue() -> None:
    text = generate_latest(_registry(_view(with_d2_metrics=True))).decode()
    names = {f.full_name for f in m.ALL} | {f.exposed_name for f in m.ALL}
    for fam in text_string_to_metric_families(text):
        assert fam.name in names


def test_parse_desktop_skips_records_without_an_id() -> None:
    assert parse_desktop({"computer_name": "x"}) is None
    assert parse_desktop({"desktop_id": "  "}) is None
    d = parse_desktop(
        {"desktop_id": "d", "metadata": "junk", "product": None, "tags": [{"key": "k", "value": 1}, "x"]}
    )
    assert d is not None and d.tags == (("k", "1"),)


@pytest.mark.parametrize("family", m.ALL, ids=lambda f: f.name)
def test_catalogue_names_follow_prometheus_conventions(family: m.Family) -> None:
    name = family.full_name
    assert name.startswith("huaweicloud_workspace_")
    assert not name.endswith("_total")
    assert "percent" not in name
    if family.kind == "counter":
        assert family.exposed_name.endswith("_total")
    assert family.help.endswith(".") or family.help.endswith(")")


def _lister(ids: list[str]) -> MemoryLister:
    rows = [{"desktop_id": d, "computer_name": f"pc-{d}", "status": "ACTIVE"} for d in ids]
    return MemoryLister(rows, {d: "" for d in ids})


class _NoInvalid:
    def invalid_response(self, api: str) -> None:
        raise AssertionError(api)

    def truncated(self, api: str, key: str) -> None:
        raise AssertionError(api)


def test_an_unchanged_inventory_keeps_its_snapshot_so_cached_bytes_stay_valid() -> None:
    lister = _lister(["d1", "d2"])
    src = InventorySource(lister, InventoryConfig(), FakeClock(), _NoInvalid())
    src.refresh()
    first = src.snapshot
    assert first is not None
    src.refresh()
    assert src.snapshot is first
    lister.detail = _lister(["d1", "d3"]).detail
    src.refresh()
    assert src.snapshot is not None and src.snapshot.version != first.version
    assert [d.desktop_id for d in src.snapshot.desktops] == ["d1", "d3"]


def _inventory(up: MemoryLister) -> tuple[InventorySource, Sink]:
    sink = Sink()
    return InventorySource(up, InventoryConfig(), FakeClock(T0), sink), sink


def _desktops(src: InventorySource) -> dict[str, Desktop]:
    assert src.snapshot is not None
    return dict(src.snapshot.by_id)


def test_pool_id_comes_from_the_light_list_joined_by_desktop_id() -> None:
    up = MemoryLister([{"desktop_id": "d1"}, {"desktop_id": "d2"}], {"d1": "pool-a", "d2": ""})
    src, _ = _inventory(up)
    src.refresh()
    assert {k: d.pool_id for k, d in _desktops(src).items()} == {"d1": "pool-a", "d2": ""}
    assert up.calls == ["desktops_detail", "desktops_list"]
    assert src.apis == ("desktops_detail", "desktops_list", "desktop_detail")


def test_a_failing_light_list_keeps_the_inventory_and_the_last_pool_ids_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    up = MemoryLister([{"desktop_id": "d1"}], {"d1": "pool-a"})
    src, _ = _inventory(up)
    src.refresh()
    up.list_error = AuthError("desktops_list", 403, "WKS.00081102", "no permission")
    up.detail.append({"desktop_id": "d2"})
    for _ in range(3):
        src.refresh()
    assert {k: d.pool_id for k, d in _desktops(src).items()} == {"d1": "pool-a", "d2": ""}
    up.list_error = None
    up.pools["d2"] = "pool-b"
    src.refresh()
    assert _desktops(src)["d2"].pool_id == "pool-b"
    lines = [r.getMessage() for r in caplog.records if "pool ids" in r.getMessage()]
    assert len(lines) == 2 and "unavailable" in lines[0] and "available again" in lines[1]


def test_ids_are_normalised_and_duplicates_after_normalising_are_dropped_and_counted() -> None:
    up = MemoryLister([{"desktop_id": " d-1 ", "computer_name": "a"}, {"desktop_id": "d-1"}], {})
    src, sink = _inventory(up)
    src.refresh()
    assert list(_desktops(src)) == ["d-1"]
    assert _desktops(src)["d-1"].computer_name == "a"  # the first one wins
    assert sink.count == {"desktops_detail": 1}


def test_label_values_from_upstream_are_capped_with_a_marker() -> None:
    d = parse_desktop(
        {"desktop_id": "i" * 500, "computer_name": "n" * 10_000, "tags": [{"key": "k", "value": "v" * 999}]}
    )
    assert d is not None
    assert len(d.desktop_id) == 128 and d.desktop_id.endswith("…")
    assert len(d.computer_name) == 256 and d.computer_name.endswith("…")
    assert len(d.tag("k")) == 256


def test_lone_surrogates_become_the_replacement_character_and_the_exposition_renders() -> None:
    up = MemoryLister([{"desktop_id": "d\ud800", "computer_name": "pc\udfffx", "user_name": "\ud83d"}], {})
    src, _ = _inventory(up)
    src.refresh()
    (d,) = _desktops(src).values()
    assert (d.desktop_id, d.computer_name, d.user_name) == ("d\ufffd", "pc\ufffdx", "\ufffd")
    assert src.snapshot is not None
    text = generate_latest(_registry((src.snapshot, None, InventoryConfig()))).decode("utf-8")
    assert 'computer_name="pc\ufffdx"' in text


def test_pool_ids_reach_desktop_info_through_the_fake_api_and_a_denied_list_keeps_the_inventory(
    fake_api: FakeApi,
) -> None:
    pooled = fake_api.state.add_desktop(desktop_type="POOLED", pool_id="pool-1")
    settings = parse_config(fake_api.config(), fake_api.env())
    clock = FakeClock(time.time())  # requests are signed with this time
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), NullObserver(), clock)
    try:
        src = InventorySource(client, settings.config.inventory, clock, Sink())
        src.refresh()
        assert _desktops(src)[pooled["desktop_id"]].pool_id == "pool-1"
        assert fake_api.state.calls("desktops_list") == 1
        fake_api.state.deny("desktops_list")
        fake_api.state.add_desktop()
        src.refresh()  # the inventory still refreshes; pool ids are the last seen
        assert len(_desktops(src)) == 12
        assert _desktops(src)[pooled["desktop_id"]].pool_id == "pool-1"
    finally:
        client.close()


def test_tag_keys_that_would_become_the_same_label_are_a_config_error_naming_both() -> None:
    env = {"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk"}
    raw = {"region": "ap-southeast-1", "inventory": {"tag_labels": ["env", "a-b", "a_b", "a.b", "env"]}}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env)
    assert exc.value.problems == [
        "inventory.tag_labels[2]: 'a_b' and inventory.tag_labels[1] 'a-b' both become label tag_a_b; "
        "keep only one of them",
        "inventory.tag_labels[3]: 'a.b' and inventory.tag_labels[1] 'a-b' both become label tag_a_b; "
        "keep only one of them",
    ]
    ok = parse_config({"region": "ap-southeast-1", "inventory": {"tag_labels": ["a-b", "env", "env"]}}, env)
    assert [tag_label_name(k) for k in ok.config.inventory.tag_labels] == ["tag_a_b", "tag_env", "tag_env"]
