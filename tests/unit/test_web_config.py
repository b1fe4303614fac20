"""Every exporter-toolkit web-config key: honoured (over real TLS sockets) or refused by name;
certificate rotation; response headers and the request rate limit."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry

from exporter.config.web import WebSecurity, load_web_config
from exporter.errors import ConfigError
from exporter.serve.policy import WebPolicy
from exporter.serve.server import HTTPServer, make_app
from exporter.serve.tls import ServerTLS
from tests import tlsfiles
from tests.oracle import serving


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    authority = tlsfiles.ca(d)
    server = tlsfiles.signed(d, "server", authority, "IP:127.0.0.1")
    other = tlsfiles.signed(d, "other", authority, "IP:127.0.0.1", cn="other")
    good = tlsfiles.signed(d, "client", authority, "DNS:prometheus")
    bad = tlsfiles.signed(d, "intruder", authority, "DNS:intruder")
    return {
        "ca": authority[0],
        "crt": server[0],
        "key": server[1],
        "other_crt": other[0],
        "other_key": other[1],
        "client_crt": good[0],
        "client_key": good[1],
        "intruder_crt": bad[0],
        "intruder_key": bad[1],
    }


def _load(tmp_path: Path, doc: dict[str, object]) -> WebSecurity:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(doc))
    return load_web_config(str(path))


def _problems(tmp_path: Path, doc: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, doc)
    return e.value.problems


def _tls(pki: dict[str, Path], **extra: object) -> dict[str, object]:
    return {"tls_server_config": {"cert_file": str(pki["crt"]), "key_file": str(pki["key"]), **extra}}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"client_auth_type": "RequestClientCert"}, "client_auth_type: RequestClientCert accepts"),
        ({"client_auth_type": "RequireAnyClientCert"}, "client_auth_type: RequireAnyClientCert accepts"),
        ({"client_auth_type": "RequireClientCert"}, "client_auth_type: RequireClientCert accepts"),
        ({"client_auth_type": "Sometimes"}, "client_auth_type: must be one of"),
        ({"client_auth_type": "RequireAndVerifyClientCert"}, "needs client_ca_file"),
        ({"client_allowed_sans": ["prometheus"]}, "client_allowed_sans: needs client_auth_type"),
        ({"min_version": "TLS10"}, "min_version: must be TLS12 or TLS13 (TLS below 1.2"),
        ({"max_version": "TLS11"}, "max_version: must be TLS12 or TLS13"),
        ({"min_version": "TLS13", "max_version": "TLS12"}, "min_version is above max_version"),
        ({"cipher_suites": ["TLS_RSA_WITH_RC4_128_SHA"]}, "cipher_suites: unknown or insecure suite"),
        ({"curve_preferences": ["X25519", "CurveP256"]}, "curve_preferences: list one curve"),
        ({"curve_preferences": ["CurveP224"]}, "curve_preferences: must list curves of"),
        ({"prefer_server_cipher_suites": "yes"}, "prefer_server_cipher_suites: must be true or false"),
        ({"cert": "-----BEGIN CERTIFICATE-----"}, "cert_file and cert are alternatives"),
        ({"session_tickets": True}, "tls_server_config.session_tickets: unknown key"),
    ],
)
def test_refused_tls_keys_are_named_with_the_reason(
    tmp_path: Path, pki: dict[str, Path], extra: dict[str, object], message: str
) -> None:
    problems = _problems(tmp_path, _tls(pki, **extra))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"http_server_config": {"headers": {"Server": "x"}}}, "headers.Server: cannot be set"),
        (
            {"http_server_config": {"headers": {"X-Frame-Options": "allow"}}},
            "must be one of deny, sameorigin",
        ),
        ({"http_server_config": {"headers": {"X-XSS-Protection": "1\r\nX: y"}}}, "must be printable ASCII"),
        ({"http_server_config": {"http2": "yes"}}, "http2: must be true or false"),
        ({"rate_limit": {"interval": "soon", "burst": 1}}, "rate_limit.interval: must be a duration"),
        ({"rate_limit": {"interval": "1s", "burst": 0}}, "rate_limit.burst: 0 refuses every request"),
        ({"rate_limit": {"interval": "1s", "burst": 1, "per": "ip"}}, "rate_limit.per: unknown key"),
        ({"basic_auth_users": {"prom": "plaintext"}}, "basic_auth_users.prom: must be a bcrypt hash"),
        ({"tls_server_config": {"client_auth_type": "NoClientCert"}}, "client certificates need cert_file"),
    ],
)
def test_refused_other_keys_are_named_with_the_reason(
    tmp_path: Path, doc: dict[str, object], message: str
) -> None:
    problems = _problems(tmp_path, doc)
    assert any(message in p for p in problems), problems


def test_every_supported_key_loads(
    tmp_path: Path, pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    doc = _tls(
        pki,
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(pki["ca"]),
        client_allowed_sans=["prometheus"],
        min_version="TLS12",
        max_version="TLS13",
        cipher_suites=["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"],
        prefer_server_cipher_suites=False,
        curve_preferences=["CurveP256"],
    )
    doc["http_server_config"] = {"http2": True, "headers": {"X-Content-Type-Options": "nosniff"}}
    doc["rate_limit"] = {"interval": "100ms", "burst": 5}
    doc["basic_auth_users"] = {"prom": "$2y$04$" + "a" * 53}
    with caplog.at_level(logging.WARNING):
        sec = _load(tmp_path, doc)
    assert sec.verify_mode == ssl.CERT_REQUIRED and sec.client_allowed_sans == ("prometheus",)
    assert sec.ciphers == "ECDHE-ECDSA-AES128-GCM-SHA256" and sec.curve == "prime256v1"
    assert sec.headers == (("X-Content-Type-Options", "nosniff"),) and sec.rate_limit == (0.1, 5)
    assert "HTTP/1.1 only" in caplog.text  # http2: true is accepted, and said not to apply


def test_inline_pem_certificate_key_and_client_ca_load_without_touching_the_disk(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    sec = _load(
        tmp_path,
        {
            "tls_server_config": {
                "cert": pki["crt"].read_text(),
                "key": pki["key"].read_text(),
                "client_ca": pki["ca"].read_text(),
                "client_auth_type": "VerifyClientCertIfGiven",
            }
        },
    )
    assert sec.tls and sec.files() == () and sec.verify_mode == ssl.CERT_OPTIONAL
    assert isinstance(sec.ssl_context(), ssl.SSLContext)


Start = Callable[[WebSecurity], HTTPServer]


@pytest.fixture
def served(pki: dict[str, Path]) -> Iterator[Start]:
    servers: list[HTTPServer] = []

    def start(sec: WebSecurity) -> HTTPServer:
        app = make_app(serving(CollectorRegistry()), lambda: True, lambda: (True, ""), policy=WebPolicy(sec))
        srv = HTTPServer("127.0.0.1", 0, app, sec)
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.stop()


def _client(pki: dict[str, Path], cert: str | None = None, **options: object) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert:
        ctx.load_cert_chain(str(pki[f"{cert}_crt"]), str(pki[f"{cert}_key"]))
    for k, v in options.items():
        setattr(ctx, k, v)
    return ctx


def _get(srv: HTTPServer, ctx: ssl.SSLContext, path: str = "/-/healthy") -> tuple[bytes, str, str]:
    """The reply (b"" when the server refused the client), the TLS version and cipher."""
    with socket.create_connection(srv.address, timeout=5) as raw:
        try:
            s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            version, cipher = str(s.version()), (s.cipher() or ("",))[0]
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out, version, cipher
        except (ssl.SSLError, OSError):
            return b"", "", ""


def test_client_certificates_are_verified_and_their_sans_matched(served: Start, pki: dict[str, Path]) -> None:
    sec = WebSecurity(
        str(pki["crt"]),
        str(pki["key"]),
        str(pki["ca"]),
        client_auth_type="RequireAndVerifyClientCert",
        client_allowed_sans=("prometheus",),
    )
    srv = served(sec)
    assert _get(srv, _client(pki, "client"))[0].startswith(b"HTTP/1.1 200 ")
    assert _get(srv, _client(pki, "intruder"))[0] == b""  # verified, but not an allowed SAN
    assert _get(srv, _client(pki))[0] == b""  # no certificate at all


def test_verify_client_cert_if_given_lets_a_client_without_one_in(
    served: Start, pki: dict[str, Path]
) -> None:
    sec = WebSecurity(
        str(pki["crt"]), str(pki["key"]), str(pki["ca"]), client_auth_type="VerifyClientCertIfGiven"
    )
    srv = served(sec)
    assert _get(srv, _client(pki))[0].startswith(b"HTTP/1.1 200 ")
    assert _get(srv, _client(pki, "client"))[0].startswith(b"HTTP/1.1 200 ")


def test_versions_ciphers_and_curve_are_what_the_handshake_uses(served: Start, pki: dict[str, Path]) -> None:
    sec = WebSecurity(
        str(pki["crt"]),
        str(pki["key"]),
        max_version="TLS12",
        ciphers="ECDHE-ECDSA-AES256-GCM-SHA384",
        curve="secp384r1",
    )
    srv = served(sec)
    reply, version, cipher = _get(srv, _client(pki))
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert (version, cipher) == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    tls13_only = _client(pki, minimum_version=ssl.TLSVersion.TLSv1_3)
    assert _get(srv, tls13_only)[0] == b""


def test_headers_are_added_and_the_rate_limit_spares_the_probes(served: Start, pki: dict[str, Path]) -> None:
    sec = WebSecurity(headers=(("X-Frame-Options", "deny"),), rate_limit=(60.0, 2))
    app = make_app(serving(CollectorRegistry()), lambda: True, lambda: (True, ""), policy=WebPolicy(sec))
    srv = HTTPServer("127.0.0.1", 0, app, None)
    srv.start()
    try:
        statuses = [requests.get(srv.url + "/", timeout=5) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert all(r.headers["X-Frame-Options"] == "deny" for r in statuses)
        assert statuses[2].headers["Retry-After"] == "60"
        assert requests.get(srv.url + "/-/healthy", timeout=5).status_code == 200
    finally:
        srv.stop()


def _peer_cn(srv: HTTPServer, pki: dict[str, Path]) -> str:
    with socket.create_connection(srv.address, timeout=5) as raw:
        ctx = _client(pki)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            cert = s.getpeercert()
    subject = dict(x[0] for x in cert["subject"])  # type: ignore[index, misc]
    return str(subject["commonName"])


def test_a_certificate_replaced_on_disk_is_served_to_new_connections(
    tmp_path: Path, pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(pki["crt"], crt)
    shutil.copy(pki["key"], key)
    now = [0.0]
    source = ServerTLS(WebSecurity(str(crt), str(key)), clock=lambda: now[0])
    first = source.context()
    # Half a rotation: the new certificate beside the old key. Kept: the old context.
    shutil.copy(pki["other_crt"], crt)
    now[0] += 1.0
    with caplog.at_level(logging.WARNING):
        assert source.context() is first
        now[0] += 1.0
        assert source.context() is first
    assert caplog.text.count("tls reload failed") == 1  # once per state, not once a second
    shutil.copy(pki["other_key"], key)
    now[0] += 0.5
    assert source.context() is first  # checked at most once a second
    now[0] += 0.5
    assert source.context() is not first and source.reloads == 1
