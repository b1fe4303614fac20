"""Cloud Eye's documented limits on windows and sizes, and the two v1 rules that adjust.

Cloud Eye's v1 batch query answers every valid request, but moves ``from`` forward
(documented) when the window is too long for the period, or when the answer would pass
3,000 datapoints: the oldest data are dropped without a word. :func:`v1_from` computes
where it moves ``from``; the fake applies it and the exporter sizes its batches so it
never happens (:func:`v1_max_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from exporter.constraints.rules import Call, Probe, Rule, duration_text, probe

V1_MAX_METRICS = 500
V1_MAX_POINTS = 3000
V1_MAX_BODY = 512 * 1024
V2_MAX_SPAN_MS = 300_000  # "within 5 minutes": the span must stay below it
#: period -> the longest window Cloud Eye keeps (seconds); beyond it ``from`` is moved.
V1_PERIOD_SPAN: dict[str, int] = {
    "1": 4 * 3600,
    "300": 86400,
    "1200": 3 * 86400,
    "3600": 10 * 86400,
    "14400": 30 * 86400,
    "86400": 180 * 86400,
}
#: period -> the "monitoring interval" (ms) of the 3,000-datapoint rule; period 1 counts as a minute.
V1_INTERVAL_MS: dict[str, int] = {"1": 60_000, "60": 60_000} | {
    p: int(p) * 1000 for p in ("300", "1200", "3600", "14400", "86400")
}
EPOCH_MS_RANGE = (1_111_111_111_111, 9_999_999_999_999)


def v1_from(from_ms: int, to_ms: int, period: str, metrics: int) -> int:
    """The ``from`` Cloud Eye's v1 batch query really answers for."""
    start = from_ms
    if period in V1_PERIOD_SPAN:
        start = max(start, to_ms - V1_PERIOD_SPAN[period] * 1000)
    interval = V1_INTERVAL_MS.get(period)
    if interval and metrics > 0:
        start = max(start, to_ms - V1_MAX_POINTS * interval // metrics)
    return start


def v1_max_metrics(window_ms: int, period: str) -> int:
    """The most metrics one v1 query may name and still be answered whole for ``window_ms``."""
    interval = V1_INTERVAL_MS[period]
    return max(1, min(V1_MAX_METRICS, V1_MAX_POINTS * interval // max(1, window_ms)))


def _window(call: Call) -> tuple[int, int, str, int] | None:
    body = call.body if isinstance(call.body, dict) else {}
    start, end, period = body.get("from"), body.get("to"), str(body.get("period", ""))
    metrics = body.get("metrics")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        return None
    return start, end, period, len(metrics) if isinstance(metrics, list) else 0  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class PeriodWindow(Rule):
    """v1: ``to - from`` at most the longest window of the ``period`` (else ``from`` moves)."""

    order: ClassVar[int] = 90

    def check(self, call: Call) -> str | None:
        found = _window(call)
        if found is None or found[2] not in V1_PERIOD_SPAN:
            return None
        start, end, period, _ = found
        if end - start > V1_PERIOD_SPAN[period] * 1000:
            return f"from is moved to to - {V1_PERIOD_SPAN[period]} s for period {period}"
        return None

    def text(self) -> str:
        spans = ", ".join(f"{p}: {duration_text(s)}" for p, s in V1_PERIOD_SPAN.items())
        return f"`to` − `from` at most, per `period` ({spans}); else `from` is moved forward"

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        found = _window(base)
        if found is None:
            raise ValueError(f"{self.id}: the base request has no from and to")
        _, end, period, _ = found
        longest = V1_PERIOD_SPAN[period] * 1000
        return [probe(f"{longest:,} ms", **{"b.from": end - longest})], [
            probe(f"{longest + 1:,} ms", **{"b.from": end - longest - 1})
        ]


@dataclass(frozen=True, kw_only=True)
class PointBudget(Rule):
    """v1: metrics × (to − from) / interval ≤ 3,000 (else ``from`` moves forward)."""

    order: ClassVar[int] = 91

    def check(self, call: Call) -> str | None:
        found = _window(call)
        if found is None or found[2] not in V1_INTERVAL_MS:
            return None
        start, end, period, metrics = found
        if metrics * (end - start) > V1_MAX_POINTS * V1_INTERVAL_MS[period]:
            return f"more than {V1_MAX_POINTS} datapoints: from is moved forward"
        return None

    def text(self) -> str:
        return (
            f"metrics × (`to` − `from`) ÷ interval ≤ {V1_MAX_POINTS:,} datapoints (interval: the period "
            "in ms, a minute for period 1); else `from` is moved forward"
        )

    def probes(self, base: Call) -> tuple[list[Probe], list[Probe]]:
        found = _window(base)
        if found is None or not isinstance(base.body, dict):
            raise ValueError(f"{self.id}: the base request has no from, to and metrics")
        _, end, period, _ = found
        metrics = [base.body["metrics"][0]] * V1_MAX_METRICS
        longest = V1_MAX_POINTS * V1_INTERVAL_MS[period] // V1_MAX_METRICS
        return [
            probe(
                f"{V1_MAX_METRICS} metrics, {longest:,} ms", **{"b.metrics": metrics, "b.from": end - longest}
            )
        ], [
            probe(
                f"{V1_MAX_METRICS} metrics, {longest + 1:,} ms",
                **{"b.metrics": metrics, "b.from": end - longest - 1},
            )
        ]
