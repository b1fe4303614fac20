"""Malicious and borderline request heads: the issue's findings and RFC 9112 smuggling classics.

Each case is a whole request as a client sends it (head, blank line, any body) and what the
exporter's parser does with it: ``None`` means accepted (the request reaches the app), a
number is the status the server answers before closing. ``tests/unit/test_http1.py`` holds
the parser to these, ``tests/hostile/test_clients.py`` sends them to a real exporter, and
``benchmarks/http_strictness.py`` prints what each candidate server does with each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    ours: int | None  # None: accepted; else the status of the refusal

    @property
    def head(self) -> bytes:
        """The head without its blank line (what :func:`exporter.serve.head.parse_head` takes)."""
        return self.raw.split(b"\r\n\r\n", 1)[0]


def _get(headers: bytes, line: bytes = b"GET /-/healthy HTTP/1.1", body: bytes = b"") -> bytes:
    return line + b"\r\n" + headers + b"\r\n" + body


H = b"Host: x\r\n"
CORPUS: tuple[Case, ...] = (
    Case("plain GET", _get(H), None),
    Case("HTTP/1.0 without Host", _get(b"", b"GET /-/healthy HTTP/1.0"), None),
    Case("absolute-form target", _get(H, b"GET http://x/-/healthy HTTP/1.1"), None),
    Case("OPTIONS *", _get(H, b"OPTIONS * HTTP/1.1"), None),
    Case("value with trailing OWS", _get(b"Host: x \t\r\n"), None),
    Case("obs-text in a value", _get(H + b"X-A: caf\xe9\r\n"), None),
    Case("body with Content-Length", _get(H + b"Content-Length: 5\r\n", b"POST /x HTTP/1.1", b"hello"), None),
    Case("underscore name (dropped)", _get(H + b"X_Forwarded_For: 10.0.0.1\r\n"), None),
    # Framing: CL.CL, CL.TE, TE variants
    Case("CL.CL different", _get(H + b"Content-Length: 0\r\nContent-Length: 5\r\n"), 400),
    Case("CL.CL same", _get(H + b"Content-Length: 5\r\nContent-Length: 5\r\n", body=b"hello"), 400),
    Case("CL list", _get(H + b"Content-Length: 5, 5\r\n", body=b"hello"), 400),
    Case("CL + TE", _get(H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", body=b"0\r\n\r\n"), 400),
    Case("TE chunked", _get(H + b"Transfer-Encoding: chunked\r\n", body=b"0\r\n\r\n"), 501),
    Case("TE xchunked", _get(H + b"Transfer-Encoding: xchunked\r\n"), 501),
    Case("TE chunked, identity", _get(H + b"Transfer-Encoding: chunked, identity\r\n"), 501),
    Case("TE twice", _get(H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n"), 501),
    Case("TE space before colon", _get(H + b"Transfer-Encoding : chunked\r\n"), 400),
    Case("TE value after a tab", _get(H + b"Transfer-Encoding:\tchunked\r\n"), 501),
    Case("TE in HTTP/1.0", _get(b"Transfer-Encoding: chunked\r\n", b"GET / HTTP/1.0", b"0\r\n\r\n"), 501),
    Case("Content_Length", _get(H + b"Content_Length: 5\r\n", body=b"hello"), 400),
    Case("Transfer_Encoding", _get(H + b"Transfer_Encoding: chunked\r\n"), 400),
    Case("Connection look-alike", _get(H + b"Conn_ection: close\r\n"), None),
    # Lengths
    Case("CL superscript two", _get(H + b"Content-Length: \xb2\r\n"), 400),
    Case("CL Arabic-Indic three", _get(H + "Content-Length: ٣\r\n".encode()), 400),
    Case("CL negative", _get(H + b"Content-Length: -1\r\n"), 400),
    Case("CL plus sign", _get(H + b"Content-Length: +5\r\n"), 400),
    Case("CL hex", _get(H + b"Content-Length: 0x5\r\n"), 400),
    Case("CL empty", _get(H + b"Content-Length: \r\n"), 400),
    Case("CL with inner space", _get(H + b"Content-Length: 1 0\r\n"), 400),
    Case("CL 13 digits", _get(H + b"Content-Length: 1000000000000\r\n"), 400),
    Case("CL over the body cap", _get(H + b"Content-Length: 1048576\r\n"), 413),
    # Line endings and control characters
    Case("obs-fold", _get(H + b"X-A: a\r\n b\r\n"), 400),
    Case("obs-fold on TE", _get(H + b"Transfer-Encoding:\r\n chunked\r\n"), 400),
    Case("leading space on first header", _get(b" Host: x\r\n"), 400),
    Case("bare LF after request line", b"GET /-/healthy HTTP/1.1\nHost: x\r\n\r\n", 400),
    Case("bare LF everywhere", b"GET /-/healthy HTTP/1.1\nHost: x\n\n", 400),
    Case("bare LF inside the head", _get(H + b"X-A: a\nContent-Length: 5\r\n", body=b"hello"), 400),
    Case("bare CR in a value", _get(H + b"X-A: a\rb\r\n"), 400),
    Case("NUL in a value", _get(H + b"X-A: a\x00b\r\n"), 400),
    Case("NUL in a name", _get(H + b"X-\x00A: b\r\n"), 400),
    Case("control char in a value", _get(H + b"X-A: a\x01b\r\n"), 400),
    Case("DEL in a value", _get(H + b"X-A: a\x7fb\r\n"), 400),
    # Names
    Case("space in a name", _get(H + b"X A: b\r\n"), 400),
    Case("empty name", _get(H + b": b\r\n"), 400),
    Case("non-ASCII name", _get(H + b"X-\xc4: b\r\n"), 400),
    Case("no colon", _get(H + b"X-A\r\n"), 400),
    Case("101 header lines", _get(H + b"X-A: b\r\n" * 100), 431),
    # Host
    Case("two Host", _get(b"Host: x\r\nHost: y\r\n"), 400),
    Case("no Host on HTTP/1.1", _get(b""), 400),
    Case("Host with a space", _get(b"Host: a b\r\n"), 400),
    Case("Host with a path", _get(b"Host: x/y\r\n"), 400),
    Case("Host with userinfo", _get(b"Host: u@x\r\n"), 400),
    # Request line
    Case("HTTP/0.9", b"GET /\r\n\r\n", 400),
    Case("two spaces", _get(H, b"GET  /-/healthy HTTP/1.1"), 400),
    Case("tab separator", _get(H, b"GET\t/-/healthy HTTP/1.1"), 400),
    Case("lower-case method", _get(H, b"get /-/healthy HTTP/1.1"), 400),
    Case("HTTP/2.0", _get(H, b"GET /-/healthy HTTP/2.0"), 505),
    Case("HTTP/1.2", _get(H, b"GET /-/healthy HTTP/1.2"), 505),
    Case("trailing space", _get(H, b"GET /-/healthy HTTP/1.1 "), 400),
    Case("non-ASCII target", _get(H, b"GET /\xff HTTP/1.1"), 400),
    Case("fragment in target", _get(H, b"GET /-/healthy#x HTTP/1.1"), 400),
    Case("authority-form", _get(H, b"CONNECT x:443 HTTP/1.1"), 400),
    Case("asterisk with GET", _get(H, b"GET * HTTP/1.1"), 400),
    Case("relative target", _get(H, b"GET metrics HTTP/1.1"), 400),
)
