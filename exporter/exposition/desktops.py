"""Desktop families: inventory and monitoring snapshots to metric families, without I/O.

Pure functions: fresh families on every call, as the Prometheus exporter guidelines
ask. Monitoring rows are joined to the inventory here, which is why one function
renders the families of both sources. What each family holds is defined once, in
:mod:`exporter.exposition.rows`, which the fast text renderer
(:mod:`exporter.exposition.lines`) reads too.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from exporter.config.settings import InventoryConfig, tag_label_name
from exporter.exposition import catalogue as m
from exporter.exposition.catalogue import MONITORING_FAMILIES
from exporter.exposition.rows import info_label_names, info_row, monitoring_rows
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.monitoring import MonitoringSnapshot

__all__ = ["desktop_families", "tag_label_name"]  # the label name rule lives with its validation


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
