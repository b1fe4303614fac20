"""Property tests of the request-head parser, with h11 as a test-only oracle.

1. Whatever the bytes, :func:`parse_head` returns a request or raises :class:`BadRequest`,
   never anything else.
2. Differential: every head it accepts, h11 (the sans-IO parser of uvicorn, hypercorn and
   httpx) accepts too, with the same method, target, version, headers and body length.
   Ours is stricter, never looser: the reverse does not hold (h11 takes bare LF, obs-fold,
   control characters in values and two Host headers). Header names with ``_`` are left
   out of the comparison: ours drops them by design.

Examples are derandomized so CI sees the same ones every run; the budget is a few seconds.
"""

from __future__ import annotations

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.http_corpus import CORPUS
from exporter.serve.head import BadRequest, Request, parse_head

FAST = settings(max_examples=400, deadline=None, derandomize=True)

METHODS = [b"GET", b"HEAD", b"POST", b"OPTIONS", b"get", b"G T", b"CONNECT"]
TARGETS = [b"/", b"/metrics", b"/-/healthy?x=1", b"*", b"http://x/m", b"x:443", b"/a b", b"/#f", b"/\xff"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b"HTTP/1"]
NAMES = [
    b"Host",
    b"host",
    b"Content-Length",
    b"content-length",
    b"Content_Length",
    b"Transfer-Encoding",
    b"Transfer_Encoding",
    b"Connection",
    b"X-Forwarded-For",
    b"X_Forwarded_For",
    b"Content-Type",
    b"Accept",
    b"X A",
    b"",
    b" Host",
    b"Host ",
]
VALUES = [b"x", b"5", b"05", b"\xb2", b"-1", b"5, 5", b"chunked", b"close", b"a\x00b", b"a\rb", b" x ", b""]
SEPARATORS = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\n "]


def _name() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(NAMES), st.binary(min_size=1, max_size=8))


def _value() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(VALUES), st.binary(max_size=12))


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    line = b" ".join(
        [
            draw(st.one_of(st.sampled_from(METHODS), st.binary(max_size=6))),
            draw(st.one_of(st.sampled_from(TARGETS), st.binary(max_size=10))),
            draw(st.sampled_from(VERSIONS)),
        ]
    )
    colon = st.sampled_from([b":", b": ", b" :", b""])
    fields = draw(st.lists(st.tuples(_name(), colon, _value()), max_size=8))
    out = line
    for name, colon, value in fields:
        out += draw(st.sampled_from(SEPARATORS)) + name + colon + value
    return out


@st.composite
def near_valid_heads(draw: st.DrawFn) -> bytes:
    """Mostly well-formed heads with one or two odd parts, so many are accepted."""
    method = draw(st.sampled_from([b"GET", b"HEAD", b"POST", b"OPTIONS"]))
    target = draw(st.sampled_from([b"/", b"/metrics", b"/-/healthy?x=1", b"http://x/m", b"/%41?a=b&c"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
    out = method + b" " + target + b" " + version
    if draw(st.integers(0, 9)):
        out += b"\r\nHost: " + draw(st.sampled_from([b"x", b"x:9100", b"[::1]:1", b"", b"a.b-c"]))
    for _ in range(draw(st.integers(0, 6))):
        token = st.from_regex(rb"\A[A-Za-z0-9!#$%&'*+.^_`|~-]{1,6}\Z")
        name = draw(st.one_of(st.sampled_from(NAMES[:12]), token))
        value = draw(st.one_of(st.sampled_from(VALUES), st.from_regex(rb"\A[\x20-\x7e\t\x80-\xff]{0,10}\Z")))
        sep = draw(st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\r\n "]))
        out += sep + name + b": " + value
    return out


def _ours(head: bytes) -> Request | None:
    try:
        return parse_head(head, max_body_bytes=1 << 40)
    except BadRequest:
        return None


def _h11(head: bytes) -> h11.Request | None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(head + b"\r\n\r\n")
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    return event if isinstance(event, h11.Request) else None


def _same(ours: Request, theirs: h11.Request) -> None:
    assert ours.method.encode() == theirs.method
    assert ours.target.encode() == theirs.target
    assert ours.version == "HTTP/" + theirs.http_version.decode()
    expected: dict[str, str] = {}
    length = 0
    for name, value in theirs.headers:
        key = name.decode("ascii")
        if "_" in key:
            continue
        if key == "content-length":
            length = int(value)
            continue
        cgi = key.upper().replace("-", "_")
        text = value.decode("latin-1")
        expected[cgi] = f"{expected[cgi]},{text}" if cgi in expected else text
    assert ours.headers == expected
    assert ours.length == length


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_give_a_request_or_a_bad_request(head: bytes) -> None:
    _ours(head)


@FAST
@given(heads())
def test_structured_heads_give_a_request_or_a_bad_request(head: bytes) -> None:
    _ours(head)


@FAST
@given(st.one_of(heads(), near_valid_heads()))
def test_whatever_we_accept_h11_accepts_the_same_way(head: bytes) -> None:
    ours = _ours(head)
    if ours is not None:
        theirs = _h11(head)
        assert theirs is not None, head
        _same(ours, theirs)


def test_every_corpus_head_we_accept_h11_accepts_the_same_way() -> None:
    accepted = [c for c in CORPUS if c.ours is None and b"_" not in c.head]
    assert accepted
    for case in accepted:
        ours, theirs = _ours(case.head), _h11(case.head)
        assert ours is not None and theirs is not None, case.name
        _same(ours, theirs)
