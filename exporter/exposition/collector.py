"""Turns source snapshots into metric families. Never touches the network.

``collect()`` builds every family into a local list before yielding any (so an
error can never cut an exposition in half) and creates fresh families on each
call, as the Prometheus exporter guidelines ask. Upstream data are cached by the
sources; the HELP texts say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.exposition.rows import (
    MONITORING_FAMILIES,
    info_label_names,
    info_row,
    monitoring_rows,
    tag_label_name,
)
from exporter.sources.base import SourceHealth
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.monitoring import MonitoringSnapshot

__all__ = ["DataView", "WorkspaceCollector", "desktop_families", "tag_label_name"]


def _g(f: m.Family, labels: Iterable[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels if labels is None else labels))


def desktop_families(
    inventory: InventorySnapshot | None,
    monitoring: MonitoringSnapshot | None,
    config: InventoryConfig,
) -> list[Metric]:
    """Inventory and monitoring families. Monitoring rows are kept only for desktops
    still in the inventory, so a removed desktop disappears everywhere at once."""
    if inventory is None:
        return []
    info = InfoMetricFamily(m.DESKTOP_INFO.full_name, m.DESKTOP_INFO.help, labels=info_label_names(config))
    for d in inventory.desktops:
        info.add_metric(info_row(d, config), {})
    out: list[Metric] = [info]
    if monitoring is None:
        return out
    gauges = {f.full_name: _g(f) for f in MONITORING_FAMILIES}
    entries = monitoring.entries
    for d in inventory.desktops:
        dm = entries.get(d.desktop_id)
        if dm is None:
            continue
        for f, labels, value in monitoring_rows(d.desktop_id, dm):
            gauges[f.full_name].add_metric(labels, value)
    out.extend(gauges.values())
    return out


class HasSnapshot(Protocol):
    name: str
    health: SourceHealth


@dataclass
class DataView:
    """What the collector reads: the current snapshots and the label options."""

    inventory: InventorySnapshot | None
    monitoring: MonitoringSnapshot | None
    inventory_config: InventoryConfig
    extra: list[Callable[[], list[Metric]]] = field(default_factory=list)


class WorkspaceCollector(Collector):
    """Yields the upstream-data families from the latest snapshots."""

    def __init__(self, view: Callable[[], DataView]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        v = self._view()
        families = desktop_families(v.inventory, v.monitoring, v.inventory_config)
        for build in v.extra:
            families.extend(build())
        yield from families
