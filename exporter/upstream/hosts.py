"""Which endpoint of each service the client calls, and when to move to a fall-back.

The SDK accepts several endpoints per service and region (a comma-separated
``HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION>``, or ``endpoints:`` in its regions file). Its
client uses the first; when a host cannot be reached (no connection, no TLS handshake) it
moves to the next one and stays there, wrapping round after the last. :class:`HostSelector`
does the same for our client: a failure that proves nothing reached the server moves the
service on, and the call is made again at once on the next endpoint. A failure after the
request may have arrived (a read timeout, a reset, any answer) never moves it: the request
could have been served.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from exporter.config.endpoints import Endpoints
from exporter.config.settings import Settings
from exporter.errors import UpstreamError

log = logging.getLogger(__name__)

# Causes (exporter.upstream.causes.network_cause) that say the request never reached a server.
UNREACHABLE = ("connection refused", "dns lookup failed", "connect timeout", "tls ", "connection failed")


def endpoints_of(settings: Settings) -> Endpoints:
    """The settings' endpoint lists, or one endpoint per service from ``config.endpoints``."""
    if settings.endpoints is not None:
        return settings.endpoints
    ep = settings.config.endpoints
    found = Endpoints(workspace=(ep.workspace,), iam=(ep.iam,), ces=(ep.ces,))
    return dataclasses.replace(found, sts=(ep.sts,)) if ep.sts else found


def unreachable(error: UpstreamError) -> bool:
    """True when ``error`` says the request never reached a server (safe to send elsewhere)."""
    return error.status == 0 and error.cause.startswith(UNREACHABLE)


class HostSelector:
    """The endpoint in use per service; thread-safe, sticky, wraps round like the SDK's client."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._lock = threading.Lock()
        self._endpoints = endpoints
        self._index: dict[str, int] = {}

    def reconfigure(self, endpoints: Endpoints) -> None:
        """New lists (a reload): every service starts again at its first endpoint."""
        with self._lock:
            if endpoints.of("workspace") + endpoints.of("iam") + endpoints.of("ces") + endpoints.sts != (
                self._endpoints.of("workspace")
                + self._endpoints.of("iam")
                + self._endpoints.of("ces")
                + self._endpoints.sts
            ):
                self._index.clear()
            self._endpoints = endpoints

    def base(self, service: str) -> str:
        """The base URL to call ``service`` on now."""
        with self._lock:
            urls = self._endpoints.of(service)
            return urls[self._index.get(service, 0) % len(urls)]

    def count(self, service: str) -> int:
        with self._lock:
            return len(self._endpoints.of(service))

    def fail_over(self, service: str, base: str, error: UpstreamError) -> bool:
        """After ``error`` calling ``service`` on ``base``: move to the next endpoint when the
        host could not be reached and there is another one. True when the caller should send
        the request again at once (on :meth:`base`)."""
        if not unreachable(error):
            return False
        with self._lock:
            urls = self._endpoints.of(service)
            if len(urls) < 2:
                return False
            current = self._index.get(service, 0) % len(urls)
            if urls[current] == base:  # another thread may have moved on already
                self._index[service] = (current + 1) % len(urls)
            nxt = urls[self._index[service] % len(urls)] if service in self._index else urls[0]
        log.warning(
            "endpoint unreachable, using the next one service=%s endpoint=%s cause=%s next=%s",
            service,
            base,
            error.cause,
            nxt,
        )
        return True
