"""User event families: a :class:`UserEventsSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.user_events import UserEventsSnapshot


def families(snapshot: UserEventsSnapshot) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time)."""
    f = m.USER_EVENTS
    events = CounterMetricFamily(f.full_name, f.help, labels=list(f.labels))
    for labels, n in snapshot.events:
        events.add_metric(list(labels), float(n))
    f = m.USER_EVENT_FAILURES
    failures = CounterMetricFamily(f.full_name, f.help, labels=list(f.labels))
    for labels, n in snapshot.failures:
        failures.add_metric(list(labels), float(n))
    f = m.USER_EVENT_LABEL_OVERFLOW
    overflow = CounterMetricFamily(f.full_name, f.help, float(snapshot.overflow))
    f = m.USER_EVENT_DEDUPE_KEYS
    keys = GaugeMetricFamily(f.full_name, f.help, float(snapshot.dedupe_keys))
    return [events, failures, overflow, keys]
