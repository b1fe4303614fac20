"""Hostile clients against a real exporter process on 127.0.0.1 (TLS and basic auth on).

Each attack is bounded in connections and seconds. After each one the exporter must
still be running, answer its probes, serve an exposition promtool accepts, keep its
RSS bounded, and have written nothing to stderr but log lines (no tracebacks).
Memory figures are printed by ``benchmarks/hostile_clients.py``; here RSS is only
checked against a generous ceiling.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml

from exporter.fake import FakeServer, FakeWorkspace

USER, PASSWORD = "prom", "s3cret-scrape"
# Far above the ~60 MB the process needs, far below the chart's 256Mi limit: a leak
# per connection (a thread stack, a buffer) over hundreds of connections crosses it.
RSS_CEILING_KB = 200 * 1024
# The server's connection cap (256) plus the process's own files and upstream sockets.
FD_CEILING = 256 + 64
# Refresh threads, the HTTP loop and its 4 workers: a thread per client would cross it.
THREAD_CEILING = 48


@dataclass
class Exporter:
    proc: subprocess.Popen[str]
    url: str
    ca: str
    stderr: list[str] = field(default_factory=list)

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        assert match, status
        return int(match.group(1))

    def threads(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"^Threads:\s+(\d+)", status, re.M)
        assert match, status
        return int(match.group(1))

    def fds(self) -> int:
        return sum(1 for _ in Path(f"/proc/{self.proc.pid}/fd").iterdir())

    def address(self) -> tuple[str, int]:
        host, _, port = self.url.rpartition("://")[2].rpartition(":")
        return host, int(port)

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path, verify=self.ca, timeout=5, **kwargs)  # type: ignore[arg-type]


def _cert(d: Path) -> tuple[Path, Path]:
    crt, key = d / "tls.crt", d / "tls.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(crt)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return crt, key


@pytest.fixture(scope="module")
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exporter]:
    d = tmp_path_factory.mktemp("hostile")
    crt, key = _cert(d)
    fake = FakeWorkspace(desktops=50)
    api = FakeServer(fake)
    api_url = api.start()
    web = d / "web.yml"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": str(crt), "key_file": str(key)},
                "basic_auth_users": {USER: hashed},
            }
        )
    )
    config = d / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "region": fake.region,
                "project_id": fake.project_id,
                "endpoints": {"workspace": api_url, "iam": api_url, "ces": api_url},
                "connections": {"enabled": False},
                "events": {"enabled": False},
                "web": {"listen_address": "127.0.0.1:0", "config_file": str(web)},
            }
        )
    )
    env = {**os.environ, "HUAWEICLOUD_SDK_AK": fake.ak, "HUAWEICLOUD_SDK_SK": fake.sk}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "run", "--config.file", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if len(lines) < 100_000:
                lines.append(line)
            if "msg=serving " in line and " url=https://" in line:
                found.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert found.wait(30), "".join(lines)
        banner = next(ln for ln in lines if "msg=serving " in ln and " url=https://" in ln)
        url = banner.split(" url=", 1)[1].split()[0]
        ex = Exporter(proc, url.removesuffix("/metrics"), str(crt), lines)
        deadline = time.monotonic() + 30
        while ex.get("/-/ready").status_code != 200:
            assert time.monotonic() < deadline, "exporter never became ready"
            time.sleep(0.1)
        yield ex
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        reader.join(timeout=5)
        api.stop()


def assert_healthy(ex: Exporter) -> None:
    """Up, probes answer, promtool accepts a scrape, RSS under the ceiling, no traceback so far."""
    assert ex.proc.poll() is None, "".join(ex.stderr)
    assert ex.get("/-/healthy").status_code == 200
    assert ex.get("/-/ready").status_code == 200
    r = ex.get("/metrics", auth=(USER, PASSWORD))
    assert r.status_code == 200
    assert "huaweicloud_workspace_up" in r.text
    if shutil.which("promtool"):
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=r.text, capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 0, check.stdout + check.stderr
    assert ex.rss_kb() < RSS_CEILING_KB
    assert ex.threads() < THREAD_CEILING
    assert ex.fds() < FD_CEILING
    assert not any("Traceback" in ln for ln in ex.stderr)
    strays = [ln for ln in ex.stderr if not ln.startswith("ts=")]
    assert strays == []


def _connect(ex: Exporter, n: int) -> list[socket.socket]:
    return [socket.create_connection(ex.address(), timeout=5) for _ in range(n)]


def _close(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def test_probes_and_scrapes_answer_while_300_idle_connections_are_held(exporter: Exporter) -> None:
    idle = _connect(exporter, 300)
    try:
        assert_healthy(exporter)
    finally:
        _close(idle)
    assert_healthy(exporter)


def test_300_slowloris_clients_do_not_starve_the_probes(exporter: Exporter) -> None:
    ctx = ssl.create_default_context(cafile=exporter.ca)
    slow: list[ssl.SSLSocket] = []
    try:
        for _ in range(300):
            raw = socket.create_connection(exporter.address(), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            slow.append(s)
        for _ in range(3):  # a header line each round, a round a second: classic slowloris
            for s in slow:
                # Evicted to make room for newer clients is what we want.
                with contextlib.suppress(OSError):
                    s.sendall(b"X-a: b\r\n")
            assert exporter.get("/-/healthy").status_code == 200
            time.sleep(1)
        assert_healthy(exporter)
    finally:
        _close(slow)  # type: ignore[arg-type]


def test_clients_that_never_handshake_tls_do_not_starve_the_probes(exporter: Exporter) -> None:
    mute = _connect(exporter, 300)
    try:
        assert_healthy(exporter)
    finally:
        _close(mute)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the client deliberately speaks TLS 1.0
def test_plain_http_and_tls10_on_the_tls_port_leave_no_traceback(exporter: Exporter) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1
    for _ in range(50):
        with socket.create_connection(exporter.address(), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
                assert s.recv(1024) == b""
        with socket.create_connection(exporter.address(), timeout=5) as s, pytest.raises(OSError):
            old.wrap_socket(s).do_handshake()
    assert_healthy(exporter)


def _status_from(ex: Exporter, source: str, password: str) -> int:
    """One GET /metrics from ``source`` (another loopback address, so the guesser is its own client)."""
    ctx = ssl.create_default_context(cafile=ex.ca)
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    with (
        socket.create_connection(ex.address(), timeout=5, source_address=(source, 0)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Authorization: Basic {token}\r\n\r\n".encode()
        )
        return int(s.recv(64).split(b" ")[1])


def test_a_password_guessing_client_is_throttled_and_never_crashes_the_server(exporter: Exporter) -> None:
    guesser = "127.0.0.2"
    # 13 guesses: the burst of 10, then refusals (each held a second; a new allowance takes 6 s).
    statuses = [_status_from(exporter, guesser, f"guess-{i}") for i in range(13)]
    assert set(statuses[:10]) == {401}
    assert set(statuses[10:]) == {429}
    assert _status_from(exporter, guesser, PASSWORD) == 429  # locked out even with the right one
    assert _status_from(exporter, "127.0.0.3", "x" * 100) == 401  # over bcrypt's 72 bytes: no 500
    assert_healthy(exporter)  # scrapes from 127.0.0.1 are not locked out by the guesser


def test_an_http09_request_is_answered_and_closed_promptly(exporter: Exporter) -> None:
    ctx = ssl.create_default_context(cafile=exporter.ca)
    with (
        socket.create_connection(exporter.address(), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(b"GET /\r\n")
        reply = b""
        while chunk := s.recv(4096):  # the 5 s socket timeout bounds this
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize("length", [b"\xb2", "٣".encode(), b"1_0", b" +5"])
def test_a_pipelined_request_with_a_non_ascii_length_is_a_400_and_the_server_keeps_serving(
    exporter: Exporter, length: bytes
) -> None:
    ctx = ssl.create_default_context(cafile=exporter.ca)
    with (
        socket.create_connection(exporter.address(), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
        )
        reply = b""
        while chunk := s.recv(4096):  # the 5 s socket timeout bounds this
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 400 " in reply
    assert_healthy(exporter)


def test_reload_is_off_by_default_even_with_the_right_password(exporter: Exporter) -> None:
    r = requests.post(exporter.url + "/-/reload", auth=(USER, PASSWORD), verify=exporter.ca, timeout=5)
    assert r.status_code == 403
    assert "--web.enable-lifecycle" in r.text


def test_head_gets_no_body_and_gzip_q0_gets_identity(exporter: Exporter) -> None:
    head = requests.head(exporter.url + "/metrics", auth=(USER, PASSWORD), verify=exporter.ca, timeout=5)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) > 0
    assert head.content == b""
    r = exporter.get("/metrics", auth=(USER, PASSWORD), headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in r.headers
    assert_healthy(exporter)


def _tls_exchange(ex: Exporter, data: bytes, half_close: bool = False) -> bytes:
    """Send ``data`` over TLS (then FIN, leaving TLS as it is) and read until the server closes."""
    ctx = ssl.create_default_context(cafile=ex.ca)
    with (
        socket.create_connection(ex.address(), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(data)
        if half_close:
            socket.socket.shutdown(s, socket.SHUT_WR)  # a TCP FIN, not a TLS close_notify
        reply = b""
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):
            while chunk := s.recv(65536):  # the 5 s socket timeout bounds this
                reply += chunk
    return reply


def test_every_malicious_head_of_the_corpus_is_refused_with_its_status(exporter: Exporter) -> None:
    from benchmarks.http_corpus import CORPUS

    wrong = {}
    for case in CORPUS:
        if case.ours is None:
            continue
        reply = _tls_exchange(exporter, case.raw)
        if not reply.startswith(b"HTTP/1.1 %d " % case.ours) or reply.count(b"HTTP/1.1 ") != 1:
            wrong[case.name] = reply[:60]
    assert wrong == {}
    assert_healthy(exporter)


def test_an_underscore_length_cannot_make_the_exporter_and_a_proxy_disagree(exporter: Exporter) -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    smuggled = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + token + b"\r\n\r\n"
    reply = _tls_exchange(
        exporter,
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent_Length: %d\r\n\r\n" % len(smuggled)
        + smuggled
        + b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400 ") and reply.count(b"HTTP/1.1 ") == 1
    assert_healthy(exporter)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_requests_followed_at_once_by_fin_are_answered(exporter: Exporter, version: str) -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for path in ("/-/healthy", "/-/ready", "/metrics"):
        head = f"GET {path} {version}\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n"
        reply = _tls_exchange(exporter, head.encode(), half_close=True)
        assert reply.startswith(b"HTTP/1.1 200 "), (path, reply[:80])
    assert_healthy(exporter)


def test_pipelined_garbage_never_stops_the_server(exporter: Exporter) -> None:
    import random

    from benchmarks.http_corpus import CORPUS

    rng = random.Random(18)
    good = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(40):
        pieces = [good] + [rng.choice(CORPUS).raw for _ in range(3)] + [rng.randbytes(rng.randrange(64))]
        rng.shuffle(pieces)
        _tls_exchange(exporter, b"".join(pieces), half_close=rng.random() < 0.5)
        assert exporter.get("/-/healthy").status_code == 200
    assert_healthy(exporter)
