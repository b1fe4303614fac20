"""Key desktop events: counters by desktop, event type, event id and level.

A refresh lists the screen recordings that started within ``events.recordings_window``
(``GET /v2/{project_id}/screen-records``, ``yyyy-MM-dd HH:mm:ss`` UTC window, newest
first, paged, at most ``events.max_recordings``), then reads the operations of each
recording not yet done (``GET .../screen-records/{record_id}/os-operations``, paged),
least recently polled first and newest first among equals, until
``events.max_calls_per_cycle`` calls were made: a backlog takes several refreshes, and
the client's budget stays the hard limit.

Nothing documents the order ``os-operations`` returns and it has no sort parameter, so
no offset can mark "read so far": every visit reads a recording's operations in full
and counts each one once by a stable key (its ``id``, else a hash of the fields that
identify it), remembered per recording while it may still change. A recording is done
(read one last time, then remembered in a TTL set that outlives the window and never
read again) once it is ``UPLOAD_COMPLETED``, ``REC_FAILED`` or ``UPLOAD_FAILED``, or
``REC_COMPLETED`` for :data:`GRACE` seconds without an upload starting (operations can
still arrive while it uploads). Everything else (``RECORDING``, ``UPLOADING``, unknown)
is live and re-read at every visit: ``ceil(operations / 100)`` calls (both APIs take at
most 100 items a page: see :data:`PAGE`).

Memory is bounded: at most ``events.max_operations_per_recording`` operations are read (and
keys kept) per recording, and :data:`MAX_KEYS` keys in all (about 80 bytes each: some 40 MB
at the cap). An operation that finds its recording's set full is not counted (never counted
twice); the source logs that once per state change. A recording whose operations the
upstream refuses is skipped for that refresh and logged once per change; a refresh in which
every recording read was refused fails (``up`` 0) after publishing what it counted.

Start-up: counters start at 0; operations older than process start minus
``events.lookback`` are consumed but not counted, and a recording that was done before
then is marked done without a call. Each refresh ends by swapping in an immutable
:class:`EventsSnapshot`; :mod:`exporter.exposition.events` renders it. Parsing and
bounded label values live in :mod:`exporter.sources.event_records`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from cachetools import TTLCache

from exporter.clock import Clock
from exporter.config.settings import Config, EventsConfig
from exporter.constraints import page_limit
from exporter.errors import ClientRequestError, InvalidResponseError
from exporter.sources.base import InvalidSink, Scope, SourceHealth, next_version
from exporter.sources.conditions import RefreshConditions, not_found
from exporter.sources.event_records import (
    EVENT_IDS,
    EVENT_LEVELS,
    EVENT_TYPES,
    FINAL_STATUSES,
    LABELS,
    LIVE_STATUSES,
    LabelValues,
    Recording,
    desktop_id_label,
    parse_recording,
)
from exporter.timeutil import fmt_space, plausible_time
from exporter.upstream.paging import Page, Params

log = logging.getLogger(__name__)

LIST_API = "screen_records"
OPS_API = "os_operations"
# The largest `limit` both APIs accept: 100 (the strictest of their documented ranges).
PAGE = min(page_limit(LIST_API), page_limit(OPS_API))
OPS_CAP_KEY = "events.max_operations_per_recording"  # also bounds the keys kept per recording
RECORDINGS_CAP_KEY = "events.max_recordings"
MAX_KEYS = 500_000  # operation keys remembered over all recordings
MAX_TRACKED = 1_000_000  # recordings remembered (in progress, and done)
GRACE = 600.0  # seconds a REC_COMPLETED recording is re-read for an upload to start
CAP_SHARE = 0.8  # default per-refresh call cap: this share of the os_operations budget
DONE_STATUSES = frozenset({"UPLOAD_COMPLETED", "REC_FAILED", "UPLOAD_FAILED"})
SETTLING = "REC_COMPLETED"
# Fields that identify an operation without an id (none of them changes later).
_KEY_FIELDS: tuple[str, ...] = (
    "operation_time",
    "event_type",
    "event_id",
    "event_level",
    "desktop_id",
    "event_data",
)
_KEY_FIELDS += ("relative_start_time", "username", "id")


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


def operation_key(raw: Mapping[str, Any]) -> int:
    """A stable 63-bit key of one operation: its ``id``, else the fields that identify it."""
    op_id = raw.get("id")
    if isinstance(op_id, str) and op_id.strip():
        ident = "i:" + op_id.strip()
    else:
        ident = "f:" + json.dumps([str(raw.get(f)) for f in _KEY_FIELDS])
    digest = hashlib.blake2b(ident.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass
class _Progress:
    """What was seen of one recording not yet done."""

    polled_at: float = -math.inf  # monotonic time of the last read
    settling_since: float | None = None  # monotonic time first seen REC_COMPLETED
    seen: set[int] = field(default_factory=set)  # operation keys
    full: bool = False  # an operation found the key set full (logged once)


def settled(rec: Recording, prog: _Progress | None, now: float, mono: float) -> bool:
    """True once no more operations can arrive: done statuses, or REC_COMPLETED for GRACE
    seconds (from its end time, else from when it was first seen so)."""
    status = rec.status.upper()
    if status in DONE_STATUSES:
        return True
    if status != SETTLING:
        return False
    if rec.end is not None:
        return now - rec.end >= GRACE
    return prog is not None and prog.settling_since is not None and mono - prog.settling_since >= GRACE


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
    scope: Scope = "project"  # recordings are per project: a sharded project counts them once

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
        self.health = SourceHealth(self.name, clock)
        cfg = config
        self.cutoff = clock.time() - cfg.lookback  # older operations are never counted
        self._ttl = 0.0
        self._progress: TTLCache[str, _Progress] = TTLCache(maxsize=1, ttl=1)
        self._done: TTLCache[str, bool] = TTLCache(maxsize=1, ttl=1)
        self._resize(cfg.recordings_window)
        self._keys = 0  # operation keys held over all recordings in progress
        self._full = False  # whether the last refresh met a full key set (logged on change)
        self._full_now = False
        self._bad = False  # whether the last refresh met invalid items (logged on change)
        self._bad_now = 0
        self._counts: dict[tuple[str, ...], int] = {}  # (desktop_id, type, id, level)
        self._types = LabelValues({v: v for v in EVENT_TYPES})
        self._ids = LabelValues({v: v for v in EVENT_IDS})
        self._levels = LabelValues(EVENT_LEVELS)
        self._statuses = LabelValues({v: v for v in LIVE_STATUSES + FINAL_STATUSES})
        self._allowed_types: frozenset[str] = frozenset()
        self._allowed_levels: frozenset[str] = frozenset()
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

    def _resize(self, window: float) -> None:
        """(Re)build the TTL sets so remembered recordings outlive the listing window."""
        ttl = 2.0 * window
        if ttl == self._ttl:
            return
        progress: TTLCache[str, _Progress] = TTLCache(MAX_TRACKED, ttl, timer=self._clock.monotonic)
        done: TTLCache[str, bool] = TTLCache(MAX_TRACKED, ttl, timer=self._clock.monotonic)
        progress.update(self._progress.items())
        done.update(self._done.items())
        self._progress, self._done, self._ttl = progress, done, ttl

    @property
    def keys_held(self) -> int:
        """Operation keys remembered now (over all recordings not yet done)."""
        return self._keys

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """List recordings, read new operations, publish. Raises UpstreamError on failure."""
        cfg = self.config
        if not cfg.enabled:
            return
        self._resize(cfg.recordings_window)
        self._progress.expire()
        self._keys = sum(len(p.seen) for p in self._progress.values())  # expired ones freed
        self._allowed_types = frozenset(self._types.canonical(t) for t in cfg.event_types)
        self._allowed_levels = frozenset(self._levels.canonical(v) for v in cfg.event_levels)
        now = self._clock.time()
        self._bad_now = 0
        self.conditions.begin()
        recordings = self._list(cfg, now)
        self._full_now = False
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
        if self._full_now != self._full:
            self._full = self._full_now
            if self._full:
                log.warning(
                    "events key set full: operations beyond it are not counted "
                    "keys=%d per_recording=%d max=%d",
                    self._keys,
                    cfg.max_operations_per_recording,
                    MAX_KEYS,
                )
            else:
                log.info("events key set has room again keys=%d", self._keys)
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

    def _priority(self, rec: Recording) -> tuple[float, float]:
        prog = self._progress.get(rec.record_id)
        return (prog.polled_at if prog else -math.inf, -(rec.start or 0.0))

    def _work(self, cfg: EventsConfig, recordings: list[Recording]) -> None:
        now, mono = self._clock.time(), self._clock.monotonic()
        pending = []
        for rec in recordings:
            if rec.record_id in self._done:
                continue
            if (
                rec.final
                and rec.end is not None
                and rec.end < self.cutoff - GRACE
                and rec.record_id not in self._progress
            ):
                self._finish(rec.record_id)  # done before the cutoff: nothing to count
                continue
            pending.append(rec)
        pending.sort(key=self._priority)
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
                    self._finish(rec.record_id)
                    self.conditions.item_ok()
                else:
                    self.conditions.item_failed(rec.record_id, e)
            else:
                self.conditions.item_ok()
        if (left > 0) != (self.backlog > 0):  # log the start and the end of a backlog
            log.info("events backlog recordings=%d calls_per_refresh=%d", left, cap)
        self.backlog = left

    def _read(self, rec: Recording, now: float, mono: float) -> None:
        """Read every operation of a recording; mark it done when it can no longer change.

        Settled-ness is judged before the read, so the read that finishes a recording
        sees every operation that arrived up to its last status change.
        """
        prog = self._progress.get(rec.record_id)
        if prog is None:
            prog = _Progress()
            self._progress[rec.record_id] = prog
        if rec.status.upper() == SETTLING:
            prog.settling_since = mono if prog.settling_since is None else prog.settling_since
        else:
            prog.settling_since = None
        final = settled(rec, prog, now, mono)
        prog.polled_at = mono
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
            self._finish(rec.record_id)

    def _finish(self, record_id: str) -> None:
        self._done[record_id] = True
        prog = self._progress.pop(record_id, None)
        if prog is not None:
            self._keys -= len(prog.seen)

    def _first_sight(self, prog: _Progress, key: int) -> bool | None:
        """True the first time ``key`` is seen, False after; None when there is no room."""
        if key in prog.seen:
            return False
        if len(prog.seen) >= self.config.max_operations_per_recording or self._keys >= MAX_KEYS:
            prog.full = self._full_now = True
            return None
        prog.seen.add(key)
        self._keys += 1
        return True

    def _consume(self, rec: Recording, prog: _Progress, raw: Mapping[str, Any]) -> None:
        """Count one operation if it is new, valid, recent enough and not filtered out.

        Invalid operations are keyed too, so each is counted as invalid once.
        """
        first = self._first_sight(prog, operation_key(raw))
        if not first:
            return
        op_id = raw.get("id")
        when = plausible_time(raw.get("operation_time"), self._clock.time())
        if not isinstance(op_id, str) or not op_id.strip() or when is None:
            self._invalid.invalid_response(OPS_API)
            self._bad_now += 1
            return
        if when < self.cutoff:
            return
        etype, eid, level = raw.get("event_type"), raw.get("event_id"), raw.get("event_level")
        if self._allowed_types and self._types.canonical(etype) not in self._allowed_types:
            return
        if self._allowed_levels and self._levels.canonical(level) not in self._allowed_levels:
            return
        did = desktop_id_label(raw.get("desktop_id"), rec.desktop_id)
        key = (did, self._types(etype), self._ids(eid), self._levels(level))
        self._counts[key] = self._counts.get(key, 0) + 1

    def _publish(self, cfg: EventsConfig, recordings: list[Recording], now: float) -> None:
        by_status = dict.fromkeys(LIVE_STATUSES + FINAL_STATUSES, 0)
        for rec in recordings:
            label = self._statuses(rec.status)
            by_status[label] = by_status.get(label, 0) + 1
        counts: dict[tuple[str, ...], int]
        if cfg.desktop_id_label:
            labels, counts = LABELS, dict(self._counts)
        else:
            labels, counts = LABELS[1:], {}
            for key, n in self._counts.items():
                counts[key[1:]] = counts.get(key[1:], 0) + n
        old = self.snapshot
        if (labels, counts, by_status) != (old.labels, old.counts, old.recordings):
            self.snapshot = EventsSnapshot(labels, MappingProxyType(counts), MappingProxyType(by_status), now)
