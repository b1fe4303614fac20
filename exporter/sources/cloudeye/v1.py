"""One pass of the v1 batch query (``ces_batch_v1``, every region).

Up to 500 metric/dimension pairs per call, sized by :func:`v1_batches` so an answer never
passes Cloud Eye's 3,000 datapoints (beyond them it moves ``from`` forward and drops the
oldest): 240 calls for 10,000 desktops. The window spans two 5-minute periods
(:data:`V1_WINDOW_S`) and ends ``monitoring.cloudeye_delay`` before now. The limits
(500 pairs, 3,000 datapoints, 512 KB bodies) come from the constraint table
(:mod:`exporter.constraints.ces_windows`), which the fake enforces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from exporter.constraints.ces_windows import V1_MAX_BODY, V1_MAX_METRICS, V1_MAX_POINTS, v1_max_metrics
from exporter.errors import ShutdownError, UpstreamError
from exporter.sources.cloudeye.ledger import Ledger
from exporter.sources.cloudeye.query import API_V1, FUTURE_SLACK_S, METRICS, Query, Streak, desktop_of
from exporter.timeutil import epoch_seconds, finite_number

V1_PERIOD_S = 300  # Workspace reports every 5 minutes: the raw data at its own period
V1_WINDOW_S = 600.0  # two periods, so an ingestion delay of one period loses nothing
V1_MAX_PAIRS = V1_MAX_METRICS  # metric/dimension pairs per v1 call (the API's limit)


class BatchSeriesClient(Protocol):
    def ces_batch_series(
        self, metrics: list[dict[str, Any]], period: int, from_ms: int, to_ms: int
    ) -> list[dict[str, Any]]: ...


def v1_batches(
    entries: list[dict[str, Any]], window_s: float, period_s: float
) -> Iterator[list[dict[str, Any]]]:
    """Split v1 query entries into calls Cloud Eye answers whole.

    A series holds at most ``window / period + 1`` datapoints; Cloud Eye answers at most
    :data:`~exporter.constraints.ces_windows.V1_MAX_POINTS` in total (beyond that it moves
    ``from`` forward and drops the oldest: its rule is ``pairs × window ÷ period ≤ 3,000``),
    at most :data:`V1_MAX_PAIRS` entries and a body of
    :data:`~exporter.constraints.ces_windows.V1_MAX_BODY` bytes.
    """
    per_series = math.floor(window_s / period_s) + 1
    documented = v1_max_metrics(round(window_s * 1000), str(int(period_s)))
    pairs = max(1, min(V1_MAX_PAIRS, V1_MAX_POINTS // per_series, documented))
    batch: list[dict[str, Any]] = []
    size = 200  # the envelope: period, filter, from, to
    for entry in entries:
        cost = len(json.dumps(entry, separators=(",", ":"))) + 1
        if batch and (len(batch) >= pairs or size + cost > V1_MAX_BODY):
            yield batch
            batch, size = [], 200
        batch.append(entry)
        size += cost
    if batch:
        yield batch


def newest_series(
    items: Iterable[Mapping[str, Any]], dimension: str, known: Mapping[str, object], now: float
) -> tuple[dict[str, dict[str, tuple[float, float]]], int, int]:
    """Per metric name and known desktop id, the newest valid ``(average, timestamp s)`` of
    v1 answer entries; plus the count of skipped datapoints and of datapoints read."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    invalid = seen = 0
    for item in items:
        metric = item.get("metric_name")
        points = item.get("datapoints")
        if metric not in METRICS or not isinstance(points, list):
            invalid += 1
            continue
        did = desktop_of(item, dimension, known)
        seen += len(points)
        for p in points:
            value = finite_number(p.get("average"), text=False) if isinstance(p, dict) else None
            ts = epoch_seconds(p.get("timestamp")) if isinstance(p, dict) else None
            if did is None or ts is None or ts > now + FUTURE_SLACK_S or value is None or value < 0:
                invalid += 1
                continue
            best = out.setdefault(str(metric), {})
            old = best.get(did)
            if old is None or ts > old[1]:
                best[did] = (value, ts)
    return out, invalid, seen


def query_v1(
    client: BatchSeriesClient,
    q: Query,
    metrics: list[str],
    errors: list[UpstreamError],
    ledger: Ledger,
) -> set[str]:
    """Every (desktop, metric) pair, in batches sized by :func:`v1_batches`; returns the
    metrics that failed."""
    from_ms = q.to_ms - int(V1_WINDOW_S * 1000)
    entries = [
        {
            "namespace": q.namespace,
            "metric_name": metric,
            "dimensions": [{"name": q.dimension, "value": did}],
        }
        for metric in metrics
        for did in q.inventory.by_id
    ]
    points_seen = matched = 0
    streak = Streak()
    failed: set[str] = set()
    for batch in v1_batches(entries, V1_WINDOW_S, V1_PERIOD_S):
        names = {str(e["metric_name"]) for e in batch}
        if streak.given_up:
            failed |= names
            continue
        try:
            items = client.ces_batch_series(batch, V1_PERIOD_S, from_ms, q.to_ms)
        except ShutdownError:
            raise
        except UpstreamError as e:
            errors.append(e)
            for metric in sorted(names):
                ledger.failed(metric, e)
            failed |= names
            streak.failed(e)
            continue
        streak.ok()
        per_metric, invalid, seen = newest_series(items, q.dimension, q.inventory.by_id, q.now)
        ledger.invalid(API_V1, invalid)
        points_seen += seen
        for metric, best in per_metric.items():
            matched += len(best)
            ledger.store(metric, best)
    for metric in metrics:
        if metric not in failed:
            ledger.ok(metric)
    ledger.check_matches(q.dimension, points_seen, matched)
    return failed
