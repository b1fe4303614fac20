"""Connection records: attempts, failures and latency histograms, every record counted once.

Source: ``GET /v2/{project_id}/connections/desktops`` (``connections.api: v2``) or the legacy
``GET /v1.0/{project_id}/desktop-users/login-records`` (``v1.0``); paged, filtered by
``start_time``/``end_time`` at minute precision. This module chooses the windows it reads
(README explains the counting rules too):

* **Window** ``[max(last_end - overlap, horizon), now]``, start floored and end ceiled to the
  minute; the start never moves back. The overlap lets late-arriving records in.
* **Horizon** ``= process start - lookback``: older records are never counted (their keys
  are remembered), so a restart is an ordinary counter reset, never a spike.
* **Pages are applied as they arrive**; after a failed page the next poll repeats the
  window and the remembered keys keep the records already applied from counting twice.
* **Splitting**: a window with more records than ``connections.max_records_per_window`` is
  read in smaller windows (see :meth:`ConnectionsSource.refresh`).

How each record is deduplicated and counted is :mod:`exporter.sources.connection_counts`';
:mod:`exporter.exposition.connections` renders the immutable snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Protocol

from exporter.clock import Clock
from exporter.config.settings import Config, ConnectionsConfig
from exporter.sources.base import InvalidSink
from exporter.sources.conditions import RefreshConditions
from exporter.sources.connection_counts import ConnectionsSnapshot, RecordCounter
from exporter.sources.connection_records import ceil_minute, floor_minute
from exporter.timeutil import fmt_minutes
from exporter.upstream.paging import Page, Params

log = logging.getLogger(__name__)

API_BY_VERSION = {"v2": "connections", "v1.0": "login_records"}
ITEMS_KEY = "records"
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


class ConnectionsSource:
    """Polls connection records incrementally and keeps exact counters and histograms."""

    name = "connections"
    apis: tuple[str, ...] = tuple(API_BY_VERSION.values())

    def __init__(
        self, client: RecordPager, config: ConnectionsConfig, clock: Clock, invalid: RecordSink
    ) -> None:
        """``lookback`` and ``dedupe_max_keys`` are read here only; the other
        keys apply from the next poll after :meth:`reconfigure`."""
        self._client = client
        self.config = config
        self._clock = clock
        self._invalid = invalid
        self._lock = threading.Lock()
        cfg = config
        self.started_at = clock.time()
        self.horizon = self.started_at - cfg.lookback
        self._last_end: float | None = None
        self._span: float | None = None  # after a split: seconds past the last end a window reads
        self.conditions = RefreshConditions(self.name, "connection record")
        self._api = cfg.api
        self._counts = RecordCounter(clock, invalid, floor_minute(self.horizon), cfg.dedupe_max_keys)
        self._counts.set_labels(tuple(cfg.extra_labels))
        self.snapshot: ConnectionsSnapshot = self._counts.freeze()

    # ----------------------------------------------------------------- config

    def interval(self) -> float:
        return self.config.interval

    def reconfigure(self, config: Config) -> None:
        self.config = config.connections

    def _apply_config(self, cfg: ConnectionsConfig) -> None:
        if tuple(dict.fromkeys(cfg.extra_labels)) != self._counts.label_names:
            log.info("connection labels changed, counters restart labels=%s", ",".join(cfg.extra_labels))
            self._counts.set_labels(tuple(cfg.extra_labels))
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
        start = max(floor_minute(lo), self._counts.window_start)
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
            self._counts.begin_poll()
            try:
                for _ in range(MAX_SPLITS):
                    start, end = self.window(self._clock.time(), cfg.overlap)
                    self._counts.start_window(start)
                    if self._poll(api, start, end, cfg) != "split":
                        break
                self._counts.log_invalid_change(api)
            finally:
                fresh = self._counts.freeze()
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
                self._counts.ingest(api, raw, end, cfg.max_label_sets, self.horizon)
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
