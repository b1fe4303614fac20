"""HTTP/1.1 responses for the event-loop server: the WSGI app run, response heads out.

Functions over bytes, testable without sockets; request heads are parsed (strictly) in
:mod:`exporter.serve.head`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any

from exporter.serve.head import Environ

log = logging.getLogger(__name__)

WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]

REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


def response_head(
    status: int | str, headers: list[tuple[str, str]], body: list[bytes], keep_alive: bool
) -> bytes:
    """The status line and headers; an int ``status`` gets its reason and ``body``'s length."""
    if isinstance(status, int):
        status = f"{status} {REASONS.get(status, 'Error')}"
        headers = [*headers, ("Content-Length", str(sum(len(b) for b in body)))]
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    lines.append(f"Date: {formatdate(usegmt=True)}")
    lines.append("Connection: " + ("keep-alive" if keep_alive else "close"))
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"


def run_app(app: WSGIApp, environ: Environ, keep_alive: bool) -> tuple[list[bytes], bool]:
    """The response to send (head, then body chunks; the head alone for HEAD) and whether
    the connection stays open. An app that raises is a 500, one log line, and a close."""
    state: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        state["status"], state["headers"] = status, headers
        return lambda data: state.setdefault("early", []).append(data)

    try:
        result = app(environ, start_response)
        try:
            body = [*state.get("early", []), *(bytes(b) for b in result)]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = state["status"], list(state["headers"])
    except MemoryError:
        raise  # not the request's fault: fatal, see exporter.fatal
    except Exception as e:
        log.error(
            "http request failed method=%s path=%s error=%s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            type(e).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        error = [b"Internal Server Error\n"]
        return [response_head(500, [("Content-Type", "text/plain")], error, False), *error], False
    if not any(k.lower() == "content-length" for k, _ in headers):
        headers.append(("Content-Length", str(sum(len(b) for b in body))))
    head = response_head(status, headers, [], keep_alive)
    return ([head] if environ["REQUEST_METHOD"] == "HEAD" else [head, *body]), keep_alive


def peer(addr: Any) -> str:
    """The client address as logged and put in ``REMOTE_ADDR``."""
    if isinstance(addr, tuple) and addr:
        return str(addr[0])
    return str(addr) if addr else "local"
