"""Connection records in, counters and histograms out: every record counted once.

* **Dedupe** by ``transaction_id``, else a SHA-256 of the fields that identify an attempt
  and never change (:func:`~exporter.sources.connection_records.record_key`). Keys live in
  a ``TLRUCache`` whose clock is the *window start*, not wall time: a key expires once the
  window start passes ``max(record start, end of the last window that returned it) + 1
  min``, exactly when no later poll can return it, however long an outage stretches the
  next window. ``dedupe_max_keys`` bounds memory (LRU eviction).
* **Per record** the attempt is counted when first seen; the failure once, when
  ``connection_failure_reason`` first shows up non-empty; setup duration and rtt once each,
  when first present on a record that did not fail. So an attempt first seen in progress
  and completed later is still one attempt.
* **Horizon**: a record that started before it is remembered, never counted.

Labels are bounded (see :mod:`exporter.sources.connection_records`, which also holds the
record keys and parsing); overflow into ``other`` is counted. The polling windows that
feed these records are :mod:`exporter.sources.connections`'.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cachetools import TLRUCache

from exporter.clock import Clock
from exporter.sources.base import InvalidSink, next_version
from exporter.sources.connection_records import (
    MAX_REASON_CODES,
    RTT_BUCKETS,
    SETUP_BUCKETS,
    Histogram,
    HistogramData,
    is_failure,
    label_value,
    milliseconds,
    normalise_reason,
    reason_code,
    record_key,
)
from exporter.sources.labels import OTHER, admit
from exporter.timeutil import parse_time, plausible_time

log = logging.getLogger(__name__)

MARGIN = 60.0  # the API filters at minute precision
MAX_LOGGED_REASONS = 20  # distinct uncoded failure texts logged (once each)


@dataclass(frozen=True)
class ConnectionsSnapshot:
    label_names: tuple[str, ...]
    connections: Mapping[tuple[str, ...], int]
    failures: Mapping[tuple[str, ...], int]  # (reason_code, *extra label values)
    network_rtt: HistogramData
    e2e_rtt: HistogramData
    setup: HistogramData
    label_overflow: int
    dedupe_keys: int
    version: int = field(default_factory=next_version, compare=False)


@dataclass(slots=True)
class _Seen:
    """What has been counted for one record key."""

    counted: bool  # started at or after the horizon (else remembered only)
    labels: tuple[str, ...]
    generation: int
    expires: float = 0.0  # in window-start time, see the module docstring
    failed: bool = False
    setup_done: bool = False
    network_done: bool = False
    e2e_done: bool = False


class RecordCounter:
    """The dedupe set, the counters and the histograms of the connections source."""

    def __init__(self, clock: Clock, invalid: InvalidSink, window_start: float, max_keys: int) -> None:
        self._clock = clock
        self._invalid = invalid
        self.window_start = window_start  # the dedupe cache's clock
        self._seen: TLRUCache[str, _Seen] = TLRUCache(
            maxsize=max_keys, ttu=lambda _k, v, _now: v.expires, timer=lambda: self.window_start
        )
        self.label_names: tuple[str, ...] = ()
        self._generation = 0
        self._connections: Counter[tuple[str, ...]] = Counter()
        self._failures: Counter[tuple[str, ...]] = Counter()
        self._label_sets: set[tuple[str, ...]] = set()
        self._reason_codes: set[str] = set()
        self._unknown_reasons: set[str] = set()
        self._overflow = 0
        self._network = Histogram(RTT_BUCKETS)
        self._e2e = Histogram(RTT_BUCKETS)
        self._setup = Histogram(SETUP_BUCKETS)
        self._evictions_logged = False
        self._poll_invalid = 0  # invalid records seen by the poll in progress
        self._had_invalid = False  # whether the last complete poll saw any (logged on change)

    def set_labels(self, names: tuple[str, ...]) -> None:
        """Count by these extra labels from now on: the labelled counters restart."""
        self.label_names = tuple(dict.fromkeys(names))
        self._generation += 1
        self._connections = Counter()
        self._failures = Counter()
        self._label_sets = set()
        if not self.label_names:
            self._connections[()] = 0  # the series exists from the start

    def start_window(self, start: float) -> None:
        """A window starting at ``start`` is read next: keys no later poll can return go."""
        self.window_start = start
        self._seen.expire()

    def begin_poll(self) -> None:
        self._poll_invalid = 0

    def _bad(self, api: str) -> None:
        self._invalid.invalid_response(api)
        self._poll_invalid += 1

    def log_invalid_change(self, api: str) -> None:
        """One line when polls start and stop meeting invalid records, not one per record."""
        if (self._poll_invalid > 0) == self._had_invalid:
            return
        self._had_invalid = self._poll_invalid > 0
        if self._had_invalid:
            log.warning(
                "connection records with invalid values skipped api=%s records=%d",
                api,
                self._poll_invalid,
            )
        else:
            log.info("connection records valid again api=%s", api)

    def ingest(self, api: str, raw: dict[str, Any], window_end: float, max_sets: int, horizon: float) -> None:
        """Apply one record of a window ending at ``window_end``; it counts if it started at
        or after ``horizon``."""
        start = plausible_time(raw.get("connection_start_time"), self._clock.time())
        key = record_key(raw, start)
        state = self._seen.get(key)
        if start is None:
            if state is None:
                self._bad(api)
                state = _Seen(False, (), self._generation)
            state.expires = window_end + MARGIN
        else:
            if state is None:
                counted = start >= horizon
                labels = self._labels_for(raw, max_sets) if counted else ()
                state = _Seen(counted, labels, self._generation)
                if counted:
                    self._connections[labels] += 1
            elif state.counted and state.generation != self._generation:
                state.labels, state.generation = self._labels_for(raw, max_sets), self._generation
            state.expires = max(start, window_end) + MARGIN
            if state.counted:
                self._update(api, raw, state, start)
        if len(self._seen) >= self._seen.maxsize and key not in self._seen and not self._evictions_logged:
            log.warning("connection dedupe set full (connections.dedupe_max_keys); evicting oldest keys")
            self._evictions_logged = True
        self._seen[key] = state

    def _update(self, api: str, raw: Mapping[str, Any], state: _Seen, start: float) -> None:
        reason = raw.get("connection_failure_reason")
        if is_failure(reason):
            if not state.failed:
                state.failed = True
                code = reason_code(reason)
                if code is None:
                    self._bad(api)
                    code = "unknown"
                elif code == "unknown":
                    self._log_unknown_reason(api, reason)
                self._failures[(self._bounded_code(code), *state.labels)] += 1
            return
        if not state.setup_done and raw.get("connection_setup_time") not in (None, ""):
            state.setup_done = True
            setup = parse_time(raw.get("connection_setup_time"))
            if setup is None or setup < start:
                self._bad(api)
            else:
                self._setup.observe(setup - start)
        if not state.network_done and raw.get("network_rtt") not in (None, ""):
            state.network_done = True
            self._observe_ms(api, self._network, raw.get("network_rtt"))
        if not state.e2e_done and raw.get("e2e_rtt") not in (None, ""):
            state.e2e_done = True
            self._observe_ms(api, self._e2e, raw.get("e2e_rtt"))

    def _log_unknown_reason(self, api: str, reason: object) -> None:
        """Log each distinct failure text without a code once (a few of them), so an operator
        can see what ``reason_code="unknown"`` stands for without it becoming a label."""
        text = normalise_reason(reason[:200]) if isinstance(reason, str) else ""
        if (
            text
            and text not in self._unknown_reasons
            and admit(text, self._unknown_reasons, MAX_LOGGED_REASONS)
        ):
            log.info("connection failure without a numeric code api=%s reason=%s", api, text[:120])

    def _observe_ms(self, api: str, hist: Histogram, value: object) -> None:
        ms = milliseconds(value)
        if ms is None:
            self._bad(api)
        else:
            hist.observe(ms / 1000.0)

    def _labels_for(self, raw: Mapping[str, Any], max_sets: int) -> tuple[str, ...]:
        if not self.label_names:
            return ()
        values = tuple(label_value(raw.get(name)) for name in self.label_names)
        if admit(values, self._label_sets, max_sets):
            return values
        self._overflow += 1
        return (OTHER,) * len(values)

    def _bounded_code(self, code: str) -> str:
        if admit(code, self._reason_codes, MAX_REASON_CODES):
            return code
        self._overflow += 1
        return OTHER

    def freeze(self) -> ConnectionsSnapshot:
        return ConnectionsSnapshot(
            self.label_names,
            MappingProxyType(dict(self._connections)),
            MappingProxyType(dict(self._failures)),
            self._network.freeze(),
            self._e2e.freeze(),
            self._setup.freeze(),
            self._overflow,
            len(self._seen),
        )
