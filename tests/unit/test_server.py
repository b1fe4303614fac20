"""HTTP endpoints over real sockets: /metrics (gzip, OpenMetrics), probes, reload, basic auth, TLS,
and the server's limits against idle, slow, malformed and unauthenticated clients."""

from __future__ import annotations

import base64
import gzip
import logging
import random
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge

from exporter.config.web import WebSecurity, bcrypt_cost, load_web_config
from exporter.errors import ConfigError
from exporter.exposition.render import CachedExposition
from exporter.serve.auth import BasicAuth
from exporter.serve.loop import ServerLimits
from exporter.serve.ratelimit import RateLimiter
from exporter.serve.server import SWITCH_INTERVAL, HTTPServer, gzip_wanted, make_app
from tests.oracle import serving


class State:
    ready = False
    reloads = 0
    reload_ok = True


@pytest.fixture
def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Gauge("huaweicloud_workspace_test_value", "A test value.", registry=reg).set(42)
    return reg


def _serve(
    registry: CollectorRegistry,
    state: State,
    auth: BasicAuth | None = None,
    security: WebSecurity | None = None,
) -> HTTPServer:
    def reload() -> tuple[bool, str]:
        state.reloads += 1
        return state.reload_ok, "config reloaded" if state.reload_ok else "config reload rejected: x: bad"

    app = make_app(serving(registry), lambda: state.ready, reload, auth, lifecycle=True)
    server = HTTPServer("127.0.0.1", 0, app, security)
    server.start()
    return server


@pytest.fixture
def plain(registry: CollectorRegistry) -> Iterator[tuple[str, State]]:
    state = State()
    server = _serve(registry, state)
    try:
        yield server.url, state
    finally:
        server.stop()


def test_metrics_are_served_as_prometheus_text(plain: tuple[str, State]) -> None:
    url, _ = plain
    r = requests.get(url + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "huaweicloud_workspace_test_value 42.0" in r.text


def test_metrics_are_gzipped_when_asked(plain: tuple[str, State]) -> None:
    url, _ = plain
    r = requests.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
    assert r.headers["Content-Encoding"] == "gzip"
    assert b"huaweicloud_workspace_test_value" in gzip.decompress(r.raw.read())


def test_openmetrics_is_negotiated(plain: tuple[str, State]) -> None:
    url, _ = plain
    r = requests.get(url + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5)
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")


def test_health_and_readiness_probes(plain: tuple[str, State]) -> None:
    url, state = plain
    assert requests.get(url + "/-/healthy", timeout=5).status_code == 200
    assert requests.get(url + "/-/ready", timeout=5).status_code == 503
    state.ready = True
    assert requests.get(url + "/-/ready", timeout=5).status_code == 200


def test_landing_page_links_metrics_and_shows_the_version(plain: tuple[str, State]) -> None:
    url, _ = plain
    r = requests.get(url + "/", timeout=5)
    assert r.status_code == 200
    assert 'href="metrics"' in r.text
    assert "Version 0." in r.text


def test_unknown_paths_are_404(plain: tuple[str, State]) -> None:
    url, _ = plain
    assert requests.get(url + "/nope", timeout=5).status_code == 404


def test_reload_needs_post_and_reports_the_outcome(plain: tuple[str, State]) -> None:
    url, state = plain
    assert requests.get(url + "/-/reload", timeout=5).status_code == 405
    assert requests.post(url + "/-/reload", timeout=5).status_code == 200
    state.reload_ok = False
    r = requests.post(url + "/-/reload", timeout=5)
    assert r.status_code == 500
    assert "rejected" in r.text
    assert state.reloads == 2


@pytest.fixture
def authed(registry: CollectorRegistry) -> Iterator[str]:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4))
    server = _serve(registry, State(), BasicAuth({"prom": hashed}))
    try:
        yield server.url
    finally:
        server.stop()


def test_basic_auth_guards_metrics(authed: str) -> None:
    assert requests.get(authed + "/metrics", timeout=5).status_code == 401
    assert requests.get(authed + "/metrics", auth=("prom", "wrong"), timeout=5).status_code == 401
    assert requests.get(authed + "/metrics", auth=("nobody", "s3cret"), timeout=5).status_code == 401
    r = requests.get(authed + "/metrics", auth=("prom", "s3cret"), timeout=5)
    assert r.status_code == 200
    assert requests.get(authed + "/metrics", auth=("prom", "s3cret"), timeout=5).status_code == 200  # cached


def test_probes_stay_open_with_basic_auth(authed: str) -> None:
    assert requests.get(authed + "/-/healthy", timeout=5).status_code == 200
    assert requests.post(authed + "/-/reload", timeout=5).status_code == 401


def test_malformed_authorization_header_is_rejected(authed: str) -> None:
    r = requests.get(authed + "/metrics", headers={"Authorization": "Basic !!!notbase64"}, timeout=5)
    assert r.status_code == 401


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "tls.crt", d / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return crt, key


def test_tls_serves_metrics_to_a_verifying_client(
    registry: CollectorRegistry, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    crt, key = cert
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n")
    security = load_web_config(str(web))
    server = _serve(registry, State(), security=security)
    try:
        assert server.url.startswith("https://")
        r = requests.get(server.url + "/metrics", verify=str(crt), timeout=5)
        assert r.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url + "/metrics", timeout=5)  # unknown CA
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("basic_auth_users:\n  prom: plaintext\n", "basic_auth_users.prom: must be a bcrypt hash"),
        (
            "tls_server_config:\n  cert_file: /nonexistent.crt\n",
            "cert_file and key_file must be set together",
        ),
        (
            "tls_server_config:\n  cert_file: /x.crt\n  key_file: /x.key\n",
            "cert_file: file '/x.crt' does not exist",
        ),
        ("tls_server_config:\n  min_version: TLS10\n", "min_version: must be TLS12 or TLS13"),
        ("http_server_config:\n  http3: true\n", "http_server_config.http3: unknown key"),
    ],
)
def test_bad_web_config_names_the_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(content)
    with pytest.raises(ConfigError) as exc:
        load_web_config(str(path))
    assert any(message in p for p in exc.value.problems), exc.value.problems


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_cached_exposition_is_sent_in_chunks_with_the_exact_length(
    registry: CollectorRegistry, encoding: str
) -> None:
    live = CollectorRegistry()
    Gauge("huaweicloud_workspace_test_live", "Live.", registry=live).set(7)
    exposition = CachedExposition(lambda: list(registry.collect()), lambda: list(live.collect()), lambda: 1)
    app = make_app(exposition, lambda: True, lambda: (True, ""), None)
    server = HTTPServer("127.0.0.1", 0, app)
    server.start()
    try:
        r = requests.get(
            server.url + "/metrics", headers={"Accept-Encoding": encoding}, timeout=5, stream=True
        )
        raw = r.raw.read()
    finally:
        server.stop()
    assert int(r.headers["Content-Length"]) == len(raw)
    body = gzip.decompress(raw) if encoding == "gzip" else raw
    assert body == exposition.body("", False)[0]
    assert b"huaweicloud_workspace_test_value 42.0" in body and b"huaweicloud_workspace_test_live 7.0" in body


def _pieces(seed: int) -> list[bytes]:
    """More pieces than one sendmsg call takes, of mixed sizes (empty, one byte, 300 kB)."""
    rng = random.Random(seed)
    sizes = [rng.choice([0, 1, 7, 4096, 65536, 300_000]) for _ in range(150)]
    return [bytes([48 + i % 40]) * n for i, n in enumerate(sizes)]


@pytest.mark.parametrize("tls", [False, True])
def test_a_many_piece_body_arrives_whole_and_in_order(
    tls: bool, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    pieces = _pieces(5)

    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        start("200 OK", [("Content-Type", "application/octet-stream")])
        return pieces

    security = None
    if tls:
        crt, key = cert
        web = tmp_path / "web.yml"
        web.write_text(f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n")
        security = load_web_config(str(web))
    server = HTTPServer("127.0.0.1", 0, app, security)
    server.start()
    try:
        with requests.Session() as session:
            for _ in range(2):  # twice on one keep-alive connection: the write state resets
                r = session.get(server.url + "/x", verify=str(cert[0]) if tls else True, timeout=10)
                assert r.content == b"".join(pieces)
    finally:
        server.stop()


def test_the_switch_interval_is_lowered_while_a_server_runs_and_restored_after(
    registry: CollectorRegistry,
) -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        first, second = _small_server(registry), _small_server(registry)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        first.stop()
        first.stop()  # a second stop releases nothing more
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)  # the other still runs
        second.stop()
        assert sys.getswitchinterval() == pytest.approx(0.005)
        sys.setswitchinterval(0.0002)  # already lower: left alone
        server = _small_server(registry)
        assert sys.getswitchinterval() == pytest.approx(0.0002)
        server.stop()
        assert sys.getswitchinterval() == pytest.approx(0.0002)
    finally:
        sys.setswitchinterval(before)


# -- hostile clients and limits --------------------------------------------------------------


def _raw(url: str) -> tuple[str, int]:
    host, _, port = url.rpartition("://")[2].rpartition(":")
    return host, int(port)


def _read_all(sock: socket.socket, limit: float = 5.0) -> bytes:
    """Read until the server closes, failing the test if it takes longer than ``limit``."""
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass  # a close with unread input is a reset: closed all the same
    return data


def _small_server(
    registry: CollectorRegistry, security: WebSecurity | None = None, **limits: Any
) -> HTTPServer:
    app = make_app(serving(registry), lambda: True, lambda: (True, "ok"), None)
    server = HTTPServer("127.0.0.1", 0, app, security, ServerLimits(**limits))
    server.start()
    return server


def test_probes_answer_while_the_connection_cap_is_held_by_idle_clients(registry: CollectorRegistry) -> None:
    server = _small_server(registry, max_connections=16)
    idle: list[socket.socket] = []
    try:
        for _ in range(40):
            idle.append(socket.create_connection(_raw(server.url), timeout=5))
        for _ in range(3):
            assert requests.get(server.url + "/-/healthy", timeout=5).status_code == 200
            assert requests.get(server.url + "/metrics", timeout=5).status_code == 200
        assert server.connections <= 16
    finally:
        for s in idle:
            s.close()
        server.stop()


def test_slowloris_clients_are_cut_at_the_header_deadline(registry: CollectorRegistry) -> None:
    server = _small_server(registry, header_timeout=0.3)
    slow = [socket.create_connection(_raw(server.url), timeout=5) for _ in range(30)]
    try:
        for s in slow:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        assert requests.get(server.url + "/-/healthy", timeout=5).status_code == 200
        for s in slow:
            reply = _read_all(s)
            assert reply.startswith(b"HTTP/1.1 408 ")
    finally:
        for s in slow:
            s.close()
        server.stop()


def test_tls_clients_that_never_handshake_are_dropped(
    registry: CollectorRegistry, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    crt, key = cert
    security = WebSecurity(str(crt), str(key))
    server = _small_server(registry, security, handshake_timeout=0.3)
    mute = [socket.create_connection(_raw(server.url), timeout=5) for _ in range(20)]
    try:
        assert requests.get(server.url + "/-/healthy", verify=str(crt), timeout=5).status_code == 200
        for s in mute:
            assert _read_all(s) == b""  # closed by the server, nothing sent
    finally:
        for s in mute:
            s.close()
        server.stop()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the client deliberately speaks TLS 1.0
def test_plain_http_and_tls10_on_the_tls_port_write_no_traceback(
    registry: CollectorRegistry,
    cert: tuple[Path, Path],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    crt, key = cert
    server = _small_server(registry, WebSecurity(str(crt), str(key)))
    caplog.set_level(logging.INFO)
    try:
        with socket.create_connection(_raw(server.url), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_all(s) == b""
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1
        with (
            socket.create_connection(_raw(server.url), timeout=5) as s,
            pytest.raises((ssl.SSLError, OSError)),
        ):
            old.wrap_socket(s).do_handshake()
        assert requests.get(server.url + "/-/healthy", verify=str(crt), timeout=5).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err
    assert [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("exporter")] == []


def test_an_http09_request_is_answered_and_closed_at_once(plain: tuple[str, State]) -> None:
    url, _ = plain
    with socket.create_connection(_raw(url), timeout=5) as s:
        s.sendall(b"GET /\r\n")
        assert _read_all(s).startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /metrics HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    ],
)
def test_malformed_requests_get_a_4xx_or_5xx_and_a_close(
    plain: tuple[str, State], request_bytes: bytes, status: int
) -> None:
    url, _ = plain
    with socket.create_connection(_raw(url), timeout=5) as s:
        s.sendall(request_bytes)
        assert _read_all(s).startswith(b"HTTP/1.1 %d " % status)


def test_head_returns_the_headers_without_a_body(plain: tuple[str, State]) -> None:
    url, _ = plain
    length = len(requests.get(url + "/metrics", timeout=5).content)
    with socket.create_connection(_raw(url), timeout=5) as s:
        s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = _read_all(s)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Length: %d" % length in head
    assert body == b""


def test_keep_alive_connections_serve_pipelined_requests_in_order(plain: tuple[str, State]) -> None:
    url, _ = plain
    with socket.create_connection(_raw(url), timeout=5) as s:
        s.sendall(
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 404 " in reply
    assert reply.index(b"OK\n") < reply.index(b"404")


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        ("gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, identity", False),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nan", False),
        ("gzip;q=bogus", False),
        ("GZIP;Q=1", True),
    ],
)
def test_gzip_is_chosen_by_q_value(header: str, wanted: bool) -> None:
    assert gzip_wanted(header) is wanted


def test_gzip_q0_gets_an_identity_body(plain: tuple[str, State]) -> None:
    url, _ = plain
    r = requests.get(url + "/metrics", headers={"Accept-Encoding": "gzip;q=0"}, timeout=5)
    assert "Content-Encoding" not in r.headers
    assert "huaweicloud_workspace_test_value 42.0" in r.text


def _call(
    app: Any, method: str, path: str, client: str = "10.0.0.1", auth: str = ""
) -> tuple[str, dict[str, str]]:
    seen: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": client, "QUERY_STRING": ""}
    if auth:
        environ["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    b"".join(app(environ, start))
    return seen["status"], seen["headers"]


def test_reload_is_forbidden_unless_the_lifecycle_api_is_enabled(registry: CollectorRegistry) -> None:
    calls: list[int] = []
    app = make_app(serving(registry), lambda: True, lambda: (calls.append(1), (True, "ok"))[1])
    status, _ = _call(app, "POST", "/-/reload")
    assert status.startswith("403")
    assert calls == []


def test_reloads_are_rate_limited(registry: CollectorRegistry) -> None:
    now = [1000.0]
    calls: list[int] = []
    app = make_app(
        serving(registry),
        lambda: True,
        lambda: (calls.append(1), (True, "ok"))[1],
        lifecycle=True,
        clock=lambda: now[0],
    )
    statuses = [_call(app, "POST", "/-/reload")[0][:3] for _ in range(5)]
    assert statuses == ["200", "200", "200", "429", "429"]
    assert _call(app, "POST", "/-/reload")[1]["Retry-After"] == "10"
    now[0] += 10
    assert _call(app, "POST", "/-/reload")[0].startswith("200")
    assert len(calls) == 4


def test_failed_logins_are_rate_limited_per_client_without_running_bcrypt(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4))
    checks: list[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: (checks.append(h), real(pw, h))[1])
    now = [0.0]
    app = make_app(
        serving(registry), lambda: True, lambda: (True, ""), BasicAuth({"prom": hashed}, clock=lambda: now[0])
    )
    statuses = [_call(app, "GET", "/metrics", auth="prom:wrong")[0][:3] for _ in range(30)]
    assert statuses == ["401"] * 10 + ["429"] * 20
    assert len(checks) == 10
    # Another client is not blocked by the first; the first regains one attempt after 6 s.
    assert _call(app, "GET", "/metrics", client="10.0.0.2", auth="prom:s3cret")[0].startswith("200")
    now[0] += 6
    assert _call(app, "GET", "/metrics", auth="prom:s3cret")[0].startswith("200")
    assert _call(app, "GET", "/metrics", auth="prom:wrong")[0].startswith("401")
    assert _call(app, "GET", "/metrics", auth="prom:wrong")[0].startswith("429")


def test_the_failed_login_table_is_bounded() -> None:
    limiter = RateLimiter(10, 0.1, max_keys=100, clock=lambda: 0.0)
    for i in range(10_000):
        limiter.spend(f"10.{i}")
    assert len(limiter) == 100


def test_unknown_users_cost_the_same_bcrypt_work_as_the_costliest_known_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cheap, dear = bcrypt.hashpw(b"a", bcrypt.gensalt(4)), bcrypt.hashpw(b"b", bcrypt.gensalt(6))
    used: list[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: (used.append(h), real(pw, h))[1])
    auth = BasicAuth({"cheap": cheap, "dear": dear})
    assert not auth.check("nobody", "b")  # right password of another user: still refused
    assert not auth.check("dear", "wrong")
    assert [bcrypt_cost(h) for h in used] == [6, 6]


@pytest.mark.parametrize("password", ["x" * 73, "é" * 40, "a\0b"])
def test_passwords_bcrypt_cannot_take_are_a_401(authed: str, password: str) -> None:
    r = requests.get(authed + "/metrics", auth=("prom", password), timeout=5)
    assert r.status_code == 401


def test_an_app_exception_is_a_500_and_one_log_line(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(environ: dict[str, Any], start: Any) -> list[bytes]:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    caplog.set_level(logging.INFO)
    server = HTTPServer("127.0.0.1", 0, broken)
    server.start()
    try:
        assert requests.get(server.url + "/metrics", timeout=5).status_code == 500
        assert requests.get(server.url + "/metrics", timeout=5).status_code == 500
    finally:
        server.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert not any(r.exc_info for r in errors)
    assert "Traceback" not in capfd.readouterr().err


def test_stop_closes_every_connection_and_the_listener(registry: CollectorRegistry) -> None:
    server = _small_server(registry)
    idle = [socket.create_connection(_raw(server.url), timeout=5) for _ in range(5)]
    server.stop()
    try:
        for s in idle:
            assert _read_all(s) == b""
        with pytest.raises(OSError):
            socket.create_connection(_raw(server.url), timeout=2).close()
    finally:
        for s in idle:
            s.close()


def test_a_long_pipeline_is_served_in_order_without_recursion(plain: tuple[str, State]) -> None:
    url, _ = plain
    with socket.create_connection(_raw(url), timeout=5) as s:
        s.sendall(
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
            + b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        reply = _read_all(s, limit=20)
    assert reply.count(b"HTTP/1.1 200 ") == 2000
    assert reply.rstrip().endswith(b"Not found")


@pytest.mark.parametrize("command", ["run", "demo"])
def test_the_lifecycle_flag_is_off_unless_given(command: str) -> None:
    from exporter.cli.main import build_parser

    assert build_parser().parse_args([command]).enable_lifecycle is False
    assert build_parser().parse_args([command, "--web.enable-lifecycle"]).enable_lifecycle is True
