"""Request budget: a token bucket per API (:mod:`exporter.tokenbucket`) plus one global
concurrency gate.

Workspace enforces per-user, per-API limits of roughly 100–200 calls a minute, so
every upstream call (retries included) first takes a token from its API's bucket.
The buckets are shared by every source and thread. A throttled answer (HTTP 429)
halves the API's effective rate, which then climbs back linearly to the configured
rate over ``budget.throttle_recovery`` seconds (multiplicative decrease, additive
increase), so a throttled exporter slows down instead of hammering the gateway.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from exporter.apis import APIS
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import BudgetConfig
from exporter.tokenbucket import TokenBucket

MIN_RATE_PER_MINUTE = 1.0


@dataclass(frozen=True)
class BucketState:
    configured_per_minute: float
    effective_per_minute: float
    tokens: float


class _ApiBucket(TokenBucket):
    """One API's bucket: its rate is the configured one, or after a 429 a lower one climbing
    back to it (``floor`` right after the throttle, linearly over ``recovery`` seconds)."""

    __slots__ = ("configured", "floor", "throttled_at")

    def __init__(self, per_minute: float, burst: int, now: float) -> None:
        super().__init__(burst, now, per=60.0)
        self.configured = per_minute
        self.floor = per_minute  # rate right after the last throttle
        self.throttled_at: float | None = None

    def effective(self, now: float, recovery: float) -> float:
        if self.throttled_at is None:
            return self.configured
        progress = (now - self.throttled_at) / recovery
        if progress >= 1.0:
            self.throttled_at = None
            return self.configured
        return self.floor + (self.configured - self.floor) * progress

    def catch_up(self, now: float, recovery: float) -> None:
        """Refill at the effective rate up to ``now``."""
        self.refill(now, self.effective(now, recovery))


class Budget:
    """Per-API token buckets and a concurrency gate; thread-safe; clock injectable."""

    def __init__(self, config: BudgetConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._config = config
        self._buckets: dict[str, _ApiBucket] = {}
        self._gate = threading.BoundedSemaphore(config.max_concurrency)
        self._gate_size = config.max_concurrency

    def rate_for(self, api: str) -> float:
        """Requests/minute for ``api``: ``budget.per_api`` if set, else the API's built-in default."""
        if api in self._config.per_api:
            return self._config.per_api[api]
        spec = APIS.get(api)
        return spec.per_minute if spec else 60.0

    def _bucket(self, api: str, now: float) -> _ApiBucket:
        bucket = self._buckets.get(api)
        if bucket is None:
            bucket = _ApiBucket(self.rate_for(api), self._config.burst, now)
            self._buckets[api] = bucket
        return bucket

    def try_acquire(self, api: str) -> float:
        """Take a token if one is available and return 0.0, else return seconds to wait."""
        with self._lock:
            now = self._clock.monotonic()
            bucket = self._bucket(api, now)
            bucket.catch_up(now, self._config.throttle_recovery)
            if bucket.take():
                return 0.0
            rate = bucket.effective(now, self._config.throttle_recovery)
            return max(0.001, bucket.wait(now, rate))

    def acquire(self, api: str, stop: threading.Event | None = None) -> bool:
        """Block until ``api`` has a token. False if ``stop`` was set."""
        while True:
            wait = self.try_acquire(api)
            if wait == 0.0:
                return True
            # Sleep in short slices so a reconfigured (faster) rate takes effect promptly.
            if self._clock.sleep(min(wait, 5.0), stop):
                return False

    def throttled(self, api: str) -> None:
        """Record a 429 for ``api``: halve its effective rate and drain its bucket."""
        with self._lock:
            now = self._clock.monotonic()
            bucket = self._bucket(api, now)
            bucket.catch_up(now, self._config.throttle_recovery)
            current = bucket.effective(now, self._config.throttle_recovery)
            bucket.floor = max(MIN_RATE_PER_MINUTE, current / 2.0)
            bucket.throttled_at = now
            bucket.tokens = min(bucket.tokens, 0.0)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of ``budget.max_concurrency`` concurrent-request slots."""
        gate = self._gate
        gate.acquire()
        try:
            yield
        finally:
            gate.release()

    def state(self) -> dict[str, BucketState]:
        with self._lock:
            now = self._clock.monotonic()
            out = {}
            for api, b in self._buckets.items():
                b.catch_up(now, self._config.throttle_recovery)
                out[api] = BucketState(
                    b.configured, b.effective(now, self._config.throttle_recovery), b.tokens
                )
            return out

    def reconfigure(self, config: BudgetConfig) -> None:
        """Apply new rates (keeping throttle state) and a new concurrency limit."""
        with self._lock:
            self._config = config
            for api, bucket in self._buckets.items():
                bucket.configured = self.rate_for(api)
                bucket.burst = float(config.burst)
                bucket.floor = min(bucket.floor, bucket.configured)
            if config.max_concurrency != self._gate_size:
                # In-flight holders release into the old semaphore, which is then dropped.
                self._gate = threading.BoundedSemaphore(config.max_concurrency)
                self._gate_size = config.max_concurrency
