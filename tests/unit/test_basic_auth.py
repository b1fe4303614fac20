"""Basic auth under attack: the bcrypt bound and queue, the cache that skips them, the failed-login
limit keyed by IPv6 /64, and a server whose authorised scrapes never wait behind guessers."""

from __future__ import annotations

import base64
import socket
import threading
import time
from typing import Any

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, Gauge

from exporter.serve.auth import VERDICT, BasicAuth, Outcome, client_key
from exporter.serve.server import HTTPServer, make_app
from tests.oracle import serving

HASH = bcrypt.hashpw(b"right", bcrypt.gensalt(4))


def _env(password: str, client: str = "10.0.0.1", path: str = "/metrics") -> dict[str, Any]:
    token = base64.b64encode(f"prom:{password}".encode()).decode()
    return {"PATH_INFO": path, "REMOTE_ADDR": client, "HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.mark.parametrize(
    ("addr", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("local", "local"),
    ],
)
def test_clients_are_keyed_by_ipv4_address_or_ipv6_64(addr: str, key: str) -> None:
    assert client_key(addr) == key


def test_a_whole_ipv6_64_shares_one_failed_login_allowance() -> None:
    auth = BasicAuth({"prom": HASH}, clock=lambda: 0.0)
    for i in range(10):
        assert auth.authenticate(_env("wrong", f"2001:db8::{i + 1:x}")) is Outcome.DENIED
    assert auth.authenticate(_env("wrong", "2001:db8::ffff")) is Outcome.LIMITED
    assert auth.authenticate(_env("right", "2001:db8::1234")) is Outcome.LIMITED  # even the right one
    assert auth.authenticate(_env("right", "2001:db8:0:1::1")) is Outcome.OK  # the next /64 is free


def test_checks_beyond_the_running_and_waiting_places_are_refused_without_bcrypt() -> None:
    auth = BasicAuth({"prom": HASH}, max_checks=1, max_waiting=2)
    envs = [_env("wrong", f"10.0.0.{i}") for i in range(4)]
    assert [auth.admit(e) for e in envs] == [None, None, None, False]  # 1 running + 2 waiting
    for e in envs[:3]:
        auth.verify(e)
        assert e[VERDICT] is Outcome.DENIED
    assert auth.admit(_env("wrong", "10.0.0.9")) is None  # places free again


def test_verified_credentials_skip_the_queue_until_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    auth = BasicAuth({"prom": HASH}, clock=lambda: now[0], max_checks=1, max_waiting=0)
    assert auth.authenticate(_env("right")) is Outcome.OK  # bcrypt, then cached
    assert auth.admit(_env("wrong", "10.0.0.2")) is None  # the only place is taken
    env = _env("right", "10.0.0.3")
    assert auth.admit(env) is True and env[VERDICT] is Outcome.OK  # cached: no place needed
    now[0] += 299
    assert auth.admit(_env("right", "10.0.0.3")) is True  # each use extends it
    now[0] += 301
    assert auth.admit(_env("right", "10.0.0.3")) is False  # expired: needs a place, none is free


def test_new_users_forget_every_verified_credential() -> None:
    auth = BasicAuth({"prom": HASH})
    assert auth.authenticate(_env("right")) is Outcome.OK
    auth.update({"prom": bcrypt.hashpw(b"other", bcrypt.gensalt(4))})
    assert auth.authenticate(_env("right", "10.0.0.2")) is Outcome.DENIED
    auth.update({})
    assert not auth.enabled and auth.authenticate(_env("x")) is Outcome.OK


def _request(port: int, password: str, source: str) -> bytes:
    token = base64.b64encode(f"prom:{password}".encode()).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n".encode())
        return s.recv(65536)


def test_an_authorised_scrape_is_served_while_every_bcrypt_place_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    Gauge("huaweicloud_workspace_test_value", "A test value.", registry=registry).set(42)
    auth = BasicAuth({"prom": HASH}, max_checks=1, max_waiting=4)
    release = threading.Event()
    real = bcrypt.checkpw
    assert auth.authenticate(_env("right", "127.0.0.1")) is Outcome.OK  # the cache holds it now

    def stuck(password: bytes, hashed: bytes) -> bool:
        release.wait(10)
        return bool(real(password, hashed))

    monkeypatch.setattr(bcrypt, "checkpw", stuck)
    srv = HTTPServer(
        "127.0.0.1", 0, make_app(serving(registry), lambda: True, lambda: (True, ""), auth), gate=auth
    )
    srv.start()
    guessers: list[threading.Thread] = []
    try:
        # Guessers, each from its own address, take the running place and every waiting one:
        # more of them than there are HTTP workers (4).
        for i in range(5):
            t = threading.Thread(
                target=_request, args=(srv.address[1], "wrong", f"127.0.1.{i + 1}"), daemon=True
            )
            t.start()
            guessers.append(t)
        deadline = time.monotonic() + 5
        while (admitted := auth.admit(_env("wrong", "127.0.2.1"))) is not False:
            if admitted is None:
                auth.release()  # only looking: give the place back
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        assert _request(srv.address[1], "wrong", "127.0.3.1").startswith(b"HTTP/1.1 429 ")
        assert time.monotonic() - started >= 0.9  # a refusal is held a second
        reply = _request(srv.address[1], "right", "127.0.0.1")
        assert reply.startswith(b"HTTP/1.1 200 ") and b"huaweicloud_workspace_test_value 42.0" in reply
    finally:
        release.set()
        for t in guessers:
            t.join(timeout=10)
        srv.stop()
