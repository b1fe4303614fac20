"""HTTP endpoints over real sockets: /metrics (gzip, OpenMetrics), probes, reload, basic auth, TLS."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge

from exporter.config.web import BasicAuth, WebSecurity, load_web_config
from exporter.errors import ConfigError
from exporter.exposition.render import CachedExposition
from exporter.serve.server import HTTPServer, make_app


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

    app = make_app(registry, lambda: state.ready, reload, auth, lifecycle=True)
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
        ("http_server_config: {}\n", "http_server_config: unknown key"),
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
    exposition = CachedExposition(registry, live, lambda: 1)
    app = make_app(registry, lambda: True, lambda: (True, ""), None, exposition)
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
