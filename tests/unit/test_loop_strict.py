"""The event loop over real sockets against the strictness corpus, half-closed clients and
random pipelined bytes (a Hypothesis property: whatever arrives, the next probe is answered)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge

from benchmarks.http_corpus import CORPUS, Case
from exporter.serve.server import HTTPServer, make_app
from tests.oracle import serving


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    registry = CollectorRegistry()
    Gauge("huaweicloud_workspace_test_value", "A test value.", registry=registry).set(42)
    srv = HTTPServer("127.0.0.1", 0, make_app(serving(registry), lambda: True, lambda: (True, "ok")))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _exchange(srv: HTTPServer, data: bytes, half_close: bool = True, limit: float = 5.0) -> bytes:
    """Send ``data`` (then FIN when ``half_close``) and read until the server closes."""
    with socket.create_connection(srv.address, timeout=limit) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread: closed all the same
        return out


def _probe(srv: HTTPServer) -> bytes:
    return _exchange(srv, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_the_server_answers_each_corpus_head_as_the_parser_does(server: HTTPServer, case: Case) -> None:
    reply = _exchange(server, case.raw)
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else None
    if case.ours is None:
        assert status is not None and status < 500 and status not in (400, 413, 431), reply[:200]
    else:
        assert status == case.ours, reply[:200]
        assert reply.count(b"HTTP/1.1 ") == 1  # refused and closed: nothing after it is read
    assert _probe(server).startswith(b"HTTP/1.1 200 ")


def test_an_underscore_content_length_cannot_smuggle_a_second_request(server: HTTPServer) -> None:
    smuggled = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    reply = _exchange(
        server,
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent_Length: %d\r\n\r\n" % len(smuggled)
        + smuggled
        + b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert reply.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
@pytest.mark.parametrize("path", ["/-/healthy", "/-/ready", "/metrics", "/"])
def test_a_request_followed_at_once_by_fin_is_answered(server: HTTPServer, version: str, path: str) -> None:
    reply = _exchange(server, f"GET {path} {version}\r\nHost: x\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 200 ")
    if path == "/metrics":
        assert b"huaweicloud_workspace_test_value 42.0" in reply


def test_every_pipelined_request_before_the_fin_is_answered_in_order(server: HTTPServer) -> None:
    reply = _exchange(
        server,
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)
    assert statuses == [b"200", b"200", b"404"]


def test_half_a_request_then_fin_is_closed_without_an_answer(server: HTTPServer) -> None:
    assert _exchange(server, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n", limit=3) == b""
    assert _exchange(server, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab", limit=3) == b""


GOOD = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
# Pieces a fuzzer would take ages to find by chance: framing headers and line endings.
PIECES = [
    GOOD,
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b" ",
    b"Content-Length: ",
    b"Content_Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Host: x\r\n",
    b"\xb2",
    b"9",
    b"GET / HTTP/1.1\r\n",
    b"POST /-/reload HTTP/1.1\r\n",
]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=40)), max_size=12))
def test_random_pipelined_bytes_never_stop_the_server(server: HTTPServer, pieces: list[bytes]) -> None:
    _exchange(server, b"".join(pieces), limit=12)  # the 10 s head deadline bounds a stall
    assert _probe(server).startswith(b"HTTP/1.1 200 ")


def test_an_unforeseen_exception_from_a_head_is_a_400_and_a_close(
    server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exporter.serve.loop as loop

    def broken(head: bytes, max_body_bytes: int) -> object:
        raise ValueError("a parser bug")

    monkeypatch.setattr(loop, "parse_head", broken)
    assert _exchange(server, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    monkeypatch.undo()
    assert _probe(server).startswith(b"HTTP/1.1 200 ")
