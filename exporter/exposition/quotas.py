"""Quota families: a :class:`QuotasSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.quotas import QuotasSnapshot


def families(snapshot: QuotasSnapshot | None) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time); none before the first."""
    if snapshot is None:
        return []
    limit = GaugeMetricFamily(m.QUOTA_LIMIT.full_name, m.QUOTA_LIMIT.help, labels=list(m.QUOTA_LIMIT.labels))
    used = GaugeMetricFamily(m.QUOTA_USED.full_name, m.QUOTA_USED.help, labels=list(m.QUOTA_USED.labels))
    for q in snapshot.quotas:
        if q.limit is not None:
            limit.add_metric([q.resource, q.site_id], float(q.limit))
        if q.used is not None:
            used.add_metric([q.resource, q.site_id], float(q.used))
    return [limit, used]
