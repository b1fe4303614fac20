"""The fast per-desktop renderer writes exactly what prometheus_client writes for the same data."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.exposition.encode import negotiate
from exporter.exposition.lines import (
    Block,
    merge,
    render_pieces,
)
from exporter.exposition.text import LabelTemplate
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.monitoring import FIELDS, ONLINE_STATES, DesktopMetrics, MonitoringSnapshot
from tests.oracle import DesktopLines, MergedCollector, desktop_families

ACCEPTS = [
    "",
    "text/plain; version=0.0.4",
    "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
]
KEYS = [key for key, _ in FIELDS.values()]
NASTY = ["", "a\\b", 'say "hi"', "two\nlines", "ünïcødé", "桌面", "emoji 🖥", "\\\\n", "tab\tx", "{x=1}"]
VALUES = [0, 1, -1, 0.5, 1e-9, 123456789.0, 1e22, 2**53, math.nan, math.inf, -math.inf, -0.0, 0.1 + 0.2]
# Where Go's and Python's float texts part (1e6) and where repr switches to exponents (1e16).
VALUES += [999999.9999999999, 1e6, -1e6, -1234567.5, 1e15 + 0.5, 1e16, 5e-324, True]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(NASTY)
    return "".join(rng.choice("abcXYZ-_09 .") for _ in range(rng.randint(0, 12)))


def _desktop(rng: random.Random, i: int) -> Desktop:
    tags = tuple((k, _text(rng)) for k in rng.sample(["env", "cost-center", "team"], rng.randint(0, 3)))
    suffix = rng.choice(["", "é", "\\", '"'])
    f = [_text(rng) for _ in range(9)]
    return Desktop(f"d{i:05d}{suffix}", f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], tags)


def _metrics(rng: random.Random, desktop_id: str) -> DesktopMetrics:
    values = tuple(
        (k, rng.choice(VALUES) if rng.random() < 0.5 else rng.random() * 10 ** rng.randint(0, 12))
        for k in rng.sample(KEYS, rng.randint(0, len(KEYS)))
    )
    return DesktopMetrics(
        desktop_id,
        values,
        rng.choice([None, 1_763_900_000.0, 1_763_900_123.456]),
        rng.choice([None, *ONLINE_STATES, "reconnecting"]),  # a state no source publishes: zeros
        rng.choice([None, 1_763_899_000.0]),
        rng.choice([None, 1_763_899_500.25]),
    )


def _fleet(seed: int, n: int) -> tuple[InventorySnapshot, dict[str, DesktopMetrics]]:
    rng = random.Random(seed)
    desktops = [_desktop(rng, i) for i in range(n)]
    inv = InventorySnapshot.of(desktops, 1_763_900_000.0)
    entries = {d.desktop_id: _metrics(rng, d.desktop_id) for d in desktops if rng.random() < 0.8}
    entries["not-in-inventory"] = _metrics(rng, "not-in-inventory")
    return inv, entries


def _extra() -> list[Metric]:
    c = CounterMetricFamily(
        "huaweicloud_workspace_x_events", 'Help with "quotes" and \\ and\nnewline.', labels=["k"]
    )
    c.add_metric(["a\nb"], 3)
    h = HistogramMetricFamily("huaweicloud_workspace_x_seconds", "A histogram.", labels=[])
    h.add_metric([], [("0.1", 1), ("+Inf", 2)], 0.3)
    return [c, h]


@dataclass
class View:
    inventory: InventorySnapshot | None
    monitoring: MonitoringSnapshot | None
    inventory_config: InventoryConfig
    extra: list[Callable[[], list[Metric]]] = field(default_factory=list)


class Reference(Collector):
    """The prometheus_client path: desktop_families, then the other families."""

    def __init__(self, view: Callable[[], View]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        v = self._view()
        yield from desktop_families(v.inventory, v.monitoring, v.inventory_config)
        for build in v.extra:
            yield from build()


class Holder:
    def __init__(self, view: View) -> None:
        self.view = view

    def __call__(self) -> View:
        return self.view


def _lines(holder: Holder) -> DesktopLines:
    return DesktopLines(holder, lambda: [f for build in holder().extra for f in build()])


def _reference(collector: Collector, accept: str) -> bytes:
    encoder, _ = choose_encoder(accept)
    raw = encoder(collector)
    return raw.removesuffix(b"# EOF\n")


def _fast(blocks: Callable[[], list[Block]], accept: str) -> bytes:
    return b"".join(render_pieces(blocks(), negotiate(accept).kind))


CONFIGS = [
    InventoryConfig(),
    InventoryConfig(tag_labels=["env", "cost-center", "env", "missing"], user_name_label=False),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("accept", ACCEPTS)
def test_single_target_is_byte_identical(seed: int, accept: str) -> None:
    inv, entries = _fleet(seed, 60)
    cfg = CONFIGS[seed % 2]
    mon = None if seed == 5 else MonitoringSnapshot(MappingProxyType(entries), 0.0)
    holder = Holder(View(inv, mon, cfg, [_extra] if seed % 3 == 0 else []))
    reg = CollectorRegistry()
    reg.register(Reference(holder))
    lines = _lines(holder)
    assert _fast(lambda: lines.blocks({}), accept) == _reference(reg, accept)


@pytest.mark.parametrize("accept", ACCEPTS[::2])
def test_empty_inventory_and_no_inventory(accept: str) -> None:
    for inv in (InventorySnapshot.of([], 0.0), None):
        holder = Holder(View(inv, MonitoringSnapshot(MappingProxyType({}), 0.0), InventoryConfig()))
        reg = CollectorRegistry()
        reg.register(Reference(holder))
        assert _fast(partial(_lines(holder).blocks, {}), accept) == _reference(reg, accept)


def test_only_changed_desktops_are_reformatted_and_bytes_stay_identical() -> None:
    inv, entries = _fleet(7, 200)
    holder = Holder(View(inv, MonitoringSnapshot(MappingProxyType(entries), 0.0), InventoryConfig()))
    reg = CollectorRegistry()
    reg.register(Reference(holder))
    lines = _lines(holder)
    assert _fast(lambda: lines.blocks({}), "") == _reference(reg, "")
    assert lines.formatted == sum(1 for d in inv.desktops if d.desktop_id in entries)
    rng = random.Random(8)
    changed = rng.sample([d.desktop_id for d in inv.desktops if d.desktop_id in entries], 40)
    new = dict(entries)
    for did in changed:
        new[did] = DesktopMetrics(did, (("cpu_usage_ratio", rng.random()),), 1.0, "logged_in")
    holder.view = View(inv, MonitoringSnapshot(MappingProxyType(new), 0.0), InventoryConfig())
    assert _fast(lambda: lines.blocks({}), "") == _reference(reg, "")
    assert lines.formatted == 40
    # An equal but new snapshot object re-formats nothing.
    holder.view = View(inv, MonitoringSnapshot(MappingProxyType(dict(new)), 0.0), InventoryConfig())
    assert _fast(lambda: lines.blocks({}), "") == _reference(reg, "")
    assert lines.formatted == 0
    # A new inventory: the first desktop removed, the second renamed, the rest unchanged
    # (new but equal objects): only the renamed desktop's info line is formatted again.
    kept = [dataclasses.replace(d) for d in inv.desktops[1:]]
    kept[0] = dataclasses.replace(kept[0], computer_name='renamed \\ "pc"')
    inv2 = InventorySnapshot.of(kept, 1.0)
    holder.view = View(inv2, MonitoringSnapshot(MappingProxyType(new), 0.0), InventoryConfig())
    assert _fast(lambda: lines.blocks({}), "") == _reference(reg, "")
    assert (lines.info_formatted, lines.formatted) == (1, 0)
    # Other options or extra labels: everything is formatted again.
    holder.view = View(inv2, MonitoringSnapshot(MappingProxyType(new), 0.0), CONFIGS[1])
    assert _fast(lambda: lines.blocks({}), "") == _reference(reg, "")
    assert lines.info_formatted == len(kept)
    labels = {"project_id": "p1"}
    merged = _reference(MergedCollector([(reg, labels)]), "")
    assert _fast(lambda: merge([(lines.blocks(labels), labels)]), "") == merged
    assert lines.formatted == sum(1 for d in kept if d.desktop_id in new)


TARGET_LABELS = [
    [{"project_id": f"p{i}", "region": "cn-north-4"} for i in range(3)],
    # Target label values are config text: escapes and printf directives must pass through.
    [{"project_id": f'p%s{i}"\n\\', "region": "%d%%", "state": "x"} for i in range(3)],
]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("labels", TARGET_LABELS)
def test_multi_target_merge_is_byte_identical(accept: str, labels: list[dict[str, str]]) -> None:
    holders, regs = [], []
    for seed in (11, 12, 13):
        inv, entries = _fleet(seed, 40)
        mon = None if seed == 11 else MonitoringSnapshot(MappingProxyType(entries), 0.0)
        holder = Holder(View(inv, mon, CONFIGS[seed % 2], [_extra]))
        reg = CollectorRegistry()
        reg.register(Reference(holder))
        holders.append(holder)
        regs.append(reg)
    reference = _reference(MergedCollector(list(zip(regs, labels, strict=True))), accept)
    parts = [(_lines(h), lb) for h, lb in zip(holders, labels, strict=True)]
    fast = _fast(lambda: merge([(p.blocks(lb), lb) for p, lb in parts]), accept)
    assert fast == reference


def test_a_lone_surrogate_becomes_a_replacement_character_in_both_paths() -> None:
    d = Desktop("d1", "pc\ud800x", "u\udfffser", tags=(("env", "\ud83d"),))
    inv = InventorySnapshot.of([d], 0.0)
    mon = MonitoringSnapshot(MappingProxyType({"d1": DesktopMetrics("d1", (), 1.0, "logged_in")}), 0.0)
    holder = Holder(View(inv, mon, InventoryConfig(tag_labels=["env"])))
    reg = CollectorRegistry()
    reg.register(Reference(holder))
    fast = _fast(lambda: _lines(holder).blocks({}), "")
    assert fast == _reference(reg, "")
    assert 'computer_name="pc\ufffdx"'.encode() in fast
    assert 'tag_env="\ufffd"'.encode() in fast


def _families(text: bytes) -> Iterator[str]:
    for line in text.decode().splitlines():
        if line.startswith("# TYPE "):
            yield line.split()[2]


def test_families_come_in_catalogue_order() -> None:
    inv, entries = _fleet(3, 10)
    holder = Holder(View(inv, MonitoringSnapshot(MappingProxyType(entries), 0.0), InventoryConfig()))
    names = list(_families(_fast(lambda: _lines(holder).blocks({}), "")))
    expected = [f.exposed_name if f.kind == "info" else f.full_name for f in m.ALL[: len(names)]]
    assert names == expected


def format_labels(labels: Mapping[str, str]) -> str:
    """The reference: ``{a="x",b="y"}`` with names sorted and values escaped, as
    prometheus_client's text encoder writes them ("" for none)."""
    if not labels:
        return ""

    def esc(v: str) -> str:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"


@pytest.mark.parametrize("seed", range(200))
def test_label_template_formats_like_format_labels(seed: int) -> None:
    rng = random.Random(seed)
    pool = ["a", "desktop_id", "state", "z_last", "b_2", "m"]
    extra = {
        k: _text(rng) + rng.choice(["", "%s", "%", "%(x)s"]) for k in rng.sample(pool, rng.randint(0, 3))
    }
    names = [rng.choice(pool) for _ in range(rng.randint(0, 4))]  # repeats: the last value wins
    for _ in range(5):
        values = [_text(rng) + rng.choice(["", "%s", '"']) for _ in names]
        expected = format_labels({**extra, **dict(zip(names, values, strict=True))})
        assert LabelTemplate(extra, names)(values) == expected


def test_label_template_refuses_a_wrong_number_of_values() -> None:
    with pytest.raises(ValueError, match="2 label values for 1 label names"):
        LabelTemplate({}, ["desktop_id"])(["a", "b"])
