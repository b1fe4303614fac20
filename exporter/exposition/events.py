"""Key desktop event families: an :class:`EventsSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.events import EventsSnapshot


def families(snapshot: EventsSnapshot) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time)."""
    ev, rec = m.DESKTOP_EVENTS, m.SCREEN_RECORDS
    counter = CounterMetricFamily(ev.full_name, ev.help, labels=list(snapshot.labels))
    for key, n in snapshot.counts.items():
        counter.add_metric(list(key), float(n))
    gauge = GaugeMetricFamily(rec.full_name, rec.help, labels=list(rec.labels))
    for status, n in snapshot.recordings.items():
        gauge.add_metric([status], float(n))
    return [counter, gauge]
