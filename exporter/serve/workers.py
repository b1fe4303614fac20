"""A fixed pool of daemon worker threads, all started up front.

``concurrent.futures.ThreadPoolExecutor`` starts its threads lazily, inside ``submit``: under
thread or memory exhaustion that fails in the middle of serving a request, long after the
exporter reported itself up. Here every worker starts in :meth:`WorkerPool.start` (a failure
there stops the start-up), a request never starts a thread, and the threads are daemons so
a stuck request cannot hold the process past its shutdown.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class WorkerPool:
    """``size`` threads named ``{name}-{i}`` running submitted calls in order of submission."""

    def __init__(self, size: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._stopped = False
        self.threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(size)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on a worker; it must handle its own exceptions (one that escapes ends
        the worker, which the process treats as fatal)."""
        self._tasks.put(task)

    def stop(self) -> None:
        """Let every worker end after its current task, dropping queued ones; does not wait."""
        self._stopped = True
        for _ in self.threads:
            self._tasks.put(None)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None and not self._stopped:
            task()
