"""HTTP/1.1 messages for the event-loop server: request heads in, the WSGI app run, responses out.

Functions over bytes, so the strict parsing (what a hostile client may send) is testable
without sockets. Anything the exporter does not need is refused, not guessed
at: HTTP/0.9 and 2, chunked request bodies, obsolete line folding, over 100 header lines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_to_bytes

log = logging.getLogger(__name__)

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]

REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}
_MAX_HEADER_LINES = 100


class BadRequest(Exception):
    """A request head the server answers with ``status`` and a close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # CGI-style keys (USER_AGENT), repeated headers joined with ","
    length: int  # of the body that follows the head
    keep_alive: bool

    def environ(self, address: tuple[str, int], remote: str, tls: bool) -> Environ:
        """The WSGI environ, without ``wsgi.input`` (the caller adds the body)."""
        target = self.target
        if target.startswith(("http://", "https://")):
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        headers = dict(self.headers)
        host, port = address
        environ: Environ = {
            "REQUEST_METHOD": self.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": self.version,
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "REMOTE_ADDR": remote,
            "CONTENT_LENGTH": str(self.length),
            "CONTENT_TYPE": headers.pop("CONTENT_TYPE", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if tls else "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, val in headers.items():
            environ["HTTP_" + key] = val
        return environ


def parse_head(head: bytes, max_body_bytes: int) -> Request:
    """The request line and headers (without the blank line); raises :class:`BadRequest`."""
    lines = head.split(b"\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        raise BadRequest(400)
    method, target, version = (p.decode("latin-1") for p in parts)
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505 if version.startswith("HTTP/") else 400)
    if not method.isalpha() or not method.isupper():
        raise BadRequest(400)
    if len(lines) > _MAX_HEADER_LINES + 1:
        raise BadRequest(431)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise BadRequest(400)
        key = name.decode("latin-1").upper().replace("-", "_")
        val = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]},{val}" if key in headers else val
    if "TRANSFER_ENCODING" in headers:
        raise BadRequest(501)
    length_s = headers.pop("CONTENT_LENGTH", "0") or "0"
    # ASCII digits only: str.isdigit() also says yes to "²" and "٣", which int() refuses.
    if not (length_s.isascii() and length_s.isdigit()) or len(length_s) > 12:
        raise BadRequest(400)
    length = int(length_s)
    if length > max_body_bytes:
        raise BadRequest(413)
    connection = headers.get("CONNECTION", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return Request(method, target, version, headers, length, keep_alive)


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
