"""Per-key token buckets with bounded memory: failed logins per client, reloads per server."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from exporter.tokenbucket import TokenBucket


class RateLimiter:
    """``burst`` events at once per key, refilled at ``rate`` per second.

    At most ``max_keys`` keys are remembered; the least recently seen is forgotten
    first, so a client spraying addresses costs bounded memory (it only regains its
    own burst, never more than a fresh client would get).
    """

    def __init__(
        self,
        burst: float,
        rate: float,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.rate, self.max_keys = burst, rate, max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, key: str, now: float) -> TokenBucket:
        """``key``'s bucket; a full one for a key not seen (or forgotten)."""
        bucket = self._buckets.get(key)
        return TokenBucket(self.burst, now) if bucket is None else bucket

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may go ahead now, else whole seconds until it may."""
        with self._lock:
            now = self._clock()
            wait = self._bucket(key, now).wait(now, self.rate)
        return 0 if wait == 0 else max(1, math.ceil(wait))

    def spend(self, key: str) -> None:
        """Record one event for ``key``."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            bucket.refill(now, self.rate)
            bucket.spend()
            self._buckets[key] = bucket
            self._buckets.move_to_end(key)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
