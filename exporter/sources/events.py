"""Key desktop events: counters by desktop, event type, event id and level.

A refresh lists the screen recordings that started within ``events.recordings_window``
(``GET /v2/{project_id}/screen-records``, ``yyyy-MM-dd HH:mm:ss`` UTC window, newest
first, paged, at most ``events.max_recordings``), then reads the operations of each
recording not yet done (``GET .../screen-records/{record_id}/os-operations``, paged),
least recently polled first and newest first among equals, until
``events.max_calls_per_cycle`` calls were made: a backlog takes several refreshes, and
the client's budget stays the hard limit.

Operations come in ``operation_time`` order, so new ones append. A live recording
(``RECORDING``, ``UPLOADING`` or an unknown status) is re-read at every refresh from its
stored offset minus a small overlap, deduplicated by operation id. A final one
(completed or failed) is read to the end once, then remembered in a TTL set that
outlives the window and never read again. Each operation is counted once.

Start-up: counters start at 0; operations older than process start minus
``events.lookback`` are consumed but not counted, and a final recording that ended
before then is marked done without a call. Each refresh ends by swapping in an
immutable :class:`EventsSnapshot`; :mod:`exporter.exposition.events` renders it.
Parsing and bounded label values live in :mod:`exporter.sources.event_records`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from cachetools import TTLCache

from exporter.clock import Clock
from exporter.config.settings import Config, EventsConfig
from exporter.errors import ClientRequestError, InvalidResponseError
from exporter.sources.base import InvalidSink, Scope, SourceHealth, next_version
from exporter.sources.event_records import (
    EVENT_IDS,
    EVENT_LEVELS,
    EVENT_TYPES,
    FINAL_STATUSES,
    LABELS,
    LIVE_STATUSES,
    LabelValues,
    Recording,
    count_or_none,
    desktop_id_label,
    parse_recording,
)
from exporter.timeutil import fmt_space, parse_time
from exporter.upstream.client import Params

log = logging.getLogger(__name__)

LIST_API = "screen_records"
OPS_API = "os_operations"
PAGE = 1000  # the largest `limit` both APIs accept
OVERLAP = 20  # operations re-read before a live recording's stored offset
SEEN_PER_RECORD = 10_000  # operation ids remembered per unfinished recording
MAX_TRACKED = 1_000_000  # recordings remembered (in progress, and done)
CAP_SHARE = 0.8  # default per-refresh call cap: this share of the os_operations budget


class OperationsClient(Protocol):
    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: object = None,
    ) -> dict[str, Any]: ...


@dataclass
class _Progress:
    """How far one unfinished recording was read."""

    offset: int = 0  # operations consumed
    polled_at: float = -math.inf  # monotonic time of the last read
    seen: dict[str, None] = field(default_factory=dict)  # operation ids, oldest first

    def first_sight(self, op_id: str) -> bool:
        if op_id in self.seen:
            return False
        self.seen[op_id] = None
        if len(self.seen) > SEEN_PER_RECORD:
            del self.seen[next(iter(self.seen))]
        return True


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
        """``enabled`` and ``lookback`` are read here only; the other keys apply from the
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
        self._counts: dict[tuple[str, ...], int] = {}  # (desktop_id, type, id, level)
        self._types = LabelValues({v: v for v in EVENT_TYPES})
        self._ids = LabelValues({v: v for v in EVENT_IDS})
        self._levels = LabelValues(EVENT_LEVELS)
        self._statuses = LabelValues({v: v for v in LIVE_STATUSES + FINAL_STATUSES})
        self._allowed_types: frozenset[str] = frozenset()
        self._allowed_levels: frozenset[str] = frozenset()
        self._calls = 0
        self.backlog = 0  # recordings left unread by the last refresh
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

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """List recordings, read new operations, publish. Raises UpstreamError on failure."""
        cfg = self.config
        if not cfg.enabled:
            return
        self._resize(cfg.recordings_window)
        self._allowed_types = frozenset(self._types.canonical(t) for t in cfg.event_types)
        self._allowed_levels = frozenset(self._levels.canonical(v) for v in cfg.event_levels)
        now = self._clock.time()
        recordings = self._list(cfg, now)
        try:
            self._work(cfg, recordings)
        finally:  # publish what was counted, even when a call failed midway
            self._publish(cfg, recordings, now)

    def _items(self, body: Mapping[str, Any], api: str, key: str) -> list[Any]:
        items = body.get(key)
        if not isinstance(items, list):
            self._invalid.invalid_response(api)
            raise InvalidResponseError(api, 200, "", f"missing list {key!r}")
        return items

    def _list(self, cfg: EventsConfig, now: float) -> list[Recording]:
        params = {
            "start_time": fmt_space(now - cfg.recordings_window),
            "end_time": fmt_space(now),
            "sort_field": "start_time",
            "sort_type": "desc",
        }
        page = min(self._page, cfg.max_recordings)
        found: dict[str, Recording] = {}
        offset = 0
        while offset < cfg.max_recordings:
            body = self._client.request(LIST_API, None, {**params, "offset": offset, "limit": page})
            items = self._items(body, LIST_API, "screen_records")
            for raw in items:
                rec = parse_recording(raw)
                if rec is None:
                    self._invalid.invalid_response(LIST_API)
                else:
                    found.setdefault(rec.record_id, rec)  # pages may shift while we list
            offset += len(items)
            total = count_or_none(body.get("total_count"))
            if len(items) < page or (total is not None and offset >= total):
                break
        return list(found.values())[: cfg.max_recordings]

    def _priority(self, rec: Recording) -> tuple[float, float]:
        prog = self._progress.get(rec.record_id)
        return (prog.polled_at if prog else -math.inf, -(rec.start or 0.0))

    def _work(self, cfg: EventsConfig, recordings: list[Recording]) -> None:
        pending = []
        for rec in recordings:
            if rec.record_id in self._done:
                continue
            if rec.final and rec.end is not None and rec.end < self.cutoff:
                self._finish(rec.record_id)  # ended before the cutoff: nothing to count
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
                self._read(rec, cap)
            except (ClientRequestError, InvalidResponseError) as e:  # this recording only
                if isinstance(e, ClientRequestError) and e.status == 404:  # deleted upstream
                    self._finish(rec.record_id)
                log.debug("skipping screen recording record_id=%s error=%s", rec.record_id, e)
        if (left > 0) != (self.backlog > 0):  # log the start and the end of a backlog
            log.info("events backlog recordings=%d calls_per_refresh=%d", left, cap)
        self.backlog = left

    def _read(self, rec: Recording, cap: int) -> None:
        """Read a recording's operations from its stored offset to the end (or the cap)."""
        prog = self._progress.get(rec.record_id)
        if prog is None:
            prog = _Progress()
            self._progress[rec.record_id] = prog
        prog.polled_at = self._clock.monotonic()
        offset = max(0, prog.offset - OVERLAP)
        while True:
            if self._calls >= cap:
                return
            self._calls += 1
            body = self._client.request(
                OPS_API, {"record_id": rec.record_id}, {"offset": offset, "limit": self._page}
            )
            items = self._items(body, OPS_API, "operations")
            for i, raw in enumerate(items):
                self._consume(rec, prog, raw, fresh=offset + i >= prog.offset)
            offset += len(items)
            prog.offset = max(prog.offset, offset)
            total = count_or_none(body.get("total_count"))
            if total is not None and total < prog.offset:  # the list shrank; ids still dedupe
                prog.offset = total
            if len(items) < self._page or (total is not None and offset >= total):
                break
        if rec.final:
            self._finish(rec.record_id)

    def _finish(self, record_id: str) -> None:
        self._done[record_id] = True
        self._progress.pop(record_id, None)

    def _consume(self, rec: Recording, prog: _Progress, raw: object, fresh: bool) -> None:
        """Count one operation if it is new, valid, recent enough and not filtered out.

        ``fresh`` is False for the overlap re-read before the stored offset: those items
        were validated (and any garbage counted) when first read.
        """
        op_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or not isinstance(op_id, str) or not op_id:
            if fresh:
                self._invalid.invalid_response(OPS_API)
            return
        if not prog.first_sight(op_id):
            return
        when = parse_time(raw.get("operation_time"))
        if when is None:
            self._invalid.invalid_response(OPS_API)
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
