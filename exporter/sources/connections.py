"""Connection records: attempts, failures and latency histograms, every record counted once.

Source: ``GET /v2/{project_id}/connections/desktops`` (``connections.api: v2``) or the legacy
``GET /v1.0/{project_id}/desktop-users/login-records`` (``v1.0``); paged, filtered by
``start_time``/``end_time`` at minute precision. Counting rules (README explains them too):

* **Window** ``[max(last_end - overlap, horizon), now]``, start floored and end ceiled to the
  minute; the start never moves back. The overlap lets late-arriving records in.
* **Horizon** ``= process start - lookback``: older records are never counted (their keys
  are remembered), so a restart is an ordinary counter reset, never a spike.
* **Dedupe** by ``transaction_id``, else a SHA-256 of the fields that identify an attempt
  and never change. Keys live in a ``TLRUCache`` whose clock is the *window start*, not wall
  time: a key expires once the window start passes ``max(record start, end of the last
  window that returned it) + 1 min``, exactly when no later poll can return it, however long
  an outage stretches the next window. ``dedupe_max_keys`` bounds memory (LRU eviction).
* **Per record** the attempt is counted when first seen; the failure once, when
  ``connection_failure_reason`` first shows up non-empty; setup duration and rtt once each,
  when first present on a record that did not fail. So an attempt first seen in progress
  and completed later is still one attempt.
* **Pages are applied as they arrive**; after a failed page the next poll repeats the
  window and the remembered keys keep the records already applied from counting twice.

Labels are bounded (see :mod:`exporter.sources.connection_records`, which also holds the
record keys and parsing); overflow into ``other`` is counted. :mod:`exporter.exposition.connections`
renders the immutable snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from cachetools import TLRUCache

from exporter.clock import Clock
from exporter.config.settings import Config, ConnectionsConfig
from exporter.sources.base import InvalidSink, Scope, SourceHealth, next_version
from exporter.sources.conditions import RefreshConditions
from exporter.sources.connection_records import (
    MAX_REASON_CODES,
    RTT_BUCKETS,
    SETUP_BUCKETS,
    Histogram,
    HistogramData,
    ceil_minute,
    floor_minute,
    is_failure,
    label_value,
    milliseconds,
    normalise_reason,
    reason_code,
    record_key,
)
from exporter.sources.labels import OTHER, admit
from exporter.timeutil import fmt_minutes, parse_time, plausible_time
from exporter.upstream.paging import Page, Params

log = logging.getLogger(__name__)

API_BY_VERSION = {"v2": "connections", "v1.0": "login_records"}
ITEMS_KEY = "records"
MARGIN = 60.0  # the API filters at minute precision
MAX_LOGGED_REASONS = 20  # distinct uncoded failure texts logged (once each)
CAP_KEY = "connections.max_records_per_window"
MAX_SPLITS = 24  # halvings in one poll: 30 days down to a minute takes 16


class Pages(Protocol):
    stopped: bool

    def __iter__(self) -> Iterator[Page]: ...


class RecordPager(Protocol):
    def listing(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        *,
        max_items: int | None = None,
        until_empty: bool = ...,
    ) -> Pages: ...


class RecordSink(InvalidSink, Protocol):
    def truncated(self, api: str, key: str) -> None: ...


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


class ConnectionsSource:
    """Polls connection records incrementally and keeps exact counters and histograms."""

    name = "connections"
    apis: tuple[str, ...] = tuple(API_BY_VERSION.values())
    scope: Scope = "project"  # records are per project: a sharded project counts them once

    def __init__(
        self, client: RecordPager, config: ConnectionsConfig, clock: Clock, invalid: RecordSink
    ) -> None:
        """``lookback`` and ``dedupe_max_keys`` are read here only; the other
        keys apply from the next poll after :meth:`reconfigure`."""
        self._client = client
        self.config = config
        self._clock = clock
        self._invalid = invalid
        self.health = SourceHealth(self.name, clock)
        self._lock = threading.Lock()
        cfg = config
        self.started_at = clock.time()
        self.horizon = self.started_at - cfg.lookback
        self._last_end: float | None = None
        self._span: float | None = None  # after a split: seconds past the last end a window reads
        self.conditions = RefreshConditions(self.name, "connection record")
        self._api = cfg.api
        self._window_start = floor_minute(self.horizon)  # the dedupe cache's clock
        self._seen: TLRUCache[str, _Seen] = TLRUCache(
            maxsize=cfg.dedupe_max_keys, ttu=lambda _k, v, _now: v.expires, timer=lambda: self._window_start
        )
        self._label_names: tuple[str, ...] = ()
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
        self._set_labels(tuple(cfg.extra_labels))
        self.snapshot = self._freeze()

    # ----------------------------------------------------------------- config

    def interval(self) -> float:
        return self.config.interval

    def reconfigure(self, config: Config) -> None:
        self.config = config.connections

    def _set_labels(self, names: tuple[str, ...]) -> None:
        self._label_names = tuple(dict.fromkeys(names))
        self._generation += 1
        self._connections = Counter()
        self._failures = Counter()
        self._label_sets = set()
        if not self._label_names:
            self._connections[()] = 0  # the series exists from the start

    def _apply_config(self, cfg: ConnectionsConfig) -> None:
        if tuple(dict.fromkeys(cfg.extra_labels)) != self._label_names:
            log.info("connection labels changed, counters restart labels=%s", ",".join(cfg.extra_labels))
            self._set_labels(tuple(cfg.extra_labels))
        if cfg.api != self._api:
            # Keys differ between the APIs: count only records newer than what was polled.
            if self._last_end is not None:
                self.horizon = max(self.horizon, self._last_end)
            log.info("connection records API changed api=%s horizon=%s", cfg.api, fmt_minutes(self.horizon))
            self._api = cfg.api

    # ---------------------------------------------------------------- polling

    def window(self, now: float, overlap: float) -> tuple[float, float]:
        """The next poll window ``(start, end)`` in epoch seconds, on minute boundaries.

        The start never moves back (not even when ``overlap`` grows on reload): keys of
        records before it may already be forgotten. After a window was too large for
        ``connections.max_records_per_window`` the end covers only ``span`` seconds past
        the last window's end (see :meth:`refresh`).
        """
        lo = self.horizon if self._last_end is None else max(self._last_end - overlap, self.horizon)
        start = max(floor_minute(lo), self._window_start)
        end = max(ceil_minute(now), start + 60.0)
        if self._span is not None:
            end = min(end, self._base(start) + self._span)
        return start, max(end, start + 60.0)

    def _base(self, start: float) -> float:
        """Where the part of a window not read before begins."""
        return start if self._last_end is None else max(self._last_end, start)

    def refresh(self) -> None:
        """One poll; records are applied page by page as they arrive (bounded memory).

        A page that fails raises UpstreamError: what was applied stays counted (and its
        keys remembered) and the next poll repeats the window, so nothing is lost or
        counted twice. A window with more records than ``connections.max_records_per_window``
        is split, never retried whole: the new part is halved (at once when the first page's
        ``total_count`` says so, else from the next poll, the records read so far staying
        counted) down to one minute, and the span doubles again after each window that fits.
        A one-minute window past the cap is read up to the cap, marked, and passed. The lock
        serialises polls; scrapes read ``snapshot`` without it.
        """
        cfg = self.config
        if not cfg.enabled:
            return
        with self._lock:
            self._apply_config(cfg)
            self.conditions.begin()
            api = API_BY_VERSION[cfg.api]
            self._poll_invalid = 0
            try:
                for _ in range(MAX_SPLITS):
                    start, end = self.window(self._clock.time(), cfg.overlap)
                    self._window_start = start
                    self._seen.expire()
                    if self._poll(api, start, end, cfg) != "split":
                        break
                self._log_invalid_change(api)
            finally:
                fresh = self._freeze()
                if fresh != self.snapshot:  # an unchanged poll keeps the rendered exposition
                    self.snapshot = fresh
            self.conditions.end()

    def _poll(self, api: str, start: float, end: float, cfg: ConnectionsConfig) -> str:
        """Read one window: "done" (it advances), "split" (too large, known from its first
        page: ask a smaller one now) or "later" (too large, found while reading)."""
        params = {"start_time": fmt_minutes(start), "end_time": fmt_minutes(end)}
        cap = cfg.max_records_per_window
        splittable = end - self._base(start) > 60.0
        # The v1.0 list publishes no maximum page size and its answer carries no total: a
        # server answering fewer records than asked would end a short-page listing at its
        # first page, so only an empty page ends it (one call more per poll).
        until_empty = api == API_BY_VERSION["v1.0"]
        listing = self._client.listing(api, ITEMS_KEY, params, max_items=cap, until_empty=until_empty)
        n = 0
        for page in listing:
            for raw in page.items:
                self._ingest(api, raw, end, cfg.max_label_sets)
            n += len(page.items)
            if page.offset == 0 and page.total is not None and page.total > cap and splittable:
                self._split(start, end, f"total_count={page.total}")
                return "split"
        log.debug("connection records polled api=%s start=%s records=%d", api, params["start_time"], n)
        if listing.stopped:  # at the cap (or the page cap) with more left
            if splittable:
                self._split(start, end, f"records_read={n}")
                return "later"
            self._invalid.truncated(api, CAP_KEY)
            self.conditions.truncated(api, CAP_KEY, f"{n} records in one minute from {params['start_time']}")
        self._last_end = end
        if self._span is not None:
            self._span *= 2.0
            if self._base(start) + self._span >= ceil_minute(self._clock.time()):
                self._span = None
                log.info("connection records caught up after a split window api=%s", api)
        return "done"

    def _split(self, start: float, end: float, why: str) -> None:
        base = self._base(start)
        span = max(60.0, floor_minute((end - base) / 2.0))
        if self._span is None:
            log.warning(
                "connection records window too large for connections.max_records_per_window, "
                "reading it in smaller windows start=%s end=%s span_seconds=%.0f reason=%s",
                fmt_minutes(start),
                fmt_minutes(end),
                span,
                why,
            )
        self._span = span

    def _bad(self, api: str) -> None:
        self._invalid.invalid_response(api)
        self._poll_invalid += 1

    def _log_invalid_change(self, api: str) -> None:
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

    def _ingest(self, api: str, raw: dict[str, Any], window_end: float, max_sets: int) -> None:
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
                counted = start >= self.horizon
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
        if not self._label_names:
            return ()
        values = tuple(label_value(raw.get(name)) for name in self._label_names)
        if admit(values, self._label_sets, max_sets):
            return values
        self._overflow += 1
        return (OTHER,) * len(values)

    def _bounded_code(self, code: str) -> str:
        if admit(code, self._reason_codes, MAX_REASON_CODES):
            return code
        self._overflow += 1
        return OTHER

    def _freeze(self) -> ConnectionsSnapshot:
        return ConnectionsSnapshot(
            self._label_names,
            MappingProxyType(dict(self._connections)),
            MappingProxyType(dict(self._failures)),
            self._network.freeze(),
            self._e2e.freeze(),
            self._setup.freeze(),
            self._overflow,
            len(self._seen),
        )
