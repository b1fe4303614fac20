"""Which screen recordings the events source reads, in which order, and when one is done.

A recording is done (read one last time, then remembered in a TTL set that outlives the
listing window and never read again) once it is ``UPLOAD_COMPLETED``, ``REC_FAILED`` or
``UPLOAD_FAILED``, or ``REC_COMPLETED`` for :data:`GRACE` seconds without an upload
starting (operations can still arrive while it uploads). Everything else (``RECORDING``,
``UPLOADING``, unknown) is live and re-read at every visit. Recordings not yet done are
read least recently polled first, newest first among equals.

Per recording not yet done the tracker keeps the keys of the operations seen, so each is
counted once. Memory is bounded: at most ``events.max_operations_per_recording`` keys per
recording and :data:`MAX_KEYS` in all (about 80 bytes each: some 40 MB at the cap); an
operation that finds its recording's set full is not counted (never counted twice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cachetools import TTLCache

from exporter.clock import Clock
from exporter.sources.event_records import Recording

MAX_KEYS = 500_000  # operation keys remembered over all recordings
MAX_TRACKED = 1_000_000  # recordings remembered (in progress, and done)
GRACE = 600.0  # seconds a REC_COMPLETED recording is re-read for an upload to start
DONE_STATUSES = frozenset({"UPLOAD_COMPLETED", "REC_FAILED", "UPLOAD_FAILED"})
SETTLING = "REC_COMPLETED"


@dataclass
class Progress:
    """What was seen of one recording not yet done."""

    polled_at: float = -math.inf  # monotonic time of the last read
    settling_since: float | None = None  # monotonic time first seen REC_COMPLETED
    seen: set[int] = field(default_factory=set)  # operation keys
    full: bool = False  # an operation found the key set full (logged once)


def settled(rec: Recording, prog: Progress | None, now: float, mono: float) -> bool:
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


class RecordingTracker:
    """The recordings in progress (with their operation keys) and the recordings done."""

    def __init__(self, clock: Clock, window: float) -> None:
        self._clock = clock
        self._ttl = 0.0
        self._progress: TTLCache[str, Progress] = TTLCache(maxsize=1, ttl=1)
        self.done: TTLCache[str, bool] = TTLCache(maxsize=1, ttl=1)
        self.resize(window)
        self.keys = 0  # operation keys held over all recordings in progress
        self.met_full = False  # an operation found a key set full since :meth:`begin`

    def resize(self, window: float) -> None:
        """(Re)build the TTL sets so remembered recordings outlive the listing window."""
        ttl = 2.0 * window
        if ttl == self._ttl:
            return
        progress: TTLCache[str, Progress] = TTLCache(MAX_TRACKED, ttl, timer=self._clock.monotonic)
        done: TTLCache[str, bool] = TTLCache(MAX_TRACKED, ttl, timer=self._clock.monotonic)
        progress.update(self._progress.items())
        done.update(self.done.items())
        self._progress, self.done, self._ttl = progress, done, ttl

    def begin(self, window: float) -> None:
        """Start a refresh: apply the window, forget expired recordings and free their keys."""
        self.resize(window)
        self._progress.expire()
        self.keys = sum(len(p.seen) for p in self._progress.values())
        self.met_full = False

    def pending(self, recordings: list[Recording], cutoff: float) -> list[Recording]:
        """The recordings to read, in order; one done before ``cutoff`` is marked done unread."""
        pending = []
        for rec in recordings:
            if rec.record_id in self.done:
                continue
            if (
                rec.final
                and rec.end is not None
                and rec.end < cutoff - GRACE
                and rec.record_id not in self._progress
            ):
                self.finish(rec.record_id)  # done before the cutoff: nothing to count
                continue
            pending.append(rec)
        pending.sort(key=self._priority)
        return pending

    def _priority(self, rec: Recording) -> tuple[float, float]:
        prog = self._progress.get(rec.record_id)
        return (prog.polled_at if prog else -math.inf, -(rec.start or 0.0))

    def visit(self, rec: Recording, now: float, mono: float) -> tuple[Progress, bool]:
        """A read of ``rec`` begins: its progress, and whether this read is its last.

        Settled-ness is judged before the read, so the read that finishes a recording
        sees every operation that arrived up to its last status change.
        """
        prog = self._progress.get(rec.record_id)
        if prog is None:
            prog = Progress()
            self._progress[rec.record_id] = prog
        if rec.status.upper() == SETTLING:
            prog.settling_since = mono if prog.settling_since is None else prog.settling_since
        else:
            prog.settling_since = None
        final = settled(rec, prog, now, mono)
        prog.polled_at = mono
        return prog, final

    def finish(self, record_id: str) -> None:
        """``record_id`` is done: never read again, its keys freed."""
        self.done[record_id] = True
        prog = self._progress.pop(record_id, None)
        if prog is not None:
            self.keys -= len(prog.seen)

    def first_sight(self, prog: Progress, key: int, per_recording: int) -> bool | None:
        """True the first time ``key`` is seen, False after; None when there is no room."""
        if key in prog.seen:
            return False
        if len(prog.seen) >= per_recording or self.keys >= MAX_KEYS:
            prog.full = self.met_full = True
            return None
        prog.seen.add(key)
        self.keys += 1
        return True
