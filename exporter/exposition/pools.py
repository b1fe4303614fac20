"""Desktop pool and desktop statistics families: a :class:`PoolsSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.pools import PoolsSnapshot


def _g(f: m.Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))


def families(snapshot: PoolsSnapshot | None) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time); none before the first."""
    if snapshot is None:
        return []
    info = InfoMetricFamily(m.POOL_INFO.full_name, m.POOL_INFO.help, labels=list(m.POOL_INFO.labels))
    desktops, assigned = _g(m.POOL_DESKTOPS), _g(m.POOL_ASSIGNED)
    most, idle = _g(m.POOL_AUTOSCALE_MAX), _g(m.POOL_AUTOSCALE_MIN_IDLE)
    for p in snapshot.pools:
        info.add_metric(
            [p.pool_id, p.name, p.type, p.status, p.availability_zone, p.in_maintenance_mode, p.autoscale], {}
        )
        for family, value in ((desktops, p.desktops), (assigned, p.assigned)):
            if value is not None:
                family.add_metric([p.pool_id], float(value))
        for family, value in ((most, p.autoscale_max), (idle, p.autoscale_min_idle)):
            if value is not None:
                family.add_metric([p.pool_id], float(value))
    pooled = {"attach": _g(m.POOL_ATTACH), "login": _g(m.POOL_LOGIN), "run": _g(m.POOL_RUN)}
    for pool_id, counts in snapshot.per_pool:
        for dimension, family in pooled.items():
            for state, n in counts.of(dimension):
                family.add_metric([pool_id, state], float(n))
    total = _g(m.FLEET_DESKTOPS)
    fleet = {"attach": _g(m.FLEET_ATTACH), "login": _g(m.FLEET_LOGIN), "run": _g(m.FLEET_RUN)}
    if snapshot.fleet is not None:
        if snapshot.fleet.total is not None:
            total.add_metric([], float(snapshot.fleet.total))
        for dimension, family in fleet.items():
            for state, n in snapshot.fleet.of(dimension):
                family.add_metric([state], float(n))
    return [info, desktops, assigned, most, idle, *pooled.values(), total, *fleet.values()]
