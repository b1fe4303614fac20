"""Agent version, upgrade task and monitoring plug-in families: an :class:`AgentsSnapshot` to
metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.agents import UPGRADE_STATUSES, AgentsSnapshot


def _g(f: m.Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))


def _i(f: m.Family) -> InfoMetricFamily:
    return InfoMetricFamily(f.full_name, f.help, labels=list(f.labels))


def families(snapshot: AgentsSnapshot | None) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time); none before the first."""
    if snapshot is None:
        return []
    versions, outdated, reference = (
        _g(m.AGENT_VERSION_DESKTOPS),
        _g(m.AGENT_OUTDATED_DESKTOPS),
        _i(m.AGENT_REFERENCE_VERSION),
    )
    for s in snapshot.systems:
        for version, n in s.versions:
            versions.add_metric([s.os_type, version], float(n))
        if s.reference:
            outdated.add_metric([s.os_type], float(s.outdated))
            reference.add_metric([s.os_type, s.reference, s.reference_source], {})
    info, status = _i(m.UPGRADE_TASK_INFO), _g(m.UPGRADE_TASK_LAST_STATUS)
    for t in snapshot.upgrades:
        info.add_metric([t.task_id, t.name, t.task_type, t.scheduled_type, t.target_version, t.enabled], {})
        if t.status:
            for value in dict.fromkeys((*UPGRADE_STATUSES, t.status)):
                status.add_metric([t.task_id, value], 1.0 if value == t.status else 0.0)
    out: list[Metric] = [versions, outdated, reference, info, status]
    if snapshot.plugins is not None:
        plugins = _g(m.MONITORING_PLUGIN_DESKTOPS)
        for labels, n in snapshot.plugins:
            plugins.add_metric(list(labels), float(n))
        out.append(plugins)
    return out
