"""What the web config says about every response and request besides TLS and auth.

``http_server_config.headers`` are added to every response and ``rate_limit`` (one token
bucket for the whole server, as in exporter-toolkit) answers 429 past its burst. Both
change in place when the web config is reloaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from exporter.config.web import WebSecurity
from exporter.serve.ratelimit import RateLimiter


class WebPolicy:
    """Response headers and the request rate limit of the current web config."""

    def __init__(
        self, security: WebSecurity | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self.headers: tuple[tuple[str, str], ...] = ()
        self._limiter: RateLimiter | None = None
        self._limit: tuple[float, int] | None = None
        self.update(security)

    def update(self, security: WebSecurity | None) -> None:
        self.headers = security.headers if security else ()
        limit = security.rate_limit if security else None
        if limit != self._limit:  # an unchanged limit keeps its bucket
            self._limit = limit
            self._limiter = (
                RateLimiter(limit[1], 1 / limit[0], max_keys=1, clock=self._clock) if limit else None
            )

    def retry_after(self) -> int:
        """0 when a request may go ahead (and counts it), else whole seconds to wait."""
        limiter = self._limiter
        if limiter is None:
            return 0
        wait = limiter.retry_after("")
        if not wait:
            limiter.spend("")
        return wait
