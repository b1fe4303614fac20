"""The one token bucket: up to ``burst`` tokens, refilled continuously; an event takes one.

Both rate limits of the exporter are built on it: the upstream request budget
(:mod:`exporter.upstream.budget`: a bucket per API, whose rate drops after a 429 and climbs
back) and what clients of our server may do (:mod:`exporter.serve.ratelimit`: failed logins
per client, reloads). The rate is passed to each call, so an owner whose rate changes over
time needs no second bucket, and time is passed in (monotonic seconds), so the owner's
injectable clock drives it. Not thread-safe: its owner holds a lock.
"""

from __future__ import annotations


class TokenBucket:
    """At most ``burst`` tokens, ``rate`` more every ``per`` seconds; starts full at ``now``."""

    __slots__ = ("burst", "per", "tokens", "updated")

    def __init__(self, burst: float, now: float, per: float = 1.0) -> None:
        self.burst = float(burst)
        self.per = per
        self.tokens = float(burst)
        self.updated = now

    def level(self, now: float, rate: float) -> float:
        """The tokens there would be at ``now`` at ``rate`` (nothing is changed)."""
        elapsed = max(0.0, now - self.updated)
        return min(self.burst, self.tokens + elapsed * rate / self.per)

    def refill(self, now: float, rate: float) -> None:
        """Add what ``rate`` brought since the last refill, up to ``burst``."""
        self.tokens = self.level(now, rate)
        self.updated = now

    def take(self) -> bool:
        """Take one token if a whole one is there."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def spend(self) -> None:
        """Charge one event whether or not a token is there (the level stays at 0 or above)."""
        self.tokens = max(0.0, self.tokens - 1)

    def wait(self, now: float, rate: float) -> float:
        """Seconds from ``now`` until a whole token is there at ``rate`` (0: one is there)."""
        return max(0.0, (1.0 - self.level(now, rate)) * self.per / rate)
