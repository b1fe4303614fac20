"""HTTP serving: ``/metrics``, ``/-/healthy``, ``/-/ready``, ``/-/reload`` and a landing page.

``/metrics`` serves the cached exposition, whole or only the families ``name[]`` names,
with OpenMetrics negotiation and gzip when the client's ``Accept-Encoding`` allows it.
Optional TLS and basic auth come from the web config file. Basic auth guards ``/metrics``
and ``/-/reload``; the probes and the landing page stay open so kubelet probes need no
credentials. ``/-/reload`` is off unless
the lifecycle API is enabled, as in Prometheus. Failed logins and reloads are rate
limited. The sockets are handled by :mod:`exporter.serve.loop`.
"""

from __future__ import annotations

import html
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from exporter import __version__
from exporter.config.web import WebSecurity
from exporter.exposition.render import CachedExposition
from exporter.serve.auth import BasicAuth, Outcome, client_key
from exporter.serve.loop import EventLoopServer, ServerLimits
from exporter.serve.policy import WebPolicy
from exporter.serve.ratelimit import RateLimiter
from exporter.serve.tls import ServerTLS

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

PROBES = frozenset({"/-/healthy", "/-/ready"})
# Reloads: a burst of 3, then one every 10 s, whoever asks.
RELOAD_BURST, RELOAD_RATE = 3.0, 1 / 10
# Query fields of one /metrics request: the catalogue has about 50 families and 100 sample
# names, so this is room for every one while it bounds the parsing.
MAX_QUERY_FIELDS = 256


class BadQuery(ValueError):
    pass


def requested_names(query: str) -> list[str] | None:
    """The ``name[]`` values of a query string; None when it has none (the whole exposition).
    Raises :class:`BadQuery` past :data:`MAX_QUERY_FIELDS` fields."""
    if "name" not in query:
        return None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as e:  # more fields than that
        raise BadQuery(f"at most {MAX_QUERY_FIELDS} query fields") from e
    names = [value for key, value in pairs if key == "name[]"]
    return names if names else None


def gzip_wanted(accept_encoding: str) -> bool:
    """True when ``Accept-Encoding`` gives gzip (or ``*`` without an explicit gzip) a q above 0."""
    explicit: float | None = None
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also rejects NaN
                    q = 0.0
        coding = coding.lower()
        if coding in ("gzip", "x-gzip"):
            explicit = q if explicit is None else max(explicit, q)
        elif coding == "*":
            star = q
    if explicit is not None:
        return explicit > 0
    return star is not None and star > 0


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
    exposition: CachedExposition,
    ready: Callable[[], bool],
    reload: Callable[[], tuple[bool, str]],
    auth: BasicAuth | None = None,
    *,
    lifecycle: bool = False,
    clock: Callable[[], float] = time.monotonic,
    stopped: Callable[[], str | None] = lambda: None,
    policy: WebPolicy | None = None,
) -> WSGIApp:
    """The exporter's WSGI app, dispatching on path.

    ``/metrics`` serves ``exposition``: its cached data bytes plus the live self-metrics, all
    of them or the families ``name[]`` names (any method; HEAD gets the headers). ``lifecycle``
    enables ``POST /-/reload``. ``stopped`` names a thread the process needs that has
    stopped (``/-/healthy`` then fails), or returns None. ``policy`` adds the web config's
    response headers and request rate limit (the probes are never rate limited: a limit
    meant for scrapers must not make the kubelet restart the pod).
    """
    landing = LANDING.format(version=html.escape(__version__)).encode()
    reloads = RateLimiter(RELOAD_BURST, RELOAD_RATE, max_keys=1, clock=clock)

    def too_many(start: StartResponse, wait: int, what: str) -> list[bytes]:
        return _text(start, "429 Too Many Requests", f"{what}; retry later\n", [("Retry-After", str(wait))])

    def check_auth(environ: Environ, start: StartResponse) -> list[bytes] | None:
        """None when the request may go on, else the response refusing it."""
        if auth is None:
            return None
        outcome = auth.authenticate(environ)
        if outcome is Outcome.OK:
            return None
        if outcome is Outcome.LIMITED:
            wait = auth.failures.retry_after(client_key(str(environ.get("REMOTE_ADDR", ""))))
            return too_many(start, max(1, wait), "Too many failed logins")
        if outcome is Outcome.BUSY:
            return too_many(start, 1, "Too many logins being checked")
        return _text(
            start, "401 Unauthorized", "Unauthorized\n", [("WWW-Authenticate", 'Basic realm="exporter"')]
        )

    def app(environ: Environ, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if policy is not None:
            extra = policy.headers
            if extra:
                inner = start

                def start(status: str, hs: list[tuple[str, str]], exc_info: Any = None) -> Any:
                    return inner(status, [*hs, *extra], exc_info)

            wait = 0 if path in PROBES else policy.retry_after()
            if wait:
                return too_many(start, wait, "Rate limit exceeded")
        if path in ("/metrics", "/-/reload"):
            refused = check_auth(environ, start)
            if refused is not None:
                return refused
        if path == "/metrics":
            gz = gzip_wanted(environ.get("HTTP_ACCEPT_ENCODING", ""))
            try:
                names = requested_names(environ.get("QUERY_STRING", ""))
            except BadQuery as e:
                return _text(start, "400 Bad Request", f"{e}\n")
            parts, content_type = exposition.chunks(environ.get("HTTP_ACCEPT", ""), gz, names)
            length = sum(len(p) for p in parts)
            headers = [("Content-Type", content_type), ("Content-Length", str(length))]
            if gz:
                headers.append(("Content-Encoding", "gzip"))
            start("200 OK", headers)
            return parts
        if path == "/-/healthy":
            dead = stopped()
            if dead is not None:
                return _text(start, "503 Service Unavailable", f"Unhealthy: thread {dead} stopped\n")
            return _text(start, "200 OK", "OK\n")
        if path == "/-/ready":
            return (
                _text(start, "200 OK", "Ready\n")
                if ready()
                else _text(start, "503 Service Unavailable", "Not ready\n")
            )
        if path == "/-/reload":
            if not lifecycle:
                return _text(
                    start,
                    "403 Forbidden",
                    "Lifecycle API is not enabled; start with --web.enable-lifecycle or send SIGHUP\n",
                )
            if method not in ("POST", "PUT"):
                return _text(start, "405 Method Not Allowed", "Use POST\n", [("Allow", "POST, PUT")])
            wait = reloads.retry_after("")
            if wait:
                return too_many(start, wait, "Too many reloads")
            reloads.spend("")
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


SWITCH_INTERVAL = 0.001


class _SwitchInterval:
    """Python's thread switch interval, lowered while any server runs.

    The renderer and the sources run pure-Python work on other threads, and the loop needs
    the GIL back at every wake-up of a long write; at the default 5 ms a scrape that met a
    render waited that long many times over (a 22 MB body next to a CPU-bound thread: max
    103 ms at 5 ms, 23 ms at 1 ms). The interval is interpreter-wide, so the first server
    to start lowers it (never raises it) and the last to stop puts the old value back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved: float | None = None

    def acquire(self) -> None:
        with self._lock:
            self._running += 1
            if self._running == 1 and sys.getswitchinterval() > SWITCH_INTERVAL:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)

    def release(self) -> None:
        with self._lock:
            self._running = max(0, self._running - 1)
            if self._running == 0 and self._saved is not None:
                sys.setswitchinterval(self._saved)
                self._saved = None


_switch = _SwitchInterval()


class HTTPServer:
    """The exporter's HTTP(S) server on ``host:port`` (port 0 picks a free port).

    Probe paths are answered on the event-loop thread, so they answer even when every
    worker is busy; everything else runs on the bounded worker pool. With ``gate`` (the
    app's :class:`BasicAuth`), credentials that need bcrypt are checked on threads of their
    own before the request joins the worker queue. :attr:`tls_source` re-reads the
    certificate when its files change; :meth:`update` applies a reloaded web config.
    """

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApp,
        security: WebSecurity | None = None,
        limits: ServerLimits | None = None,
        gate: BasicAuth | None = None,
    ) -> None:
        self.tls = bool(security and security.tls)
        self.tls_source = ServerTLS(security) if security and security.tls else None
        self._server = EventLoopServer(host, port, app, self.tls_source, limits, inline=PROBES, gate=gate)
        self._holds_switch = False

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    @property
    def threads(self) -> list[threading.Thread]:
        """The server's loop and worker threads (the process needs every one)."""
        return self._server.threads

    @property
    def connections(self) -> int:
        """Connections currently open (any state)."""
        return self._server.connections

    @property
    def url(self) -> str:
        host, port = self.address
        if host in ("0.0.0.0", "::"):  # noqa: S104 - only formatting a URL
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> None:
        if not self._holds_switch:
            _switch.acquire()
            self._holds_switch = True
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
        if self._holds_switch:
            self._holds_switch = False
            _switch.release()
