"""Candidate (b) of docs/decisions.md: the exporter's event loop with h11 as its request parser.

Benchmarks only (h11 is a test dependency, never the exporter's). Each request gets a
fresh ``h11.Connection`` fed with everything the client has sent; h11 frames it (head,
Content-Length or chunked body) and hands back what follows (``trailing_data``) for the
next one, so pipelining and half-close work as in the loop. Errors are h11's own
(``RemoteProtocolError.error_status_hint``).
"""

from __future__ import annotations

import h11

from exporter.serve.conn import Conn
from exporter.serve.head import Request
from exporter.serve.loop import EventLoopServer


class H11LoopServer(EventLoopServer):
    """:class:`EventLoopServer` whose ``_parse`` is h11's."""

    def _parse(self, conn: Conn) -> None:
        h = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        h.receive_data(bytes(conn.inbuf))
        if conn.eof:
            h.receive_data(b"")
        body = b""
        try:
            event = h.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                if conn.eof:
                    self._close(conn)
                return
            assert isinstance(event, h11.Request)
            request = event
            while True:
                part = h.next_event()
                if part is h11.NEED_DATA:
                    if conn.eof:
                        self._close(conn)
                    return  # parsed again from the start when more arrives
                if isinstance(part, h11.Data):
                    body += part.data
                    if len(body) > self.limits.max_body_bytes:
                        self._reply_error(conn, 413)
                        return
                elif isinstance(part, h11.EndOfMessage):
                    break
        except h11.RemoteProtocolError as e:
            self._reply_error(conn, e.error_status_hint)
            return
        conn.inbuf[:] = h.trailing_data[0]
        headers: dict[str, str] = {}
        close = False
        for name, value in request.headers:
            key = name.decode("ascii").upper().replace("-", "_")
            text = value.decode("latin-1")
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue
            if key == "CONNECTION":
                close = close or "close" in text.lower()
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        version = "HTTP/" + request.http_version.decode()
        keep_alive = not close and version == "HTTP/1.1"
        parsed = Request(
            request.method.decode(), request.target.decode("latin-1"), version, headers, len(body), keep_alive
        )
        self._dispatch(conn, parsed, body)
