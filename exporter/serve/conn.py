"""What the event loop keeps per connection, its limits, and the parts it is given."""

from __future__ import annotations

import selectors
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Protocol

from exporter.serve.head import Environ


@dataclass(frozen=True)
class ServerLimits:
    """Caps and deadlines of the HTTP server; the defaults are documented in the README."""

    max_connections: int = 256
    workers: int = 4
    backlog: int = 128
    handshake_timeout: float = 5.0
    header_timeout: float = 10.0
    idle_timeout: float = 75.0
    write_timeout: float = 60.0
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 64 * 1024
    shutdown_grace: float = 2.0
    refusal_hold: float = 1.0  # seconds a refused login waits for its answer


class TLSSource(Protocol):
    """Where the loop gets the TLS context of each new connection (see exporter.serve.tls)."""

    def context(self) -> ssl.SSLContext: ...
    def allowed(self, sock: socket.socket) -> bool: ...


class Gate(Protocol):
    """Asked before a request is queued (see exporter.serve.auth.BasicAuth)."""

    def admit(self, environ: Environ) -> bool | None: ...
    def verify(self, environ: Environ) -> None: ...
    def retry_after(self, environ: Environ) -> int: ...


# HELD: a refusal waiting out its delay (see EventLoopServer._hold).
HANDSHAKE, READING, BUSY, WRITING, HELD = range(5)
# Buffers per sendmsg call (well below any IOV_MAX): a body of a few dozen pieces goes out
# in one system call per writable wake-up, each of which needs the GIL back.
IOV = 64
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError)


class Conn:
    """One client connection and where it is in its exchange."""

    __slots__ = (
        "addr",
        "deadline",
        "eof",
        "fileno",
        "idle",
        "inbuf",
        "keep_alive",
        "out",
        "sock",
        "state",
    )

    def __init__(self, sock: socket.socket, addr: Any, state: int, deadline: float) -> None:
        self.sock = sock
        self.fileno = sock.fileno()
        self.addr = addr
        self.state = state
        self.deadline = deadline
        self.inbuf = bytearray()
        self.out: list[memoryview] = []
        self.keep_alive = False
        self.idle = True
        self.eof = False  # the client half-closed: answer what it sent, then close

    def handshake(self) -> int | str | None:
        """One step of the TLS handshake: None when done, the selector event it waits for,
        or why it failed."""
        sock = self.sock
        if not isinstance(sock, ssl.SSLSocket):  # pragma: no cover - only TLS connections get here
            return "not a TLS socket"
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            return selectors.EVENT_READ
        except ssl.SSLWantWriteError:
            return selectors.EVENT_WRITE
        except (ssl.SSLError, OSError) as e:
            return str(getattr(e, "reason", None) or e.strerror or type(e).__name__)
        return None

    def flush(self) -> bool | None:
        """Send what :attr:`out` holds: True when all is sent, False when the socket is full
        (wait until it is writable), None when the connection failed."""
        gather = not isinstance(self.sock, ssl.SSLSocket)  # TLS sockets have no sendmsg
        out = self.out
        while out:
            try:
                sent = self.sock.sendmsg(out[:IOV]) if gather else self.sock.send(out[0])
            except WOULD_BLOCK:
                return False
            except OSError:
                return None
            if not sent:
                return False  # nothing taken: wait until the socket is writable again
            while sent and out:
                n = len(out[0])
                if sent < n:
                    out[0] = out[0][sent:]
                    break
                sent -= n
                out.pop(0)
        return True
