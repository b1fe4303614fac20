"""Turns source snapshots into metric families. Never touches the network.

``collect()`` builds every family into a local list before yielding any (so an
error can never cut an exposition in half) and creates fresh families on each
call, as the Prometheus exporter guidelines ask. Upstream data are cached by the
sources; the HELP texts say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.sources.base import SourceHealth
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.monitoring import ONLINE_STATES, DesktopMetrics, MonitoringSnapshot

_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


def tag_label_name(key: str) -> str:
    """``"cost-center"`` → ``"tag_cost_center"`` (a valid, prefixed label name)."""
    return "tag_" + _LABEL_BAD.sub("_", key)


def _g(f: m.Family, labels: Iterable[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels if labels is None else labels))


def label_value(s: str) -> str:
    """A label value that always encodes to UTF-8: a lone surrogate (from a JSON ``\\ud800``
    escape) becomes U+FFFD instead of failing the whole exposition."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return s


# The monitoring families in exposition order; both renderers follow this tuple.
MONITORING_FAMILIES: tuple[m.Family, ...] = (
    *m.MONITORING.values(),
    m.DESKTOP_MONITORING_TIMESTAMP,
    m.DESKTOP_ONLINE_STATUS,
    m.DESKTOP_SESSION_START,
    m.DESKTOP_SESSION_END,
)


def info_label_names(config: InventoryConfig) -> list[str]:
    """Label names of the desktop info family (tag labels last, in config order)."""
    base = [lbl for lbl in m.DESKTOP_INFO.labels if config.user_name_label or lbl != "user_name"]
    return base + [tag_label_name(k) for k in dict.fromkeys(config.tag_labels)]


def info_row(d: Desktop, config: InventoryConfig) -> list[str]:
    """Label values of one desktop's info sample, matching :func:`info_label_names`."""
    values = _info_values(d, config.user_name_label) + [d.tag(k) for k in dict.fromkeys(config.tag_labels)]
    return [label_value(v) for v in values]


def monitoring_rows(desktop_id: str, dm: DesktopMetrics) -> Iterator[tuple[m.Family, list[str], float]]:
    """One desktop's monitoring samples as (family, label values, value), family by family."""
    did = [label_value(desktop_id)]  # one list for every desktop_id-only row: consumers copy it
    for key, value in dm.values:
        yield m.MONITORING[key], did, value
    if dm.sample_time is not None:
        yield m.DESKTOP_MONITORING_TIMESTAMP, did, dm.sample_time
    if dm.online_state is not None:
        for state in ONLINE_STATES:
            yield m.DESKTOP_ONLINE_STATUS, [did[0], state], 1.0 if state == dm.online_state else 0.0
    if dm.session_start is not None:
        yield m.DESKTOP_SESSION_START, did, dm.session_start
    if dm.session_end is not None:
        yield m.DESKTOP_SESSION_END, did, dm.session_end


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
