"""An event-loop HTTP/1.1 front end for a WSGI app, built so hostile clients cannot starve it.

One thread owns every socket: it accepts, runs TLS handshakes, reads request heads
and bodies, and writes responses, all non-blocking. A connection costs a file
descriptor and a few kB, never a thread, so idle, slowloris and never-handshaking
clients cannot pin workers. Only a complete request reaches the bounded worker pool,
and cheap probe paths are answered on the loop thread itself, so they answer even
when every worker is busy. Every state has a deadline; when the connection cap is
reached the oldest connection that is not being served is dropped to make room.

A client that sends its request and at once half-closes (``shutdown(SHUT_WR)``, as
``curl --no-keepalive`` scripts and HTTP/1.0 clients may) still gets every answer it asked
for before the connection is closed. Whatever a client's bytes make a step raise closes
that one connection; a ``MemoryError`` ends the process (:func:`exporter.fatal.die`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from exporter import fatal
from exporter.serve.head import BadRequest, Environ, parse_head, parse_request_line
from exporter.serve.http1 import WSGIApp, peer, response_head, run_app
from exporter.serve.workers import WorkerPool

log = logging.getLogger(__name__)


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


_HANDSHAKE, _READING, _BUSY, _WRITING = range(4)
# Buffers per sendmsg call (well below any IOV_MAX): a body of a few dozen pieces goes out
# in one system call per writable wake-up, each of which needs the GIL back.
_IOV = 64
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError)


class _Conn:
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


class EventLoopServer:
    """Serves ``app`` on ``host:port``; ``inline`` paths run on the loop thread (keep them cheap)."""

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApp,
        tls: ssl.SSLContext | None = None,
        limits: ServerLimits | None = None,
        inline: frozenset[str] = frozenset(),
    ) -> None:
        self.limits = limits or ServerLimits()
        self._app = app
        self._tls = tls
        self._inline = inline
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=self.limits.backlog)
        self._listener.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._conns: dict[int, _Conn] = {}
        self._pipelined: list[_Conn] = []
        self._done: queue.SimpleQueue[tuple[_Conn, list[bytes]]] = queue.SimpleQueue()
        self._pool = WorkerPool(self.limits.workers, "http-worker")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        host_s, port_i = self._listener.getsockname()[:2]
        self.address: tuple[str, int] = (str(host_s), int(port_i))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the loop; raises RuntimeError when a thread cannot start."""
        self._pool.start()
        self._thread.start()

    @property
    def threads(self) -> list[threading.Thread]:
        """The loop and its workers: the server answers nothing without any one of them."""
        return [self._thread, *self._pool.threads]

    def stop(self) -> None:
        """Stop accepting, let responses in flight finish (bounded by shutdown_grace), close all."""
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=self.limits.shutdown_grace + 5)
        else:
            self._close_all()

    @property
    def connections(self) -> int:
        return len(self._conns)

    def _wake(self) -> None:
        # A full pipe means the loop is already due to wake.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        last_sweep = 0.0
        grace_end: float | None = None
        while True:
            now = time.monotonic()
            if self._stopping.is_set():
                if grace_end is None:
                    grace_end = now + self.limits.shutdown_grace
                    self._sel.unregister(self._listener)
                    self._listener.close()
                    for c in list(self._conns.values()):
                        if c.state in (_HANDSHAKE, _READING):
                            self._close(c)
                if not self._conns or now >= grace_end:
                    break
            try:
                events = self._sel.select(0 if self._pipelined else 0.25)
            except OSError:  # pragma: no cover - select on a closed fd during shutdown
                continue
            for key, _mask in events:
                if key.data is None:
                    self._guarded(self._accept, None)
                elif key.data == "wake":
                    self._guarded(self._drain_done, None)
                else:
                    self._guarded(self._step, key.data)
            batch, self._pipelined = self._pipelined, []
            for c in batch:
                if self._conns.get(c.fileno) is c and c.state == _READING:
                    self._guarded(self._parse, c)
            now = time.monotonic()
            if now - last_sweep >= 0.1:
                last_sweep = now
                self._sweep(now)
        self._close_all()

    def _guarded(self, step: Any, conn: _Conn | None) -> None:
        """Run one step of the loop; whatever a client's bytes make it raise closes that
        client's connection and nothing else, so no request can stop the loop."""
        try:
            step() if conn is None else step(conn)
        except MemoryError:
            fatal.die("out of memory", thread="http")
        except Exception as e:  # noqa: BLE001 - one bad connection must never stop the loop
            log.error("http connection failed error=%s", type(e).__name__)
            if conn is not None:
                self._close(conn)

    def _close_all(self) -> None:
        for c in list(self._conns.values()):
            self._close(c)
        self._pool.stop()
        for s in (self._wake_r, self._wake_w, self._listener):
            s.close()
        self._sel.close()

    # -- connections -------------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, addr = self._listener.accept()
            except _WOULD_BLOCK:
                return
            except OSError as e:  # EMFILE and friends: drop the oldest idle one and try later
                log.debug("http accept failed error=%s", e.strerror or type(e).__name__)
                self._evict_one()
                return
            if len(self._conns) >= self.limits.max_connections and not self._evict_one():
                sock.close()
                continue
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            now = time.monotonic()
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError):
                    sock.close()
                    continue
                conn = _Conn(sock, addr, _HANDSHAKE, now + self.limits.handshake_timeout)
            else:
                conn = _Conn(sock, addr, _READING, now + self.limits.idle_timeout)
            self._conns[conn.fileno] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            self._step(conn)

    def _evict_one(self) -> bool:
        # Dicts keep insertion order, so the first match is the oldest connection.
        for c in self._conns.values():
            if c.state in (_HANDSHAKE, _READING):
                self._close(c)
                return True
        return False

    def _close(self, conn: _Conn) -> None:
        if self._conns.pop(conn.fileno, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _watch(self, conn: _Conn, events: int) -> None:
        try:
            self._sel.modify(conn.sock, events, conn)
        except KeyError:
            self._sel.register(conn.sock, events, conn)

    def _sweep(self, now: float) -> None:
        for c in [c for c in self._conns.values() if c.state != _BUSY and c.deadline <= now]:
            if c.state == _READING and c.inbuf:
                self._reply_error(c, 408)
            else:
                self._close(c)

    def _step(self, conn: _Conn) -> None:
        if conn.state == _HANDSHAKE:
            self._handshake(conn)
        elif conn.state == _READING:
            self._read(conn)
        elif conn.state == _WRITING:
            self._write(conn)

    def _handshake(self, conn: _Conn) -> None:
        sock = conn.sock
        if not isinstance(sock, ssl.SSLSocket):  # pragma: no cover - only TLS connections get here
            return
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(conn, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError) as e:
            # Plain HTTP, old TLS versions and scanners end here; not worth more than debug.
            reason = getattr(e, "reason", None) or e.strerror or type(e).__name__
            log.debug("tls handshake failed peer=%s reason=%s", peer(conn.addr), reason)
            self._close(conn)
            return
        conn.state = _READING
        conn.deadline = time.monotonic() + self.limits.idle_timeout
        self._watch(conn, selectors.EVENT_READ)
        self._read(conn)

    def _read(self, conn: _Conn) -> None:
        cap = self.limits.max_header_bytes + self.limits.max_body_bytes
        while len(conn.inbuf) <= cap:
            try:
                data = conn.sock.recv(65536)
            except _WOULD_BLOCK:
                break
            except OSError:
                self._close(conn)
                return
            if not data:
                conn.eof = True
                break
            if conn.idle:
                conn.idle = False
                conn.deadline = time.monotonic() + self.limits.header_timeout
            conn.inbuf += data
        self._parse(conn)

    def _parse(self, conn: _Conn) -> None:
        buf = conn.inbuf
        while buf[:2] == b"\r\n":  # RFC 9112 2.2: ignore empty lines before a request line
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        head = buf[: end if end >= 0 else self.limits.max_header_bytes + 1]
        if end < 0 and head.endswith(b"\r"):
            head = head[:-1]  # the CR of a CRLF whose LF has not arrived yet
        try:
            # Refused as soon as the bytes arrive, not at the head deadline: a bare LF or CR
            # (a head another parser would end elsewhere) and a request line that is not one.
            if head.count(b"\r") != head.count(b"\r\n") or head.count(b"\n") != head.count(b"\r\n"):
                raise BadRequest(400, "bare CR or LF")
            line_end = head.find(b"\r\n")
            if line_end >= 0:
                parse_request_line(bytes(head[:line_end]))
            if end < 0:
                if len(buf) > self.limits.max_header_bytes:
                    raise BadRequest(431, "head size")
                if conn.eof:
                    self._close(conn)  # half a request and no more to come
                return
            if end > self.limits.max_header_bytes:
                raise BadRequest(431, "head size")
            request = parse_head(bytes(head), self.limits.max_body_bytes)
        except BadRequest as e:
            self._reply_error(conn, e.status)
            return
        conn.keep_alive = request.keep_alive
        length = request.length
        environ = request.environ(self.address, peer(conn.addr), self._tls is not None)
        if len(buf) < end + 4 + length:
            if conn.eof:
                self._close(conn)
            return  # wait for the rest of the body, under the same header deadline
        body = bytes(buf[end + 4 : end + 4 + length])
        del buf[: end + 4 + length]
        environ["wsgi.input"] = io.BytesIO(body)
        conn.state = _BUSY
        conn.idle = True
        self._sel.unregister(conn.sock)
        if environ["PATH_INFO"] in self._inline and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            self._respond(conn, self._call(conn, environ))
        else:
            self._pool.submit(lambda: self._work(conn, environ))

    # -- responses ---------------------------------------------------------------------------

    def _work(self, conn: _Conn, environ: Environ) -> None:
        try:
            self._done.put((conn, self._call(conn, environ)))
        except MemoryError:
            fatal.die("out of memory", thread=threading.current_thread().name)
        finally:
            self._wake()

    def _call(self, conn: _Conn, environ: Environ) -> list[bytes]:
        parts, conn.keep_alive = run_app(self._app, environ, conn.keep_alive)
        return parts

    def _reply_error(self, conn: _Conn, status: int) -> None:
        conn.keep_alive = False
        conn.inbuf.clear()
        body = b"%d\n" % status
        self._respond(conn, [response_head(status, [("Content-Type", "text/plain")], [body], False), body])

    def _drain_done(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except _WOULD_BLOCK:
            pass
        while True:
            try:
                conn, parts = self._done.get_nowait()
            except queue.Empty:
                return
            if self._conns.get(conn.fileno) is conn:
                self._respond(conn, parts)

    def _respond(self, conn: _Conn, parts: list[bytes]) -> None:
        conn.state = _WRITING
        conn.out = [memoryview(p) for p in parts if p]
        conn.deadline = time.monotonic() + self.limits.write_timeout
        self._watch(conn, selectors.EVENT_WRITE)
        self._write(conn)

    def _write(self, conn: _Conn) -> None:
        gather = not isinstance(conn.sock, ssl.SSLSocket)  # TLS sockets have no sendmsg
        while conn.out:
            try:
                sent = conn.sock.sendmsg(conn.out[:_IOV]) if gather else conn.sock.send(conn.out[0])
            except _WOULD_BLOCK:
                return
            except OSError:
                self._close(conn)
                return
            if not sent:
                return  # nothing taken: wait until the socket is writable again
            out = conn.out
            while sent and out:
                n = len(out[0])
                if sent < n:
                    out[0] = out[0][sent:]
                    break
                sent -= n
                out.pop(0)
        if not conn.keep_alive or self._stopping.is_set():
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
            self._close(conn)
            return
        conn.state = _READING
        conn.deadline = time.monotonic() + self.limits.idle_timeout
        if conn.eof and not conn.inbuf:
            self._close(conn)  # half-closed and every request it sent is answered
            return
        self._watch(conn, selectors.EVENT_READ)
        if conn.inbuf:
            # A pipelined request is already here. It is parsed by the loop, not from
            # here, so a long pipeline is served iteratively, interleaved with others.
            conn.idle = False
            conn.deadline = time.monotonic() + self.limits.header_timeout
            self._pipelined.append(conn)
