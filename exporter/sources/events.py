"""Key desktop events: counters by desktop, event type, event id and level.

A refresh lists the screen recordings that started within ``events.recordings_window``
(``GET /v2/{project_id}/screen-records``, ``yyyy-MM-dd HH:mm:ss`` UTC window, newest
first, paged, at most ``events.max_recordings``), then reads the operations of each
recording not yet done (``GET .../screen-records/{record_id}/os-operations``, paged),
in the order :mod:`exporter.sources.event_tracking` gives, until
``events.max_calls_per_cycle`` calls were made: a backlog takes several refreshes, and
the client's budget stays the hard limit. A live recording is re-read at every visit:
``ceil(operations / 100)`` calls (both APIs take at most 100 items a page: see
:data:`PAGE`); when a recording is done, how many keys are kept and how each operation is
counted once are the tracker's (:mod:`exporter.sources.event_tracking`) and the
counter's (:mod:`exporter.sources.event_counting`) rules.

An operation that finds its recording's key set full is not counted; the source logs
that once per state change. A recording whose operations the upstream refuses is skipped
for that refresh and logged once per change; a refresh in which every recording read was
refused fails (``up`` 0) after publishing what it counted.

Start-up: counters start at 0; operations older than process start minus
``events.lookback`` are consumed but not counted, and a recording that was done before
then is marked done without a call. Each refresh ends by swapping in an immutable
:class:`EventsSnapshot`; :mod:`exporter.exposition.events` renders it. Parsing and
bounded label values live in :mod:`exporter.sources.event_records`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from exporter.clock import Clock
from exporter.config.settings import Config, EventsConfig
from exporter.constraints import page_limit
from exporter.errors import ClientRequestError, InvalidResponseError
from exporter.sources.base import InvalidSink, next_version
from exporter.sources.conditions import RefreshConditions, not_found
from exporter.sources.event_counting import EventCounter, operation_key
from exporter.sources.event_records import LABELS, Recording, parse_recording
from exporter.sources.event_tracking import MAX_KEYS, Progress, RecordingTracker
from exporter.timeutil import fmt_space, plausible_time
from exporter.upstream.paging import Page, Params

log = logging.getLogger(__name__)

LIST_API = "screen_records"
OPS_API = "os_operations"
# The largest `limit` both APIs accept: 100 (the strictest of their documented ranges).
PAGE = min(page_limit(LIST_API), page_limit(OPS_API))
OPS_CAP_KEY = "events.max_operations_per_recording"  # also bounds the keys kept per recording
RECORDINGS_CAP_KEY = "events.max_recordings"
CAP_SHARE = 0.8  # default per-refresh call cap: this share of the os_operations budget


class Pages(Protocol):
    """A listing: its pages as they arrive, the pages read, and whether a cap cut it."""

    truncated: bool
    cap: str
    calls: int

    def __iter__(self) -> Iterator[Page]: ...


class OperationsClient(Protocol):
    def listing(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        *,
        limit: int | None = None,
        max_items: int | None = None,
        cap_key: str = "",
    ) -> Pages: ...


@dataclass(frozen=True)
class EventsSnapshot:
    labels: tuple[str, ...]
    counts: Mapping[tuple[str, ...], int]
    recordings: Mapping[str, int]  # status label -> recordings in the window
    taken_at: float
    version: int = field(default_factory=next_version)


class EventsSource:
    """Counts key desktop events exactly once; see the module docstring for the flow."""

    name = "events"
    apis: tuple[str, ...] = (LIST_API, OPS_API)

    def __init__(
        self,
        client: OperationsClient,
        config: EventsConfig,
        clock: Clock,
        invalid: InvalidSink,
        budget_per_minute: Callable[[], float],
        page_size: int = PAGE,
    ) -> None:
        """``lookback`` is read here only; the other keys apply from the
        next refresh after :meth:`reconfigure`."""
        self._client = client
        self.config = config
        self._clock = clock
        self._invalid = invalid
        self._rate = budget_per_minute
        self._page = max(1, min(page_size, PAGE))
        self.cutoff = clock.time() - config.lookback  # older operations are never counted
        self._tracker = RecordingTracker(clock, config.recordings_window)
        self._counter = EventCounter()
        self._full = False  # whether the last refresh met a full key set (logged on change)
        self._bad = False  # whether the last refresh met invalid items (logged on change)
        self._bad_now = 0
        self._calls = 0
        self.backlog = 0  # recordings left unread by the last refresh
        self.conditions = RefreshConditions(self.name, "screen recording")
        self.snapshot = EventsSnapshot(LABELS, MappingProxyType({}), MappingProxyType({}), clock.time())

    # ------------------------------------------------------------------ scheduling

    def interval(self) -> float:
        return self.config.interval

    def reconfigure(self, config: Config) -> None:
        self.config = config.events

    def cycle_cap(self, cfg: EventsConfig) -> int:
        """os-operations calls one refresh may make."""
        if cfg.max_calls_per_cycle:
            return cfg.max_calls_per_cycle
        return max(1, int(CAP_SHARE * self._rate() * cfg.interval / 60.0))

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """List recordings, read new operations, publish. Raises UpstreamError on failure."""
        cfg = self.config
        if not cfg.enabled:
            return
        self._tracker.begin(cfg.recordings_window)
        self._counter.configure(cfg)
        now = self._clock.time()
        self._bad_now = 0
        self.conditions.begin()
        recordings = self._list(cfg, now)
        try:
            self._work(cfg, recordings)
        finally:  # publish what was counted, even when a call failed midway
            self._publish(cfg, recordings, now)
        every_one_failed = self.conditions.end()
        if (self._bad_now > 0) != self._bad:
            self._bad = self._bad_now > 0
            if self._bad:
                log.warning(
                    "screen recordings or operations with invalid values skipped items=%d",
                    self._bad_now,
                )
            else:
                log.info("screen recordings and operations valid again")
        if self._tracker.met_full != self._full:
            self._full = self._tracker.met_full
            if self._full:
                log.warning(
                    "events key set full: operations beyond it are not counted "
                    "keys=%d per_recording=%d max=%d",
                    self._tracker.keys,
                    cfg.max_operations_per_recording,
                    MAX_KEYS,
                )
            else:
                log.info("events key set has room again keys=%d", self._tracker.keys)
        if every_one_failed is not None:  # nothing was read: a failed refresh, not a quiet one
            raise every_one_failed

    def _list(self, cfg: EventsConfig, now: float) -> list[Recording]:
        params = {
            "start_time": fmt_space(now - cfg.recordings_window),
            "end_time": fmt_space(now),
            "sort_field": "start_time",
            "sort_type": "desc",
        }
        found: dict[str, Recording] = {}
        listing = self._client.listing(
            LIST_API,
            "screen_records",
            params,
            limit=self._page,
            max_items=cfg.max_recordings,
            cap_key=RECORDINGS_CAP_KEY,
        )
        for page in listing:
            for raw in page.items:
                rec = parse_recording(raw)
                if rec is None:
                    self._invalid.invalid_response(LIST_API)
                    self._bad_now += 1
                else:
                    found.setdefault(rec.record_id, rec)  # pages may shift while we list
        if listing.truncated:
            self.conditions.truncated(LIST_API, listing.cap, f"{len(found)} recordings")
        return list(found.values())

    def _work(self, cfg: EventsConfig, recordings: list[Recording]) -> None:
        now, mono = self._clock.time(), self._clock.monotonic()
        pending = self._tracker.pending(recordings, self.cutoff)
        cap = self.cycle_cap(cfg)
        self._calls = 0
        left = 0
        for i, rec in enumerate(pending):
            if self._calls >= cap:
                left = len(pending) - i
                break
            try:
                self._read(rec, now, mono)
            except (ClientRequestError, InvalidResponseError) as e:  # this recording only
                if not_found(e):  # deleted upstream: nothing more to read
                    self._tracker.finish(rec.record_id)
                    self.conditions.item_ok()
                else:
                    self.conditions.item_failed(rec.record_id, e)
            else:
                self.conditions.item_ok()
        if (left > 0) != (self.backlog > 0):  # log the start and the end of a backlog
            log.info("events backlog recordings=%d calls_per_refresh=%d", left, cap)
        self.backlog = left

    def _read(self, rec: Recording, now: float, mono: float) -> None:
        """Read every operation of a recording; mark it done when it can no longer change."""
        prog, final = self._tracker.visit(rec, now, mono)
        cfg = self.config
        listing = self._client.listing(
            OPS_API,
            "operations",
            None,
            {"record_id": rec.record_id},
            limit=self._page,
            max_items=cfg.max_operations_per_recording,
            cap_key=OPS_CAP_KEY,
        )
        try:
            for page in listing:
                for raw in page.items:
                    self._consume(rec, prog, raw)
        finally:  # a failing call was a call too
            self._calls += max(1, listing.calls)
        if listing.truncated:
            self.conditions.truncated(OPS_API, listing.cap, f"record_id={rec.record_id}")
        if final:
            self._tracker.finish(rec.record_id)

    def _consume(self, rec: Recording, prog: Progress, raw: Mapping[str, Any]) -> None:
        """Count one operation if it is new, valid, recent enough and not filtered out.

        Invalid operations are keyed too, so each is counted as invalid once.
        """
        key = operation_key(raw)
        if not self._tracker.first_sight(prog, key, self.config.max_operations_per_recording):
            return
        op_id = raw.get("id")
        when = plausible_time(raw.get("operation_time"), self._clock.time())
        if not isinstance(op_id, str) or not op_id.strip() or when is None:
            self._invalid.invalid_response(OPS_API)
            self._bad_now += 1
            return
        if when < self.cutoff:
            return
        self._counter.count(raw, rec.desktop_id)

    def _publish(self, cfg: EventsConfig, recordings: list[Recording], now: float) -> None:
        by_status = self._counter.by_status(recordings)
        labels, counts = self._counter.counts(cfg.desktop_id_label)
        old = self.snapshot
        if (labels, counts, by_status) != (old.labels, old.counts, old.recordings):
            self.snapshot = EventsSnapshot(labels, MappingProxyType(counts), MappingProxyType(by_status), now)
