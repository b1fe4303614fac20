"""The per-desktop scheduler of the monitoring source: one call per desktop, spread evenly.

Each desktop has a stable phase (a hash of its id) inside the monitoring interval, so calls
spread evenly over the interval instead of bursting, and a desktop is never polled faster
than its interval. New desktops are fetched at once (as fast as the budget allows), then
settle into their phase. :class:`MonitoringRunner` knows the source it drives and the
inventory it reads only through the two Protocols below.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
import queue
import threading
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Protocol

from exporter.app.scheduler import refresh_deadline
from exporter.clock import Clock
from exporter.config.settings import HTTPConfig
from exporter.sources.base import SourceHealth, backoff

log = logging.getLogger(__name__)


class FleetSnapshot(Protocol):
    """The desktops to refresh: an inventory snapshot as the scheduler reads it."""

    @property
    def version(self) -> int: ...
    @property
    def by_id(self) -> Mapping[str, object]: ...


class Fleet(Protocol):
    """Where the desktops come from (the inventory source)."""

    @property
    def snapshot(self) -> FleetSnapshot | None: ...


class Switch(Protocol):
    @property
    def enabled(self) -> bool: ...


class PerDesktopSource(Protocol):
    """What the scheduler drives: one fetch per desktop, published now and then.

    ``config.enabled`` false (a reload, or another path serving the data) dispatches nothing.
    ``health`` is the source's own: the scheduler marks each pass on it, the fetches report
    their outcomes to it.
    """

    @property
    def config(self) -> Switch: ...
    @property
    def health(self) -> SourceHealth: ...

    def interval(self) -> float: ...
    def fetch(self, desktop_id: str) -> bool: ...
    def forget(self, desktop_ids: set[str]) -> None: ...
    def set_fleet_size(self, desktops: int) -> None: ...
    def publish(self) -> bool: ...


def phase(desktop_id: str, interval: float) -> float:
    """A stable offset in ``[0, interval)`` for ``desktop_id`` (crc32, same in every process)."""
    return (zlib.crc32(desktop_id.encode()) % 1_000_000) / 1_000_000 * interval


def next_slot(desktop_id: str, earliest: float, interval: float) -> float:
    """The first time ``t >= earliest`` with ``t ≡ phase(desktop_id) (mod interval)``.

    ``earliest`` that is a slot plus whole intervals (up to float rounding, within a
    microsecond) gives that slot, not the one after it.
    """
    ph = phase(desktop_id, interval)
    k = math.ceil((earliest - ph - 1e-6) / interval)
    return max(earliest, ph + k * interval)


class Pool(Protocol):
    """Runs one desktop fetch in the background."""

    def submit(self, fn: Callable[[str], bool], desktop_id: str, /) -> Future[bool]: ...


class FetchPool:
    """A fixed pool of daemon worker threads for desktop fetches.

    Unlike :class:`concurrent.futures.ThreadPoolExecutor`, whose non-daemon workers the
    interpreter joins at exit, a fetch that is still stuck when the exporter stops cannot
    hold the process past its shutdown bound: :meth:`shutdown` never waits.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[str], bool], str, Future[bool]] | None]
        self._tasks = queue.SimpleQueue()
        self._workers = workers
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[[str], bool], desktop_id: str, /) -> Future[bool]:
        fut: Future[bool] = Future()
        self._tasks.put((fn, desktop_id, fut))
        return fut

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            fn, arg, fut = task
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(arg))
            except MemoryError:
                raise  # ends the thread, which is fatal (exporter.fatal)
            except Exception as e:  # noqa: BLE001 - handed to the future's callback, which logs it
                fut.set_exception(e)

    def shutdown(self) -> None:
        """Let every worker exit once its current task ends; do not wait for them."""
        for _ in range(self._workers):
            self._tasks.put(None)


class MonitoringRunner(threading.Thread):
    """Per-desktop scheduler for the monitoring source (see module docstring); it reports
    the source's own health."""

    def __init__(
        self,
        source: PerDesktopSource,
        inventory: Fleet,
        clock: Clock,
        stop: threading.Event,
        workers: int,
        publish_every: float = 10.0,
        steady_publish_every: float = 60.0,
        call_deadline: Callable[[], float] = lambda: HTTPConfig().call_deadline,
        auth_paused: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(name="refresh-monitoring", daemon=True)
        self._auth_paused = auth_paused
        self.source = source
        self.inventory = inventory
        self._clock = clock
        self._stop_event = stop
        self._workers = workers
        self._call_deadline = call_deadline
        self._idle_ok: float | None = None  # when an empty fleet last counted as a pass
        # Each publish makes the renderer render and compress the exposition again (about
        # 0.5 s of CPU at 10,000 desktops: benchmarks, render phase), so publish often only
        # while some desktop still waits for its first data (start-up, new desktops, early
        # retries); the data itself changes every 5 minutes, so a minute's delay in the
        # steady state costs nothing.
        self._fast_publish_every = publish_every
        self._steady_publish_every = steady_publish_every
        self._awaiting_first: set[str] = set()  # never fetched successfully, < 3 failures
        self._wake = threading.Event()
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._fails: dict[str, int] = {}
        self._inflight: set[str] = set()
        self._done: list[tuple[str, bool, float]] = []
        self._done_lock = threading.Lock()
        self._inventory_version = -1
        self._cycle_start: float | None = None
        self._cycle_deadline = 0.0
        self._cycle_left: set[str] = set()
        self._last_publish = 0.0
        self._publish_now = False

    @property
    def health(self) -> SourceHealth:
        return self.source.health

    def wake(self) -> None:
        """End the current wait (the loop then sees the stop event)."""
        self._wake.set()

    def kick(self) -> None:
        """Look at the schedule now (each desktop keeps its slot: nothing is fetched early)."""
        self._wake.set()

    def threads(self) -> list[threading.Thread]:
        return [self]

    def _schedule(self, did: str, due: float) -> None:
        self._due[did] = due
        heapq.heappush(self._heap, (due, did))

    def _sync_inventory(self, now: float) -> None:
        snap = self.inventory.snapshot
        if snap is None or snap.version == self._inventory_version:
            return
        self._inventory_version = snap.version
        current = set(snap.by_id)
        self.source.set_fleet_size(len(current))
        gone = set(self._due) - current
        for did in gone:
            del self._due[did]
            self._fails.pop(did, None)
            self._cycle_left.discard(did)
            self._awaiting_first.discard(did)
        if gone:
            self.source.forget(gone)
            self._end_cycle_if_done(now)
        for did in sorted(current - set(self._due)):
            self._schedule(did, now)
            self._awaiting_first.add(did)

    def _finish(self, did: str, ok: bool, finished: float) -> None:
        self._inflight.discard(did)
        if did not in self._due:  # left the inventory meanwhile
            return
        interval = self.source.interval()
        slot = self._due[did]  # the slot this fetch was dispatched for
        if did in self._awaiting_first and (ok or self._fails.get(did, 0) >= 2):
            self._awaiting_first.discard(did)
            self._publish_now = not self._awaiting_first  # the last first fetch: show it now
        if ok:
            self._fails.pop(did, None)
            # The next slot on the phase one interval after this one: ``finished + interval``
            # would skip a slot (a fetch always ends after its slot starts). Only a fetch that
            # finished over half an interval late (a budget backlog) pushes the next one on.
            earliest = max(slot + interval, finished + interval / 2)
            self._schedule(did, next_slot(did, earliest, interval))
        else:
            fails = self._fails.get(did, 0) + 1
            self._fails[did] = fails
            self._schedule(did, finished + backoff(fails, interval))
        self._cycle_left.discard(did)
        self._end_cycle_if_done(finished)

    def _end_cycle_if_done(self, finished: float) -> None:
        if self._cycle_start is not None and not self._cycle_left:
            self.source.health.end()
            self.source.health.set_duration(finished - self._cycle_start)
            self._cycle_start = None

    def _nothing_to_do(self, now: float) -> None:
        """No desktops in the inventory: each interval counts as a pass that succeeded, so an
        empty project (or shard) reads as up, not as failing."""
        if self._due or self.inventory.snapshot is None or not self.source.config.enabled:
            self._idle_ok = None
            return
        if self._idle_ok is not None and now - self._idle_ok < self.source.interval():
            return
        self._idle_ok = now
        self.source.health.success(0.0)

    def _on_done(self, did: str, fut: Future[bool]) -> None:
        ok = not fut.cancelled() and fut.exception() is None and bool(fut.result())
        if fut.exception() is not None:
            log.error("unexpected error fetching desktop monitor data", exc_info=fut.exception())
        with self._done_lock:
            self._done.append((did, ok, self._clock.monotonic()))
        self._wake.set()

    def _dispatch(self, pool: Pool, now: float) -> None:
        if not self.source.config.enabled or self._auth_paused():  # off by a reload, or auth breaker
            return
        while self._heap and len(self._inflight) < self._workers:
            due, did = self._heap[0]
            if self._due.get(did) != due or did in self._inflight:
                heapq.heappop(self._heap)  # stale entry
                continue
            if due > now:
                break
            heapq.heappop(self._heap)
            if self._cycle_start is None:
                self._cycle_start = now
                self._cycle_left = set(self._due)
                self._cycle_deadline = refresh_deadline(self.source.interval(), self._call_deadline())
                self.source.health.begin(self._cycle_deadline, now)
            self._inflight.add(did)
            fut = pool.submit(self.source.fetch, did)
            fut.add_done_callback(functools.partial(self._on_done, did))

    def _stretch_deadline(self) -> None:
        """A pass slowed down by the budget (throttled: the pace follows the lowered rate) may
        take as long as its slowest pace allowed: the deadline grows with it, never shrinks."""
        if self._cycle_start is None:
            return
        deadline = refresh_deadline(self.source.interval(), self._call_deadline())
        if deadline > self._cycle_deadline:
            self._cycle_deadline = deadline
            self.source.health.extend(deadline)

    def step(self, pool: Pool) -> float:
        """One scheduling pass; returns how long to wait before the next."""
        now = self._clock.monotonic()
        with self._done_lock:
            done, self._done = self._done, []
        for did, ok, finished in done:
            self._finish(did, ok, finished)
        self._stretch_deadline()
        self._sync_inventory(now)
        self._nothing_to_do(now)
        self._dispatch(pool, now)
        idle = not self._inflight
        fast = bool(self._awaiting_first)
        # A re-render and its compression cost about 0.05 ms per desktop (render benchmark,
        # every desktop changed): a large fleet's first pass publishes less often (10,000
        # desktops: once a minute), so it stays under 1 % of a core.
        fast_every = min(self._steady_publish_every, max(self._fast_publish_every, len(self._due) / 100))
        every = fast_every if fast else self._steady_publish_every
        if now - self._last_publish >= every or self._publish_now or (done and idle and fast):
            self.source.publish()
            self._last_publish = now
            self._publish_now = False
        if not self.source.config.enabled or self._auth_paused():
            # Nothing is dispatched (paused while Cloud Eye serves or by the auth breaker, or
            # disabled by a reload): the due desktops stay due, so waiting for them would spin.
            # Look again within a second.
            return min(every, 1.0)
        wait = every
        if self._heap and len(self._inflight) < self._workers:
            wait = min(wait, max(0.0, self._heap[0][0] - now))
        return min(wait, 1.0) if self.inventory.snapshot is None else wait

    def run(self) -> None:
        pool = FetchPool(self._workers, "monitor")
        try:
            while not self._stop_event.is_set():
                wait = self.step(pool)
                if wait > 0:
                    self._wake.wait(min(wait, 1.0))
                self._wake.clear()
        finally:
            pool.shutdown()
        self.source.publish()
