"""Scheduled task families: a :class:`TasksSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.tasks import LAST_STATUSES, TasksSnapshot


def _g(f: m.Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))


def families(snapshot: TasksSnapshot | None) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time); none before the first."""
    if snapshot is None:
        return []
    info = InfoMetricFamily(m.TASK_INFO.full_name, m.TASK_INFO.help, labels=list(m.TASK_INFO.labels))
    status, nxt = _g(m.TASK_LAST_STATUS), _g(m.TASK_NEXT_RUN)
    for t in snapshot.tasks:
        info.add_metric([t.task_id, t.name, t.task_type, t.scheduled_type, t.enabled], {})
        if t.last_status:
            for value in dict.fromkeys((*LAST_STATUSES, t.last_status)):
                status.add_metric([t.task_id, value], 1.0 if value == t.last_status else 0.0)
        if t.next_run is not None:
            nxt.add_metric([t.task_id], t.next_run)
    started, desktops = _g(m.TASK_LAST_RUN), _g(m.TASK_LAST_RUN_DESKTOPS)
    for task_id, run in snapshot.runs:
        if run.started is not None:
            started.add_metric([task_id], run.started)
        for result, n in (("success", run.success), ("failed", run.failed), ("skipped", run.skipped)):
            if n is not None:
                desktops.add_metric([task_id, result], float(n))
    return [info, status, nxt, started, desktops]
