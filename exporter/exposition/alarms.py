"""Workspace alarm families: an :class:`AlarmsSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.alarms import AlarmsSnapshot


def families(snapshot: AlarmsSnapshot | None) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time); none before the first."""
    if snapshot is None:
        return []
    f = m.ALARM_RECORDS
    records = GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))
    for level, n in snapshot.records:
        records.add_metric([level], float(n))
    f = m.ALARMS_ACTIVE
    active = GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))
    for (alarm_id, level), n in snapshot.active:
        active.add_metric([alarm_id, level], float(n))
    f = m.ALARM_RULE_INFO
    rules = InfoMetricFamily(f.full_name, f.help, labels=list(f.labels))
    for r in snapshot.rules:
        rules.add_metric([r.alarm_id, r.name, r.type, r.namespace, r.metric_name], {})
    return [records, active, rules]
