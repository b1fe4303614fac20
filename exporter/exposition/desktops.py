"""Desktop families: inventory and monitoring snapshots to metric families, without I/O.

Pure functions: fresh families on every call, as the Prometheus exporter guidelines
ask. Monitoring rows are joined to the inventory here, which is why one function
renders the families of both sources.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from exporter.config.settings import InventoryConfig, tag_label_name
from exporter.exposition import catalogue as m
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.monitoring import ONLINE_STATES, MonitoringSnapshot

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
    tag_keys = list(dict.fromkeys(config.tag_labels))
    base = [lbl for lbl in m.DESKTOP_INFO.labels if config.user_name_label or lbl != "user_name"]
    info = InfoMetricFamily(
        m.DESKTOP_INFO.full_name, m.DESKTOP_INFO.help, labels=base + [tag_label_name(k) for k in tag_keys]
    )
    for d in inventory.desktops:
        info.add_metric(_info_values(d, config.user_name_label) + [d.tag(k) for k in tag_keys], {})
    out: list[Metric] = [info]
    if monitoring is None:
        return out
    gauges = {key: _g(f) for key, f in m.MONITORING.items()}
    ts = _g(m.DESKTOP_MONITORING_TIMESTAMP)
    online = _g(m.DESKTOP_ONLINE_STATUS)
    start = _g(m.DESKTOP_SESSION_START)
    end = _g(m.DESKTOP_SESSION_END)
    entries = monitoring.entries
    for d in inventory.desktops:
        dm = entries.get(d.desktop_id)
        if dm is None:
            continue
        did = [d.desktop_id]
        for key, value in dm.values:
            gauges[key].add_metric(did, value)
        if dm.sample_time is not None:
            ts.add_metric(did, dm.sample_time)
        if dm.online_state is not None:
            for state in ONLINE_STATES:
                online.add_metric([d.desktop_id, state], 1.0 if state == dm.online_state else 0.0)
        if dm.session_start is not None:
            start.add_metric(did, dm.session_start)
        if dm.session_end is not None:
            end.add_metric(did, dm.session_end)
    out.extend(gauges.values())
    out.extend((ts, online, start, end))
    return out


def _info_values(d: Desktop, with_user: bool) -> list[str]:
    values = [d.desktop_id, d.computer_name]
    if with_user:
        values.append(d.user_name)
    values += [
        d.status,
        d.login_status,
        d.availability_zone,
        d.os_type,
        d.product_id,
        d.desktop_type,
        d.pool_id,
    ]
    return values
