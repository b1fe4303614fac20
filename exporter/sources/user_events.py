"""User events (off by default): counters by event type and result, failures by error code.

Source: ``GET /v2/{project_id}/user-events``, ``start_time`` and ``end_time`` always sent
(second precision, UTC; both mandatory, at most 30 days apart and within the last 30 days),
paged 1000 a page. Like the connection records:

* **Window** ``[max(last_end - overlap, horizon), now]``; the start never moves back, and
  ``horizon = process start - lookback``, so a restart is an ordinary counter reset.
* **Once each.** The API gives no unique event id (``event_trace_id`` links *several*
  events), so an event's key is a digest of its trace id, type, time, user, resource,
  result and error code. Keys are remembered while their event can still be re-read (its
  time is inside the overlap), at most ``user_events.dedupe_max_keys`` (the oldest go
  first, logged once). Two events identical in all of these within one second count once.
* **Bounded.** At most ``user_events.max_events_per_poll`` events a poll: past it the poll
  ends there, the listing cut is counted, and the window still advances (what was not
  read is lost, and said once in the log). ``event_type`` and ``error_code`` are capped
  (``max_event_types``, ``max_error_codes``), then ``other`` and the overflow counter.

User names, addresses and messages never become labels. Login *failures* stay owned by the
connection records (``connection_failures_total``): see the README.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from exporter.clock import Clock
from exporter.config.settings import UserEventsConfig
from exporter.sources.base import next_version
from exporter.sources.fleet_common import FleetClient, FleetSink, FleetSource, flag
from exporter.sources.labels import OTHER, admit, bounded_text
from exporter.timeutil import fmt_seconds, parse_time

API = "user_events"
CAP_KEY = "user_events.max_events_per_poll"
MAX_WINDOW_S = 29 * 86400.0  # inside the API's 30 days, with a day of margin for clocks


@dataclass(frozen=True)
class UserEventsSnapshot:
    events: tuple[tuple[tuple[str, str], int], ...]  # ((event_type, result), events)
    failures: tuple[tuple[tuple[str, str], int], ...]  # ((event_type, error_code), events)
    overflow: int
    dedupe_keys: int
    version: int = field(default_factory=next_version, compare=False)


def event_key(raw: dict[str, object]) -> bytes:
    parts = (
        raw.get("event_trace_id"),
        raw.get("event_type"),
        raw.get("event_time"),
        raw.get("username"),
        raw.get("resource_id"),
        raw.get("is_success"),
        raw.get("error_code"),
    )
    return hashlib.blake2b(repr(parts).encode("utf-8", "replace"), digest_size=12).digest()


class UserEventsSource(FleetSource[UserEventsConfig]):
    """Polls user events incrementally and keeps exact counters."""

    name = "user_events"
    apis: tuple[str, ...] = (API,)

    def __init__(self, client: FleetClient, config: UserEventsConfig, clock: Clock, sink: FleetSink) -> None:
        """``lookback`` and ``dedupe_max_keys`` are read here only."""
        super().__init__(client, config, clock, sink)
        self.horizon = float(int(clock.time() - config.lookback))
        self._last_end: float | None = None
        self._keys: OrderedDict[bytes, float] = OrderedDict()  # key -> event time, oldest first
        self._max_keys = config.dedupe_max_keys
        self._events: Counter[tuple[str, str]] = Counter()
        self._failures: Counter[tuple[str, str]] = Counter()
        self._types: set[str] = set()
        self._codes: set[str] = set()
        self._overflow = 0
        self.snapshot: UserEventsSnapshot = self._freeze()

    def window(self, now: float) -> tuple[float, float]:
        start = (
            self.horizon
            if self._last_end is None
            else max(self._last_end - self.config.overlap, self.horizon)
        )
        end = float(int(now))  # never later than now: the API refuses a future end
        return min(max(start, end - MAX_WINDOW_S), end - 1.0), end

    def refresh(self) -> None:
        cfg = self.config
        if not cfg.enabled:
            return
        with self._lock:
            self.notes.begin()
            start, end = self.window(self._clock.time())
            params = {"start_time": fmt_seconds(start), "end_time": fmt_seconds(end)}
            try:
                listing = self._client.listing(
                    API,
                    "items",
                    params,
                    total_key="count",
                    max_items=cfg.max_events_per_poll,
                    cap_key=CAP_KEY,
                )
                for page in listing:
                    for raw in page.items:
                        self._ingest(raw, cfg)
                if listing.truncated:
                    self.notes.note(
                        f"events past {listing.cap} not counted", f"window from {params['start_time']}"
                    )
            finally:
                fresh = self._freeze()
                if fresh != self.snapshot:
                    self.snapshot = fresh
            self._last_end = end
            self._forget(max(end - cfg.overlap, self.horizon))
            self.notes.end()

    def _ingest(self, raw: dict[str, object], cfg: UserEventsConfig) -> None:
        at = parse_time(raw.get("event_time"))
        success = flag(raw.get("is_success"))
        event_type = bounded_text(raw.get("event_type"), 64)
        if at is None or success is None or not event_type:
            self._sink.invalid_response(API)
            return
        key = event_key(raw)
        if key in self._keys:
            return
        self._keys[key] = at
        if len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)
            self.notes.note(
                "dedupe keys full", "the oldest keys are forgotten early; raise user_events.dedupe_max_keys"
            )
        if at < self.horizon:
            return  # before the process start minus lookback: remembered, not counted
        if not admit(event_type, self._types, cfg.max_event_types):
            event_type = OTHER
            self._overflow += 1
        self._events[(event_type, "success" if success else "failure")] += 1
        if not success:
            code = bounded_text(raw.get("error_code"), 64) or "unknown"
            if not admit(code, self._codes, cfg.max_error_codes):
                code = OTHER
                self._overflow += 1
            self._failures[(event_type, code)] += 1

    def _forget(self, next_start: float) -> None:
        """Keys of events before the next window's start can never be read again."""
        oldest = next_start - 60.0  # a minute of slack: an event time the API rounds
        stale = [k for k, at in self._keys.items() if at < oldest]
        for k in stale:
            del self._keys[k]

    def _freeze(self) -> UserEventsSnapshot:
        return UserEventsSnapshot(
            tuple(sorted(self._events.items())),
            tuple(sorted(self._failures.items())),
            self._overflow,
            len(self._keys),
        )
