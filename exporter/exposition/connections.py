"""Connection-record families: a :class:`ConnectionsSnapshot` to metric families, without I/O."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from exporter.exposition import catalogue as m
from exporter.sources.connection_counts import ConnectionsSnapshot


def families(snap: ConnectionsSnapshot) -> list[Metric]:
    """Fresh families from an immutable snapshot (called at render time)."""
    names = list(snap.label_names)
    total = CounterMetricFamily(m.CONNECTIONS.full_name, m.CONNECTIONS.help, labels=names)
    for labels, value in sorted(snap.connections.items()):
        total.add_metric(list(labels), value)
    fail_labels = [*m.CONNECTION_FAILURES.labels, *names]
    failures = CounterMetricFamily(
        m.CONNECTION_FAILURES.full_name, m.CONNECTION_FAILURES.help, labels=fail_labels
    )
    for labels, value in sorted(snap.failures.items()):
        failures.add_metric(list(labels), value)
    out: list[Metric] = [total, failures]
    for fam, data in (
        (m.CONNECTION_NETWORK_RTT, snap.network_rtt),
        (m.CONNECTION_E2E_RTT, snap.e2e_rtt),
        (m.CONNECTION_SETUP_DURATION, snap.setup),
    ):
        hist = HistogramMetricFamily(fam.full_name, fam.help, labels=[])
        buckets = [(str(float(b)), float(c)) for b, c in zip(data.bounds, data.cumulative, strict=True)]
        hist.add_metric([], [*buckets, ("+Inf", float(data.count))], data.sum)
        out.append(hist)
    f = m.CONNECTION_LABEL_OVERFLOW
    out.append(CounterMetricFamily(f.full_name, f.help, value=snap.label_overflow))
    f = m.CONNECTION_DEDUPE_KEYS
    out.append(GaugeMetricFamily(f.full_name, f.help, value=snap.dedupe_keys))
    return out
