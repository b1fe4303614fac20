"""The fake's HTTP server: a real threaded server on 127.0.0.1 serving one :class:`FakeWorkspace`.

Request pipeline for an upstream API: route -> latency -> auth (token or AK/SK signature)
-> project check -> rate limit / throttle / fail faults -> handler -> garbage fault.
The call is logged before the response is written. ``/_fake/*`` is the control plane.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from exporter.fake import control, routes, strict
from exporter.fake.garbage import corrupt
from exporter.fake.proto import (
    NO_PERMISSION,
    NOT_PUBLISHED,
    OPERATION_FAILED,
    BadRequest,
    Request,
    Response,
    error_response,
    json_response,
)
from exporter.fake.state import FakeWorkspace

AUTH_CODE = "APIGW.0301"
AUTH_PREFIX = "Incorrect IAM authentication information: "


def _auth_error(detail: str) -> Response:
    return error_response(401, AUTH_CODE, AUTH_PREFIX + detail)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections

    def __init__(self, address: tuple[str, int], state: FakeWorkspace, errors: list[str]) -> None:
        self.state = state
        self.errors = errors
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, stop()) are normal; anything else is kept, not printed."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            self.errors.append(traceback.format_exc())

    def close_connections(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HttpServer
    timeout = 60  # idle keep-alive connections end eventually

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr logging."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ pipeline

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        raw_path, raw_query = split.path, split.query
        if raw_path.startswith("/_fake/"):
            self._send(control.handle(state, method, raw_path, body))
            return
        multi = parse_qs(raw_query, keep_blank_values=True)
        query = {k: ",".join(v) for k, v in multi.items()}
        found = routes.match(method, raw_path)
        guarded = routes.refused_method(method, raw_path)
        if guarded is not None:
            resp = error_response(405, "APIGW.0106", f"Method {method} is not allowed on this path.")
            req = Request(method, raw_path, {k: v[0] for k, v in multi.items()}, multi, body, {}, {})
            strict.record_unlisted(state, guarded.api, req, 405, "APIGW.0106", "a method other than GET")
            state.record_call(guarded.api, method, raw_path, query, resp.status)
            self._send(resp)
            return
        if found is None:
            resp = error_response(404, "APIGW.0101", NOT_PUBLISHED)
            state.record_call("", method, raw_path, query, resp.status)
            self._send(resp)
            return
        route, params = found
        multi = state.listing_query(route.api, multi)
        delay = state.latency_for(route.api)
        if delay > 0:
            time.sleep(delay)
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(method, raw_path, {k: v[0] for k, v in multi.items()}, multi, body, params, headers)
        resp = self._serve(route, req, raw_query)
        state.record_call(route.api, method, raw_path, query, resp.status)
        self._send(resp)

    def _serve(self, route: routes.Route, req: Request, raw_query: str) -> Response:
        state = self.server.state
        try:
            if route.auth:
                denied = self._authenticate(req, raw_query, route.api)
                if denied is not None:
                    return denied
            if route.project_scoped and req.path_params.get("project_id") != state.project_id:
                return error_response(403, NO_PERMISSION, "No permission to access the project in the path.")
            verdict = state.pre_request(route.api)
            if verdict.body is not None:
                return json_response(verdict.body, verdict.status)
            if verdict.status:
                return error_response(verdict.status, verdict.error_code, verdict.error_msg)
            resp = route.handler(state, req)
            if 200 <= resp.status < 300:
                kind = state.garbage_kind(route.api)
                if kind:
                    resp.body = corrupt(kind, resp.body, resp.content_type)
            return resp
        except BadRequest as exc:
            return error_response(exc.status, exc.code, exc.msg)
        except Exception:  # noqa: BLE001 - a bug in the fake: answer 500, keep the traceback
            self.server.errors.append(traceback.format_exc())
            return error_response(500, OPERATION_FAILED, "Internal error in the fake API")

    def _authenticate(self, req: Request, raw_query: str, api: str) -> Response | None:
        """None when the token or the AK/SK signature (temporary keys included) is good; every
        refusal is logged as an auth failure (see exporter.fake.identity)."""
        state = self.server.state
        project_header = self.headers.get("X-Project-Id")
        if project_header is not None and project_header.strip() != state.project_id:
            state.note_auth_failure(api, "the project id in X-Project-Id is invalid")
            return _auth_error("the project id in X-Project-Id is invalid")
        token = self.headers.get("X-Auth-Token")
        if token:
            refused = state.token_verdict(token.strip())
            if refused is None:
                return None
            state.note_auth_failure(api, refused[1])
            return error_response(401, *refused)
        if self.headers.get("Authorization"):
            detail = state.verify_signed(req.method, req.path, raw_query, self.headers, req.body, api)
            return _auth_error(detail) if detail else None
        state.note_auth_failure(api, "x-auth-token not found")
        return _auth_error("x-auth-token not found")

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("X-Request-Id", secrets.token_hex(16))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(resp.body)


class FakeServer:
    """Serve a :class:`FakeWorkspace` over HTTP on ``host:port`` (port 0 picks a free one).

    ``with FakeServer(state) as url:`` starts it and always stops it.
    """

    def __init__(self, state: FakeWorkspace, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._errors: list[str] = []

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions raised inside handlers (a bug in the fake)."""
        return list(self._errors)

    def start(self) -> str:
        if self._httpd is not None:
            return self.url
        self._httpd = _HttpServer((self.host, self.port), self.state, self._errors)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-workspace",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
