"""The TLS context new connections get, re-read when its files change on disk or a reload says so.

cert-manager (and kubelet's Secret volumes) renew a certificate by replacing the files in
place; a server that read them once serves the old certificate until it expires and every
scrape fails. exporter-toolkit re-reads the files on every handshake. Here the loop asks
:meth:`ServerTLS.context` for each new connection, and at most once a second that
``stat``\\s the certificate, key and client-CA files (device, inode, size, mtime: a Secret
volume swaps a symlink, an editor rewrites in place, both change one of them). A change
builds a new context; connections already open keep theirs. A rotation caught half-way
(a new certificate beside the old key) fails to load: the previous context stays in use,
one warning is logged, and the next check tries again. ``benchmarks/tls_rotation.py``
measures the cost of the check against a handshake.

``client_allowed_sans`` is checked after the handshake (:meth:`ServerTLS.allowed`): the
client certificate, already verified against the client CA, must carry one of the SANs.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from exporter.config.web import WebSecurity

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0
Stamp = tuple[tuple[int, int, int, int], ...]


def stamps(paths: tuple[str, ...]) -> Stamp:
    """What identifies the current content of each file (all -1 for one that cannot be read)."""
    out = []
    for p in paths:
        try:
            st = Path(p).stat()
        except OSError:
            out.append((-1, -1, -1, -1))
        else:
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _normal(san: str) -> str:
    try:
        return str(ipaddress.ip_address(san))
    except ValueError:
        return san


class ServerTLS:
    """The current server context for ``security``; :meth:`update` applies a reloaded web config."""

    def __init__(
        self, security: WebSecurity, clock: Callable[[], float] = time.monotonic, every: float = CHECK_EVERY
    ) -> None:
        self._clock = clock
        self._every = every
        self._failing: str | None = None
        self._security = security
        self._stamps = stamps(security.files())
        self._context = security.ssl_context()
        self._checked = clock()
        self.reloads = 0

    @property
    def security(self) -> WebSecurity:
        return self._security

    def context(self) -> ssl.SSLContext:
        """The context for a new connection (re-read first when a file changed; loop thread)."""
        now = self._clock()
        if now - self._checked >= self._every:
            self._checked = now
            current = stamps(self._security.files())
            if current != self._stamps:
                self._reload(self._security, current, "files changed")
        return self._context

    def update(self, security: WebSecurity) -> None:
        """Use a reloaded web config for new connections (its files were checked when it loaded)."""
        self._reload(security, stamps(security.files()), "web config reloaded")

    def _reload(self, security: WebSecurity, current: Stamp, why: str) -> None:
        try:
            context = security.ssl_context()
        except (OSError, ssl.SSLError, ValueError) as e:
            reason = str(getattr(e, "reason", None) or getattr(e, "strerror", None) or type(e).__name__)
            if reason != self._failing:
                log.warning(
                    "tls reload failed, keeping the previous certificate why=%s error=%s", why, reason
                )
                self._failing = reason
            return  # stamps unchanged: the next check tries again
        self._context, self._security, self._stamps = context, security, current
        self._failing = None
        self.reloads += 1
        log.info("tls certificate loaded why=%s", why)

    def allowed(self, sock: socket.socket) -> bool:
        """Whether the client's certificate carries one of ``client_allowed_sans`` (if set)."""
        wanted = self._security.client_allowed_sans
        if not wanted:
            return True
        cert = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
        if not cert:
            return False
        names = {_normal(str(pair[1])) for pair in cert.get("subjectAltName", ()) if len(pair) == 2}
        return any(_normal(w) in names for w in wanted)
