"""Request heads, parsed strictly to RFC 9112: bytes in, a :class:`Request` or a :class:`BadRequest`.

A request another parser on the path (a proxy, a load balancer) could read differently is
refused, never guessed at, so no two hops can disagree about where a request ends:

* lines end in CRLF; a bare LF or a bare CR anywhere in the head is a 400;
* the request line is ``METHOD SP target SP HTTP/1.x`` with single spaces, an upper-case
  method, a visible-ASCII target in origin form (``/path``), absolute form
  (``http://host/path``) or ``*`` for OPTIONS; another HTTP version is a 505;
* header names are tokens (no space before the colon, no obsolete line folding); values
  hold no control character but HTAB (no NUL, CR or LF);
* a name with ``_`` that would read as a framing header once ``-`` and ``_`` are folded
  together (``Content_Length``, ``Transfer_Encoding``, ``Host``, ``Connection``) is a 400;
  any other name with ``_`` is dropped, so it never lands in the WSGI environ key of the
  real header (``X_Forwarded_For`` is not ``X-Forwarded-For``);
* exactly one Host on HTTP/1.1 (at most one on 1.0), a valid host[:port];
* ``Content-Length`` is 1 to 12 ASCII digits, given once; any ``Transfer-Encoding`` is a
  501 (the exporter takes no chunked bodies), and a 400 next to a ``Content-Length``;
* at most 100 header lines (431).

:func:`parse_head` raises nothing but :class:`BadRequest`, whatever the bytes (a
property test in ``tests/unit/test_head_fuzz.py`` holds it to that and to agreeing with
h11 on every request both accept).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

Environ = dict[str, Any]

MAX_HEADER_LINES = 100
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_METHOD = re.compile(rb"[A-Z]+")
_TARGET = re.compile(rb"[\x21-\x22\x24-\x7e]+")  # visible ASCII without "#": no fragment
_ABSOLUTE = re.compile(rb"(?i:https?)://([^/?]+)([/?].*)?")
_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_LENGTH = re.compile(rb"[0-9]{1,12}")
# Headers that say where a message ends or whom it is for: a look-alike is an attack, not noise.
FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection"})


class BadRequest(Exception):
    """A request head the server answers with ``status`` and a close."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


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
        absolute = _ABSOLUTE.fullmatch(target.encode("latin-1"))
        if absolute is not None:
            rest = (absolute.group(2) or b"").decode("latin-1")
            target = rest if rest.startswith("/") else "/" + rest
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


def parse_request_line(line: bytes) -> tuple[str, str, str]:
    """``(method, target, version)`` of a request line without its CRLF; raises :class:`BadRequest`."""
    parts = line.split(b" ")
    if len(parts) != 3:
        raise BadRequest(400, "request line")
    method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise BadRequest(505 if _VERSION.fullmatch(version) else 400, "version")
    if not _METHOD.fullmatch(method) or not _TARGET.fullmatch(target):
        raise BadRequest(400, "method or target")
    if target == b"*":
        if method != b"OPTIONS":
            raise BadRequest(400, "asterisk form")
    elif not target.startswith(b"/") and _ABSOLUTE.fullmatch(target) is None:
        raise BadRequest(400, "target form")
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii")


def find_head(buf: bytearray, max_header_bytes: int) -> tuple[bytes, int] | None:
    """``(head, end)`` once ``buf`` holds a whole head (``end``: where its blank line starts),
    None while it may still be arriving; empty lines before it are dropped from ``buf``.

    Raises :class:`BadRequest` as soon as the bytes show it, not at the head deadline: a
    bare CR or LF (a head another parser would end elsewhere), a request line that is not
    one, a head over ``max_header_bytes`` (431).
    """
    while buf[:2] == b"\r\n":  # RFC 9112 2.2: ignore empty lines before a request line
        del buf[:2]
    end = buf.find(b"\r\n\r\n")
    head = bytes(buf[: end if end >= 0 else max_header_bytes + 1])
    if end < 0 and head.endswith(b"\r"):
        head = head[:-1]  # the CR of a CRLF whose LF has not arrived yet
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        raise BadRequest(400, "bare CR or LF")
    line_end = head.find(b"\r\n")
    if line_end >= 0:
        parse_request_line(head[:line_end])
    if len(head) > max_header_bytes:
        raise BadRequest(431, "head size")
    return (head, end) if end >= 0 else None


def parse_head(head: bytes, max_body_bytes: int) -> Request:
    """The request line and headers (without the blank line); raises :class:`BadRequest`."""
    lines = head.split(b"\r\n")
    if len(lines) > MAX_HEADER_LINES + 1:
        raise BadRequest(431, "header lines")
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise BadRequest(400, "bare CR or LF")
    method, target, version = parse_request_line(lines[0])
    headers: dict[str, str] = {}
    hosts = lengths = 0
    length = 0
    chunked = False
    connection: set[str] = set()
    for line in lines[1:]:
        name, sep, raw = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest(400, "header name")
        value = raw.strip(b" \t")
        if not _VALUE.fullmatch(value):
            raise BadRequest(400, "header value")
        lower = name.decode("ascii").lower()
        if "_" in lower:
            if lower.replace("_", "-") in FRAMING:
                raise BadRequest(400, "framing header look-alike")
            continue
        if lower == "host":
            hosts += 1
            if not _HOST.fullmatch(value):
                raise BadRequest(400, "host")
        elif lower == "content-length":
            lengths += 1
            if lengths > 1 or not _LENGTH.fullmatch(value):
                raise BadRequest(400, "content-length")
            length = int(value)
        elif lower == "transfer-encoding":
            chunked = True
        elif lower == "connection":
            connection.update(t.strip(" \t").lower() for t in value.decode("latin-1").split(","))
        key = lower.upper().replace("-", "_")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    if hosts > 1 or (hosts == 0 and version == "HTTP/1.1"):
        raise BadRequest(400, "host count")
    if chunked:
        raise BadRequest(400 if lengths else 501, "transfer-encoding")
    if length > max_body_bytes:
        raise BadRequest(413, "body")
    headers.pop("CONTENT_LENGTH", None)
    if version == "HTTP/1.1":
        keep_alive = "close" not in connection
    else:
        keep_alive = "keep-alive" in connection and "close" not in connection
    return Request(method, target, version, headers, length, keep_alive)
