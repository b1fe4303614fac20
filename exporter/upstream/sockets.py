"""Which connection each thread's exchange is on, so a deadline timer or shutdown can cut it.

:class:`TrackingAdapter` makes ``requests`` pools whose connections register with a
:class:`Tracker` as they send; :meth:`Tracker.cut` shuts one thread's socket down (its
deadline passed), :meth:`Tracker.cut_all` every one (the exporter stops). A shut-down
socket wakes the thread blocked on it at once, in the header phase as in the body.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Tracker:
    """Which connection each thread is using, so a deadline timer or a shutdown can cut it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[int, HTTPConnection] = {}
        self._aborted: set[int] = set()
        self.closed = False

    def bind(self, conn: HTTPConnection) -> None:
        ident = threading.get_ident()
        with self._lock:
            self._conns[ident] = conn
            closed = self.closed
        if closed:
            _shutdown(conn)

    def unbind(self) -> bool:
        """Forget this thread's connection; True when it was cut by a timer or abort."""
        ident = threading.get_ident()
        with self._lock:
            self._conns.pop(ident, None)
            was = ident in self._aborted
            self._aborted.discard(ident)
        return was

    def cut(self, ident: int) -> None:
        with self._lock:
            conn = self._conns.get(ident)
            self._aborted.add(ident)
        if conn is not None:
            _shutdown(conn)

    def cut_all(self) -> None:
        with self._lock:
            self.closed = True
            conns = list(self._conns.items())
            self._aborted.update(i for i, _ in conns)
        for _, conn in conns:
            _shutdown(conn)


def _shutdown(conn: HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    # shutdown (not close) wakes a thread blocked in recv on this socket at once; the plain
    # socket method, because SSLSocket.shutdown would drop the TLS state under the reader.
    with contextlib.suppress(OSError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class TrackingAdapter(HTTPAdapter):
    """An adapter whose pools make connections that register with a :class:`Tracker`."""

    def __init__(self, tracker: Tracker, pool_maxsize: int) -> None:
        self._tracker = tracker
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kw: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **kw)
        tracker = self._tracker

        def track(base: type[HTTPConnection]) -> type[HTTPConnection]:
            def request(self: HTTPConnection, *args: Any, **kwargs: Any) -> None:
                tracker.bind(self)
                base.request(self, *args, **kwargs)

            return type("Tracked" + base.__name__, (base,), {"request": request})

        http_pool = type("TrackedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": track(HTTPConnection)})
        https_pool = type(
            "TrackedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": track(HTTPSConnection)}
        )
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}
