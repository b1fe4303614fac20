"""A hostile Huawei Cloud upstream on 127.0.0.1: one mode per attack on the exporter's client.

``HostileUpstream(mode)`` answers every path (Workspace, IAM, Cloud Eye) with the attack
of its current ``mode``; tests switch modes while it runs. Every endless mode stops
when the client goes away, when the server stops, or after ``max_seconds``, so no test
can hang on it. ``bytes_sent`` counts what the server managed to write, which tells a
test how much of an oversized answer the client actually read.

Modes:
  ok              a small, valid desktops page (also valid for IAM and Cloud Eye)
  gzip_bomb       a few hundred kB of gzip that inflates to ``bomb_bytes``
  huge            a 100 MB identity body with a Content-Length
  endless         an endless chunked stream of valid-looking JSON
  drip            headers at once, then one body byte per ``drip_interval``
  drip_headers    the status line and headers one byte per ``drip_interval``
  lying_total     full pages of unique desktops with total_count 10**9, for ever
  deep_json       ``[`` nested ``deep_levels`` deep
  big_int         a desktop page (and monitor answer) with a 400-digit integer
  echo_secrets    401/400 whose body echoes every request header and the request
                  body, raw, JSON-escaped and URL-escaped (IAM too)
  surrogate       desktops whose names hold a lone surrogate (``\\ud800``)
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

MODES = (
    "ok",
    "gzip_bomb",
    "huge",
    "endless",
    "drip",
    "drip_headers",
    "lying_total",
    "deep_json",
    "big_int",
    "echo_secrets",
    "surrogate",
)
HUGE_BYTES = 100 * 1024 * 1024
_BOMB_CACHE: dict[int, bytes] = {}


def gzip_bomb(size: int) -> bytes:
    """``size`` bytes of JSON-looking text, gzip-compressed (about 1,000:1)."""
    if size not in _BOMB_CACHE:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
            gz.write(b'{"desktops": [], "pad": "')
            block = b" " * (1024 * 1024)
            for _ in range(size // len(block)):
                gz.write(block)
            gz.write(b'"}')
        _BOMB_CACHE[size] = buf.getvalue()
    return _BOMB_CACHE[size]


def desktop(i: int, name: str = "") -> dict[str, Any]:
    return {
        "desktop_id": f"d-{i:08d}",
        "computer_name": name or f"pc-{i}",
        "status": "ACTIVE",
        "created": "2026-01-01T00:00:00.000Z",
        "user_list": [{"user_name": f"user{i}"}],
    }


class HostileUpstream:
    """The hostile server; use as a context manager (it is stopped on exit)."""

    def __init__(
        self,
        mode: str = "ok",
        *,
        bomb_bytes: int = 256 * 1024 * 1024,
        drip_interval: float = 1.0,
        deep_levels: int = 100_000,
        max_seconds: float = 60.0,
        tls: tuple[str, str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.bomb_bytes = bomb_bytes
        self.drip_interval = drip_interval
        self.deep_levels = deep_levels
        self.max_seconds = max_seconds
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.bytes_sent = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.query_log: list[tuple[str, dict[str, str]]] = []  # (path, first value per key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # (cert_file, key_file): serve HTTPS with that certificate
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HostileUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HostileUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, prefix: str = "") -> int:
        with self.lock:
            return sum(1 for _, p, _, _ in self.requests if p.startswith(prefix))

    def queries(self, prefix: str = "") -> list[dict[str, str]]:
        """The query of each request whose path starts with ``prefix``, in order."""
        with self.lock:
            return [q for p, q in self.query_log if p.startswith(prefix)]

    def _sent(self, n: int) -> None:
        with self.lock:
            self.bytes_sent += n

    # ------------------------------------------------------------------ handler

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def end_headers(self) -> None:
                # Every answer ends its connection (close_connection below): say so, or the
                # client may reuse a socket the server is closing and read a reset instead.
                self.send_header("Connection", "close")
                super().end_headers()

            def _do(self) -> None:
                u = urlsplit(self.path)
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = self.rfile.read(length) if length else b""
                with up.lock:
                    up.requests.append((self.command, u.path, dict(self.headers), body))
                    up.query_log.append((u.path, {k: v[0] for k, v in parse_qs(u.query).items()}))
                # The client giving up mid-answer is the point of most modes.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    up._answer(self, u.path, parse_qs(u.query), body)
                self.close_connection = True

            do_GET = do_POST = _do

        return Handler

    def _write(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        h.wfile.write(data)
        self._sent(len(data))

    def _json(
        self, h: BaseHTTPRequestHandler, status: int, doc: object, headers: dict[str, str] | None = None
    ) -> None:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        self._write(h, data)

    def _ok_doc(self, path: str, query: dict[str, list[str]], name: str = "") -> dict[str, Any]:
        if path.startswith("/v3/projects"):
            return {"projects": [{"id": "p" * 32, "name": (query.get("name") or [""])[0]}]}
        if "desktop-monitor" in path:
            return {"desktop_metrics": []}
        if path.startswith("/V1.0/"):
            return {"metrics": [], "meta_data": {"count": 0, "marker": "", "total": 0}}
        offset = int((query.get("offset") or ["0"])[0])
        items = [desktop(i, name) for i in range(offset, offset + 2)] if offset == 0 else []
        return {"desktops": items, "total_count": len(items)}

    def _answer(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: bytes) -> None:
        mode = self.mode
        started = time.monotonic()

        def alive() -> bool:
            return not self.stop_event.is_set() and time.monotonic() - started < self.max_seconds

        if path.startswith("/v3/auth/tokens") and mode not in ("echo_secrets", "drip", "drip_headers"):
            h.send_response(201)
            h.send_header("X-Subject-Token", "tok-" + "x" * 40)
            data = json.dumps({"token": {"expires_at": "2099-01-01T00:00:00Z"}}).encode()
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            self._write(h, data)
            return
        if mode == "ok":
            self._json(h, 200, self._ok_doc(path, query))
        elif mode == "surrogate":
            self._json(h, 200, self._ok_doc(path, query, name="pc\ud800x"))
        elif mode == "big_int":
            doc = self._ok_doc(path, query)
            big = int("9" * 400)
            for d in doc.get("desktops", ()):
                d["created"] = big
                d["cpu"] = big
            if "desktop-monitor" in path:
                doc = {"desktop_metrics": [{"metric_name": "cpu_usage", "datapoints": [{"average": big}]}]}
            self._json(h, 200, doc)
        elif mode == "gzip_bomb":
            data = gzip_bomb(self.bomb_bytes)
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            self._write(h, data)
        elif mode == "huge":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(HUGE_BYTES))
            h.end_headers()
            block = b" " * (1024 * 1024)
            self._write(h, b'{"pad": "' + block[9:])
            for _ in range(HUGE_BYTES // len(block) - 1):
                if not alive():
                    return
                self._write(h, block)
        elif mode == "endless":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            item = json.dumps(desktop(1)).encode() + b","
            chunk = item * 200
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            self._write(h, b'10\r\n{"desktops": [  \r\n')
            while alive():
                self._write(h, frame)
        elif mode == "drip":
            data = json.dumps(self._ok_doc(path, query)).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.flush()
            for b in data:
                if not alive() or self.stop_event.wait(self.drip_interval):
                    return
                self._write(h, bytes([b]))
                h.wfile.flush()
        elif mode == "drip_headers":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            for b in head:
                if not alive() or self.stop_event.wait(self.drip_interval):
                    return
                h.wfile.write(bytes([b]))
                h.wfile.flush()
                self._sent(1)
        elif mode == "lying_total":
            offset = int((query.get("offset") or ["0"])[0])
            limit = int((query.get("limit") or ["100"])[0])
            items = [desktop(i) for i in range(offset, offset + limit)]
            self._json(h, 200, {"desktops": items, "total_count": 10**9})
        elif mode == "deep_json":
            n = self.deep_levels
            self._json(h, 200, b"[" * n + b"]" * n)
        elif mode == "echo_secrets":
            self._echo(h, path, body)

    def _echo(self, h: BaseHTTPRequestHandler, path: str, body: bytes) -> None:
        """Echo every header value and the body in raw, JSON-escaped and URL-escaped form."""
        text = body.decode("utf-8", "replace")
        parts: list[str] = [f"request body: {text}"]
        for name, value in h.headers.items():
            parts.append(f"{name}: {value}")
            parts.append(f"{name} (url): {quote(value, safe='')}")
            parts.append(f"{name} (json): {json.dumps(value)}")
        message = " | ".join(parts)
        status = 400 if path.startswith("/v3/auth/tokens") else 401
        code = "IAM.0001" if status == 400 else "APIGW.0101"
        self._json(
            h,
            status,
            {"error_code": code, "error_msg": message, "echo": {"raw": message}},
            {"X-Request-Id": "req-echo"},
        )
