"""Fixtures of the contract tests: the fake API behind a capturing proxy on 127.0.0.1.

Both our client and the official SDK clients talk to the proxy; it records every
request exactly as it arrived (method, raw path, query, headers, body) and forwards it,
``Host`` unchanged so signatures still verify, to the fake, whose answer it returns.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from exporter.fake import FakeServer, FakeWorkspace


@dataclass
class Captured:
    method: str
    path: str  # raw, exactly as sent
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int = 0
    response: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def signed_headers(self) -> list[str]:
        auth = self.headers.get("authorization", "")
        for part in auth.split(", "):
            if "SignedHeaders=" in part:
                return part.split("SignedHeaders=", 1)[1].split(";")
        return []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        rec = Captured(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=30)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders(body or None)
            resp = conn.getresponse()
            payload = resp.read()
            headers = dict(resp.getheaders())
            status = resp.status
        finally:
            conn.close()
        rec.status, rec.response, rec.response_headers = status, payload, headers
        with self.server.lock:
            self.server.captured.append(rec)
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _relay


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: str) -> None:
        split = urlsplit(upstream)
        self.upstream_host = split.hostname or "127.0.0.1"
        self.upstream_port = split.port or 80
        self.captured: list[Captured] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)


class CaptureProxy:
    """A recording reverse proxy in front of ``upstream``; ``with`` starts and stops it."""

    def __init__(self, upstream: str) -> None:
        self._server = _ProxyServer(upstream)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def take(self) -> list[Captured]:
        """The requests captured since the last call (and forget them)."""
        with self._server.lock:
            out, self._server.captured = self._server.captured, []
        return out

    def __enter__(self) -> CaptureProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def state() -> FakeWorkspace:
    # The fake's clock is real time: the SDK signs with the wall clock and the fake
    # rejects dates more than 15 minutes off.
    return FakeWorkspace(6, now=time.time)


@pytest.fixture
def fake_url(state: FakeWorkspace) -> Iterator[str]:
    server = FakeServer(state)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
    assert server.errors == [], "\n".join(server.errors)


@pytest.fixture
def proxy(fake_url: str) -> Iterator[CaptureProxy]:
    with CaptureProxy(fake_url) as p:
        yield p
