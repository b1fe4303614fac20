"""Phase ``render`` of ``benchmarks.run`` (in-process, no servers).

The fast renderer against prometheus_client's ``generate_latest`` on the same snapshots:
a cold render (new renderer), a render after every desktop's values changed, after 20 %
changed and after refreshes that changed nothing; and the gzip body size and time per
zlib level.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.config.settings import InventoryConfig
from exporter.exposition import text
from exporter.exposition.encode import TEXT
from exporter.exposition.lines import render_pieces
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.monitoring import FIELDS, ONLINE_STATES, DesktopMetrics, MonitoringSnapshot
from tests.oracle import DesktopLines, desktop_families

KEYS = [key for key, _ in FIELDS.values()]
LEVELS = (1, 3, 6, 9)


def _fleet(n: int, rng: random.Random) -> tuple[InventorySnapshot, dict[str, DesktopMetrics]]:
    desktops = [
        Desktop(
            f"{rng.getrandbits(128):032x}",
            f"ws-{i:05d}",
            f"user{i:05d}",
            "ACTIVE",
            "REGISTERED",
            "cn-north-4a",
            rng.choice(["Windows", "Linux"]),
            "workspace.x86.ultimate.large2",
            "DEDICATED",
            "",
        )
        for i in range(n)
    ]
    inv = InventorySnapshot.of(desktops, time.time())
    return inv, {d.desktop_id: _metrics(d.desktop_id, rng) for d in desktops}


def _metrics(did: str, rng: random.Random) -> DesktopMetrics:
    now = float(int(time.time()) // 300 * 300)
    return DesktopMetrics(
        did,
        tuple((k, round(rng.random() * 10 ** rng.randint(0, 7), 2)) for k in KEYS),
        now,
        rng.choice(ONLINE_STATES),
        now - 3600,
    )


@dataclass
class View:
    inventory: InventorySnapshot
    monitoring: MonitoringSnapshot
    inventory_config: InventoryConfig


class _Reference(Collector):
    """The prometheus_client path over the same snapshots."""

    def __init__(self, view: Callable[[], View]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        v = self._view()
        yield from desktop_families(v.inventory, v.monitoring, v.inventory_config)


def _best(f: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def render_case(n: int, repeat: int = 3, seed: int = 12) -> dict[str, Any]:
    """Fast renderer vs generate_latest on the same data: full, 20 % changed, unchanged; gzip levels."""
    rng = random.Random(seed)
    inv, entries = _fleet(n, rng)
    cfg = InventoryConfig()
    view = [View(inv, MonitoringSnapshot(MappingProxyType(entries), 0.0), cfg)]
    reg = CollectorRegistry()
    reg.register(_Reference(lambda: view[0]))

    def fast(lines: DesktopLines) -> bytes:
        return b"".join(render_pieces(lines.blocks({}), TEXT))

    slow = _best(lambda: generate_latest(reg), max(1, repeat - 1))
    body = generate_latest(reg)
    if fast(DesktopLines(lambda: view[0])) != body:
        raise RuntimeError("the fast renderer's output differs from generate_latest")

    def cold() -> bytes:
        text._LARGE.clear()  # the renderer's large-value texts: none cached from an earlier render
        return fast(DesktopLines(lambda: view[0]))

    full = _best(cold, repeat)

    warm = DesktopLines(lambda: view[0])
    fast(warm)
    # Every desktop's values changed, label strings still cached (the inventory did not change).
    every: list[float] = []
    for _ in range(repeat):
        new = {did: _metrics(did, rng) for did in entries}
        view[0] = View(inv, MonitoringSnapshot(MappingProxyType(new), 0.0), cfg)
        gc.collect()
        t0 = time.perf_counter()
        fast(warm)
        every.append(time.perf_counter() - t0)
    changed: list[float] = []
    for _ in range(repeat):
        new = dict(view[0].monitoring.entries)
        for did in rng.sample(sorted(new), n // 5):
            new[did] = _metrics(did, rng)
        view[0] = View(inv, MonitoringSnapshot(MappingProxyType(new), 0.0), cfg)
        gc.collect()
        t0 = time.perf_counter()
        out = fast(warm)
        changed.append(time.perf_counter() - t0)
    if out != generate_latest(reg):
        raise RuntimeError("the incremental render's output differs from generate_latest")
    slow_changed = _best(lambda: generate_latest(reg), 1)
    # Same desktops, same values, new snapshots of new but equal objects (refreshes of the
    # inventory and of the monitoring data that changed nothing).
    inv2 = InventorySnapshot.of([dataclasses.replace(d) for d in inv.desktops], time.time())
    view[0] = View(inv2, MonitoringSnapshot(MappingProxyType(dict(new)), 0.0), cfg)
    unchanged = _best(lambda: fast(warm), 1)

    levels = {}
    for level in LEVELS:
        t0 = time.perf_counter()
        comp = zlib.compressobj(level, zlib.DEFLATED, 31)
        packed = comp.compress(body) + comp.flush()
        levels[str(level)] = {"bytes": len(packed), "seconds": time.perf_counter() - t0}
    return {
        "desktops": n,
        "series": sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
        "body_bytes": len(body),
        "generate_latest_seconds": slow,
        "generate_latest_changed_seconds": slow_changed,
        "cold_seconds": full,
        "full_seconds": min(every),
        "changed_20pct_seconds": sorted(changed)[len(changed) // 2],
        "unchanged_seconds": unchanged,
        "gzip_levels": levels,
    }


def render_lines(r: dict[str, Any]) -> list[str]:
    gl, glc = r["generate_latest_seconds"], r["generate_latest_changed_seconds"]
    rows = [
        "| render | seconds | generate_latest, same data | faster by |",
        "|---|---|---|---|",
        f"| cold (new inventory: labels and lines) | {r['cold_seconds']:.3f} | {gl:.3f} | "
        f"{gl / r['cold_seconds']:.1f}× |",
        f"| full (every desktop's values changed) | {r['full_seconds']:.3f} | {gl:.3f} | "
        f"{gl / r['full_seconds']:.1f}× |",
        f"| 20 % of desktops changed | {r['changed_20pct_seconds']:.3f} | {glc:.3f} | "
        f"{glc / r['changed_20pct_seconds']:.1f}× |",
        f"| nothing changed (new snapshots) | {r['unchanged_seconds']:.3f} | {gl:.3f} | "
        f"{gl / r['unchanged_seconds']:.1f}× |",
        "",
        f"{r['desktops']:,} desktops, {r['series']:,} series, {r['body_bytes'] / 1e6:.1f} MB.",
        "",
        "| zlib level | gzip body | compression time |",
        "|---|---|---|",
    ]
    for level, v in r["gzip_levels"].items():
        rows.append(f"| {level} | {v['bytes'] / 1e6:.2f} MB | {v['seconds']:.3f} s |")
    return rows
