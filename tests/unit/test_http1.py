"""Request heads and response heads of the event-loop server, without sockets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from benchmarks.http_corpus import CORPUS, Case
from exporter.serve.head import BadRequest, parse_head
from exporter.serve.http1 import response_head, run_app


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_each_head_of_the_corpus_is_accepted_or_refused_with_its_status(case: Case) -> None:
    if case.ours is None:
        parse_head(case.head, max_body_bytes=1024)
        return
    with pytest.raises(BadRequest) as e:
        parse_head(case.head, max_body_bytes=1024)
    assert e.value.status == case.ours


def test_an_underscore_name_never_reaches_the_environ_key_of_the_real_header() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 10.0.0.1\r\nX-Forwarded-For: 10.9.9.9"
    env = parse_head(head, 0).environ(("127.0.0.1", 1), "x", tls=False)
    assert env["HTTP_X_FORWARDED_FOR"] == "10.9.9.9"


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("HTTP/1.1", "", True),
        ("HTTP/1.1", "Close", False),
        ("HTTP/1.0", "", False),
        ("HTTP/1.0", "keep-alive", True),
    ],
)
def test_keep_alive_follows_the_version_and_the_connection_header(
    version: str, connection: str, keep_alive: bool
) -> None:
    head = f"GET / {version}\r\nHost: x" + (f"\r\nConnection: {connection}" if connection else "")
    assert parse_head(head.encode(), 0).keep_alive is keep_alive


def test_the_environ_of_an_absolute_form_target_with_repeated_headers() -> None:
    head = (
        b"POST http://exporter:9100/-/re%6Coad?x=1 HTTP/1.1\r\nHost: exporter:9100\r\n"
        b"Accept: a\r\naccept: b\r\nContent-Type: text/plain\r\nContent-Length: 3"
    )
    request = parse_head(head, 1024)
    env = request.environ(("127.0.0.1", 9100), "10.0.0.7", tls=True)
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/-/reload", "x=1")
    assert (env["HTTP_ACCEPT"], env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("a,b", "text/plain", "3")
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"], env["SERVER_PORT"]) == ("10.0.0.7", "https", "9100")
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_response_head_adds_the_reason_and_length_for_a_numeric_status() -> None:
    head = response_head(413, [("Content-Type", "text/plain")], [b"413\n"], keep_alive=False)
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 413 Content Too Large"
    assert "Content-Length: 4" in lines and "Connection: close" in lines
    assert head.endswith(b"\r\n\r\n")


def test_an_app_that_raises_is_a_500_and_a_close() -> None:
    def app(environ: dict[str, object], start: object) -> list[bytes]:
        raise RuntimeError("boom")

    env = parse_head(b"GET /metrics HTTP/1.1\r\nHost: x", 0).environ(("127.0.0.1", 1), "x", tls=False)
    parts, keep_alive = run_app(app, env, keep_alive=True)
    assert parts[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"".join(parts[1:]) == b"Internal Server Error\n"
    assert keep_alive is False


def test_head_requests_get_the_head_alone_with_the_body_length() -> None:
    def app(environ: dict[str, object], start: Callable[..., object]) -> list[bytes]:
        start("200 OK", [("Content-Type", "text/plain")])
        return [b"abc", b"de"]

    env = parse_head(b"HEAD /metrics HTTP/1.1\r\nHost: x", 0).environ(("127.0.0.1", 1), "x", tls=False)
    parts, keep_alive = run_app(app, env, keep_alive=True)
    assert len(parts) == 1 and b"Content-Length: 5\r\n" in parts[0] and keep_alive
