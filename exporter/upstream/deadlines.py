"""One thread that cuts upstream exchanges past their total deadline.

A ``threading.Timer`` per exchange would start a thread for every upstream call: a
stack mapped and freed per call, and under memory exhaustion a thread that cannot start
can hang the thread that starts it (CPython's ``Thread.start`` waits for a bootstrap that
failed before it could say so). So the exporter starts this one thread with the client,
and starts no thread per call: :meth:`DeadlineWatch.arm` files a deadline,
:meth:`DeadlineWatch.disarm` withdraws it, and the thread calls ``cut(ident)`` for each
deadline that passes while still filed.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class DeadlineWatch:
    """Calls ``cut(ident)`` when a deadline filed by :meth:`arm` passes before :meth:`disarm`."""

    def __init__(self, cut: Callable[[int], None], name: str = "upstream-deadlines") -> None:
        self._cut = cut
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []  # (monotonic deadline, token), earliest first
        self._filed: dict[int, int] = {}  # token -> thread ident, while armed
        self._tokens = itertools.count()
        self._closed = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def arm(self, ident: int, seconds: float) -> int:
        """File a deadline ``seconds`` from now for thread ``ident``; returns its token."""
        token = next(self._tokens)
        with self._cond:
            self._filed[token] = ident
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if len(self._heap) > 2 * len(self._filed) + 64:
                # Withdrawn deadlines wait in the heap until they come up: drop them in bulk,
                # so a long run of calls that end early cannot grow it.
                self._heap = [e for e in self._heap if e[1] in self._filed]
                heapq.heapify(self._heap)
            if self._heap[0][1] == token:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        """Withdraw a deadline; once this returns, its cut has happened or never will."""
        with self._cond:
            self._filed.pop(token, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _due(self) -> list[int]:
        """Under the lock: the idents whose deadline passed (withdrawn), else wait for the next."""
        while not self._closed:
            while self._heap and self._heap[0][1] not in self._filed:
                heapq.heappop(self._heap)
            if not self._heap:
                self._cond.wait()
                continue
            wait = self._heap[0][0] - time.monotonic()
            if wait > 0:
                self._cond.wait(wait)
                continue
            due: list[int] = []
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                _, token = heapq.heappop(self._heap)
                ident = self._filed.pop(token, None)
                if ident is not None:
                    due.append(ident)
            if due:
                return due
        return []

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._due()
                if self._closed:
                    return
                # Under the lock, so a disarm that returns has no cut still to come: the
                # thread may already be on its next exchange. Cutting only shuts a socket
                # down under the tracker's lock, which never waits for this one.
                for ident in due:
                    self._cut(ident)
