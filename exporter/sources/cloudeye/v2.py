"""One pass of the v2 batch query (``ces_batch_v2``, about ten regions).

One metric for every desktop per paged call (1,000 datapoints a page). The answer has no
total and the SDK documents an empty page as the end, so a pass costs, per metric,
``ceil(datapoints / 1000) + 1`` calls (the last page empty): at most 12 x 11 = 132 for
10,000 desktops, 24 for 100. Metrics Cloud Eye does not have (``network_vm_connections``
is not in its documented list) cost one empty call.

The window ends ``monitoring.cloudeye_delay`` before now and spans just under 5 minutes
(:data:`WINDOW_MS`): the query takes less than 5 minutes, and 299,999 ms still hold one
datapoint of every 5-minute series.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from exporter.constraints.ces_windows import V2_MAX_SPAN_MS
from exporter.errors import ShutdownError, UpstreamError
from exporter.sources.cloudeye.ledger import Ledger
from exporter.sources.cloudeye.query import API, FUTURE_SLACK_S, Query, Streak, desktop_of, lacks_api
from exporter.timeutil import epoch_seconds, finite_number

log = logging.getLogger(__name__)

# The v2 batch query takes a window under 5 minutes; whether 300,000 ms itself is accepted
# is not documented, so one millisecond less (the datapoints of 5-minute series are
# 300,000 ms apart: a window of 300,000 whole milliseconds always holds one of them).
WINDOW_MS = V2_MAX_SPAN_MS - 1


class BatchLatestClient(Protocol):
    def ces_batch_latest(
        self,
        namespace: str,
        metric_name: str,
        dimension: str,
        from_ms: int,
        to_ms: int,
        max_points: int = ...,
    ) -> list[dict[str, Any]]: ...


def newest_points(
    points: Iterable[Mapping[str, Any]], dimension: str, known: Mapping[str, object], now: float
) -> tuple[dict[str, tuple[float, float]], int]:
    """Per known desktop id, the ``(value, timestamp seconds)`` of its newest valid datapoint,
    plus the number of datapoints skipped (garbage, or a dimension value not in ``known``)."""
    best: dict[str, tuple[float, float]] = {}
    invalid = 0
    for p in points:
        value, ts = finite_number(p.get("value"), text=False), epoch_seconds(p.get("timestamp"))
        did = desktop_of(p, dimension, known)
        if did is None or ts is None or ts > now + FUTURE_SLACK_S or value is None or value < 0:
            invalid += 1
            continue
        old = best.get(did)
        if old is None or ts > old[1]:
            best[did] = (value, ts)
    return best, invalid


def query_v2(
    client: BatchLatestClient,
    q: Query,
    metrics: list[str],
    errors: list[UpstreamError],
    ledger: Ledger,
) -> tuple[set[str], UpstreamError | None]:
    """One paged v2 query per metric; returns the metrics that failed. When the first answer
    is a 400/404 (the region has no v2 query) returns that error instead of going on."""
    from_ms = q.to_ms - WINDOW_MS
    # Bounds paging even if the upstream ignored the offset; a window holds one or
    # two datapoints per desktop, plus desktops that left the inventory.
    max_points = 3 * len(q.inventory.desktops) + 1000
    points_seen = matched = 0
    streak = Streak()
    failed: set[str] = set()
    for i, metric in enumerate(metrics):
        if streak.given_up:
            log.debug("Cloud Eye looks down, skipping a metric this refresh metric=%s", metric)
            failed.add(metric)
            continue
        try:
            points = client.ces_batch_latest(q.namespace, metric, q.dimension, from_ms, q.to_ms, max_points)
        except ShutdownError:
            raise
        except UpstreamError as e:
            errors.append(e)
            if i == 0 and lacks_api(e):
                return failed, e
            ledger.failed(metric, e)
            failed.add(metric)
            streak.failed(e)
            continue
        streak.ok()
        ledger.ok(metric)
        best, invalid = newest_points(points, q.dimension, q.inventory.by_id, q.now)
        ledger.invalid(API, invalid)
        points_seen += len(points)
        matched += len(best)
        ledger.store(metric, best)
    ledger.check_matches(q.dimension, points_seen, matched)
    return failed, None
