"""HTTP serving: ``/metrics``, ``/-/healthy``, ``/-/ready``, ``/-/reload`` and a landing page.

``/metrics`` is prometheus_client's WSGI app (content negotiation, OpenMetrics,
gzip when asked, ``name[]`` filtering). Optional TLS and basic auth come from the
web config file. Basic auth guards ``/metrics`` and ``/-/reload``; the probes and
the landing page stay open so kubelet probes need no credentials.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, gzip_accepted

from exporter import __version__
from exporter.config.web import BasicAuth, WebSecurity
from exporter.exposition.render import CachedExposition

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingWSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def _text(
    start: StartResponse, status: str, body: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    data = body.encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    start(status, headers + (extra or []))
    return [data]


LANDING = """<!doctype html>
<html><head><meta charset="utf-8"><title>Huawei Cloud Workspace Exporter</title></head>
<body>
<h1>Huawei Cloud Workspace Exporter</h1>
<p>Version {version}. Prometheus metrics for Huawei Cloud Workspace desktops.</p>
<ul>
<li><a href="metrics">/metrics</a> &mdash; metrics</li>
<li><a href="-/healthy">/-/healthy</a> &mdash; liveness</li>
<li><a href="-/ready">/-/ready</a> &mdash; readiness (after the first inventory refresh)</li>
</ul>
</body></html>
"""


def make_app(
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    reload: Callable[[], tuple[bool, str]],
    auth: BasicAuth | None = None,
    exposition: CachedExposition | None = None,
) -> WSGIApp:
    """The exporter's WSGI app, dispatching on path.

    With ``exposition``, ``/metrics`` serves cached data bytes plus live self-metrics;
    ``name[]`` filtering falls back to rendering ``registry`` in full.
    """
    metrics_app = make_wsgi_app(registry)
    landing = LANDING.format(version=html.escape(__version__)).encode()

    def authorized(environ: Environ) -> bool:
        if auth is None:
            return True
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and auth.check(user, password)

    def app(environ: Environ, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path in ("/metrics", "/-/reload") and not authorized(environ):
            return _text(
                start, "401 Unauthorized", "Unauthorized\n", [("WWW-Authenticate", 'Basic realm="exporter"')]
            )
        if path == "/metrics":
            if exposition is not None and "name[]" not in environ.get("QUERY_STRING", ""):
                gz = gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", ""))
                parts, content_type = exposition.chunks(environ.get("HTTP_ACCEPT", ""), gz)
                length = sum(len(p) for p in parts)
                headers = [("Content-Type", content_type), ("Content-Length", str(length))]
                if gz:
                    headers.append(("Content-Encoding", "gzip"))
                start("200 OK", headers)
                return parts
            body: Iterable[bytes] = metrics_app(environ, start)
            return body
        if path == "/-/healthy":
            return _text(start, "200 OK", "OK\n")
        if path == "/-/ready":
            return (
                _text(start, "200 OK", "Ready\n")
                if ready()
                else _text(start, "503 Service Unavailable", "Not ready\n")
            )
        if path == "/-/reload":
            if method != "POST":
                return _text(start, "405 Method Not Allowed", "Use POST\n", [("Allow", "POST")])
            ok, message = reload()
            return _text(start, "200 OK" if ok else "500 Internal Server Error", message + "\n")
        if path == "/":
            start(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(landing)))],
            )
            return [landing]
        return _text(start, "404 Not Found", "Not found\n")

    return app


class HTTPServer:
    """A threaded WSGI server on ``host:port`` (port 0 picks a free port)."""

    def __init__(self, host: str, port: int, app: WSGIApp, security: WebSecurity | None = None) -> None:
        cls = _Server6 if ":" in host else _Server
        self._httpd = make_server(host, port, app, cls, handler_class=_QuietHandler)
        self.tls = bool(security and security.tls)
        if security and security.tls:
            self._httpd.socket = security.ssl_context().wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        if host in ("0.0.0.0", "::"):  # noqa: S104 - only formatting a URL
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
