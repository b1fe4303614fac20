"""An event-loop HTTP/1.1 front end for a WSGI app, built so hostile clients cannot starve it.

One thread owns every socket: it accepts, runs TLS handshakes, reads requests and writes
responses, all non-blocking, so a connection costs a descriptor and a few kB, never a
thread. Only a complete request reaches the bounded worker pool; probe paths are answered
on the loop itself, so they answer when every worker is busy. Every state has a deadline;
at the connection cap the oldest connection not being served makes room. A client that
half-closes right after its request still gets every answer it asked for. Whatever a
client's bytes make a step raise closes that one connection; a ``MemoryError`` ends the
process (:func:`exporter.fatal.die`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import selectors
import socket
import threading
import time
from typing import Any

from exporter import fatal
from exporter.serve.conn import BUSY, HANDSHAKE, HELD, READING, WOULD_BLOCK, WRITING, Conn, Gate, TLSSource
from exporter.serve.conn import ServerLimits as ServerLimits
from exporter.serve.head import BadRequest, Environ, Request, find_head, parse_head
from exporter.serve.http1 import WSGIApp, peer, response_head, run_app
from exporter.serve.workers import WorkerPool

log = logging.getLogger(__name__)


class EventLoopServer:
    """Serves ``app`` on ``host:port``; ``inline`` paths run on the loop thread (keep them cheap)."""

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApp,
        tls: TLSSource | None = None,
        limits: ServerLimits | None = None,
        inline: frozenset[str] = frozenset(),
        gate: Gate | None = None,
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
        self._conns: dict[int, Conn] = {}
        self._pipelined: list[Conn] = []
        self._done: queue.SimpleQueue[tuple[Conn, list[bytes]]] = queue.SimpleQueue()
        self._pool = WorkerPool(self.limits.workers, "http-worker")
        # Requests whose credentials need bcrypt wait here, never in the pool that serves
        # scrapes: a crowd of guessers cannot delay an authorised scrape (exporter.serve.auth).
        self._gate = gate
        self._gate_pool = WorkerPool(getattr(gate, "max_checks", 1) if gate else 0, "http-auth")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        host_s, port_i = self._listener.getsockname()[:2]
        self.address: tuple[str, int] = (str(host_s), int(port_i))

    def start(self) -> None:
        """Start the workers and the loop; raises RuntimeError when a thread cannot start."""
        self._pool.start()
        self._gate_pool.start()
        self._thread.start()

    @property
    def threads(self) -> list[threading.Thread]:
        """The loop and its workers: the server answers nothing without any one of them."""
        return [self._thread, *self._pool.threads, *self._gate_pool.threads]

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
                        if c.state in (HANDSHAKE, READING, HELD):
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
                if self._conns.get(c.fileno) is c and c.state == READING:
                    self._guarded(self._parse, c)
            now = time.monotonic()
            if now - last_sweep >= 0.1:
                last_sweep = now
                self._sweep(now)
        self._close_all()

    def _guarded(self, step: Any, conn: Conn | None) -> None:
        """Run one step of the loop; whatever a client's bytes make it raise is a 400 (while
        its request is being read) and a close for that client, and nothing else."""
        try:
            step() if conn is None else step(conn)
        except MemoryError:
            fatal.die("out of memory", thread="http")
        except Exception as e:  # noqa: BLE001 - one bad connection must never stop the loop
            log.error("http connection failed error=%s", type(e).__name__)
            if conn is not None and conn.state == READING and self._conns.get(conn.fileno) is conn:
                with contextlib.suppress(Exception):
                    self._reply_error(conn, 400)
                    return
            if conn is not None:
                self._close(conn)

    def _close_all(self) -> None:
        for c in list(self._conns.values()):
            self._close(c)
        self._pool.stop()
        self._gate_pool.stop()
        for s in (self._wake_r, self._wake_w, self._listener):
            s.close()
        self._sel.close()

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, addr = self._listener.accept()
            except WOULD_BLOCK:
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
                    context = self._tls.context()
                    sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError):
                    sock.close()
                    continue
                conn = Conn(sock, addr, HANDSHAKE, now + self.limits.handshake_timeout)
            else:
                conn = Conn(sock, addr, READING, now + self.limits.idle_timeout)
            self._conns[conn.fileno] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            self._step(conn)

    def _evict_one(self) -> bool:
        # Dicts keep insertion order, so the first match is the oldest connection.
        for c in self._conns.values():
            if c.state in (HANDSHAKE, READING, HELD):
                self._close(c)
                return True
        return False

    def _close(self, conn: Conn) -> None:
        if self._conns.pop(conn.fileno, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _watch(self, conn: Conn, events: int) -> None:
        try:
            self._sel.modify(conn.sock, events, conn)
        except KeyError:
            self._sel.register(conn.sock, events, conn)

    def _sweep(self, now: float) -> None:
        for c in [c for c in self._conns.values() if c.state != BUSY and c.deadline <= now]:
            if c.state == HELD:
                c.state = WRITING
                c.deadline = now + self.limits.write_timeout
                self._watch(c, selectors.EVENT_WRITE)
                self._write(c)
            elif c.state == READING and c.inbuf:
                self._reply_error(c, 408)
            else:
                self._close(c)

    def _step(self, conn: Conn) -> None:
        if conn.state == HANDSHAKE:
            self._handshake(conn)
        elif conn.state == READING:
            self._read(conn)
        elif conn.state == WRITING:
            self._write(conn)

    def _handshake(self, conn: Conn) -> None:
        outcome = conn.handshake()
        if isinstance(outcome, int):
            self._watch(conn, outcome)  # the TLS library waits to read or to write
            return
        if outcome is None and self._tls is not None and not self._tls.allowed(conn.sock):
            outcome = "client certificate has none of the allowed SANs"
        if outcome is not None:
            # Plain HTTP, old TLS versions and scanners end here; not worth more than debug.
            log.debug("tls handshake failed peer=%s reason=%s", peer(conn.addr), outcome)
            self._close(conn)
            return
        conn.state = READING
        conn.deadline = time.monotonic() + self.limits.idle_timeout
        self._watch(conn, selectors.EVENT_READ)
        self._read(conn)

    def _read(self, conn: Conn) -> None:
        cap = self.limits.max_header_bytes + self.limits.max_body_bytes
        while len(conn.inbuf) <= cap:
            try:
                data = conn.sock.recv(65536)
            except WOULD_BLOCK:
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

    def _parse(self, conn: Conn) -> None:
        buf = conn.inbuf
        try:
            found = find_head(buf, self.limits.max_header_bytes)
            if found is None:
                if conn.eof:
                    self._close(conn)  # half a request and no more to come
                return
            head, end = found
            request = parse_head(head, self.limits.max_body_bytes)
        except BadRequest as e:
            self._reply_error(conn, e.status)
            return
        length = request.length
        if len(buf) < end + 4 + length:
            if conn.eof:
                self._close(conn)
            return  # wait for the rest of the body, under the same header deadline
        body = bytes(buf[end + 4 : end + 4 + length])
        del buf[: end + 4 + length]
        self._dispatch(conn, request, body)

    def _dispatch(self, conn: Conn, request: Request, body: bytes) -> None:
        """Answer a whole request on the loop (probes), check it first (the gate) or queue it."""
        conn.keep_alive = request.keep_alive
        environ = request.environ(self.address, peer(conn.addr), self._tls is not None)
        environ["wsgi.input"] = io.BytesIO(body)
        conn.state = BUSY
        conn.idle = True
        self._sel.unregister(conn.sock)
        if environ["PATH_INFO"] in self._inline and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            self._respond(conn, self._call(conn, environ))
            return
        gate = self._gate
        admitted = True if gate is None else gate.admit(environ)
        if admitted is None and gate is not None:
            self._gate_pool.submit(lambda: self._verify(gate, conn, environ))
        elif admitted:
            self._pool.submit(lambda: self._work(conn, environ))
        elif gate is not None:
            self._hold(conn, 429, [("Retry-After", str(gate.retry_after(environ)))])

    def _hold(self, conn: Conn, status: int, headers: list[tuple[str, str]]) -> None:
        """Answer a refused login after a second: a crowd that asks again as soon as it is
        answered then costs the loop one accept, parse and reply a second per connection, not
        thousands. A held connection costs no CPU and is the first evicted for a newcomer."""
        conn.keep_alive = False
        conn.inbuf.clear()
        body = b"%d\n" % status
        head = response_head(status, [("Content-Type", "text/plain"), *headers], [body], False)
        conn.out = [memoryview(head), memoryview(body)]
        conn.state = HELD
        conn.deadline = time.monotonic() + self.limits.refusal_hold

    def _verify(self, gate: Gate, conn: Conn, environ: Environ) -> None:
        """On a gate thread: the bcrypt check, then the request joins the worker queue."""
        try:
            gate.verify(environ)
        except MemoryError:
            fatal.die("out of memory", thread=threading.current_thread().name)
        except Exception as e:  # noqa: BLE001 - no verdict: the app decides, within the same bounds
            log.error("http auth check failed error=%s", type(e).__name__)
        self._pool.submit(lambda: self._work(conn, environ))

    def _work(self, conn: Conn, environ: Environ) -> None:
        try:
            self._done.put((conn, self._call(conn, environ)))
        except MemoryError:
            fatal.die("out of memory", thread=threading.current_thread().name)
        finally:
            self._wake()

    def _call(self, conn: Conn, environ: Environ) -> list[bytes]:
        parts, conn.keep_alive = run_app(self._app, environ, conn.keep_alive)
        return parts

    def _reply_error(self, conn: Conn, status: int, extra: list[tuple[str, str]] | None = None) -> None:
        conn.keep_alive = False
        conn.inbuf.clear()
        body = b"%d\n" % status
        headers = [("Content-Type", "text/plain"), *(extra or [])]
        self._respond(conn, [response_head(status, headers, [body], False), body])

    def _drain_done(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except WOULD_BLOCK:
            pass
        while True:
            try:
                conn, parts = self._done.get_nowait()
            except queue.Empty:
                return
            if self._conns.get(conn.fileno) is conn:
                self._respond(conn, parts)

    def _respond(self, conn: Conn, parts: list[bytes]) -> None:
        conn.state = WRITING
        conn.out = [memoryview(p) for p in parts if p]
        conn.deadline = time.monotonic() + self.limits.write_timeout
        self._watch(conn, selectors.EVENT_WRITE)
        self._write(conn)

    def _write(self, conn: Conn) -> None:
        flushed = conn.flush()
        if flushed is None:
            self._close(conn)
        if not flushed:
            return
        if not conn.keep_alive or self._stopping.is_set():
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
            self._close(conn)
            return
        conn.state = READING
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
