"""The web config file (``--web.config.file``): TLS, HTTP headers, basic auth, a request rate limit.

The format is the Prometheus exporter-toolkit's, so operators can reuse theirs. Every key of
that format is either honoured or refused with a line naming the key and why::

    tls_server_config:
      cert_file: /etc/tls/tls.crt          # or cert: <PEM>; re-read when the file changes
      key_file: /etc/tls/tls.key           # or key: <PEM>
      client_auth_type: RequireAndVerifyClientCert   # NoClientCert, VerifyClientCertIfGiven
      client_ca_file: /etc/tls/ca.crt      # or client_ca: <PEM>
      client_allowed_sans: [prometheus.monitoring.svc]
      min_version: TLS12                   # TLS12 or TLS13
      max_version: TLS13
      cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 suites, Go names
      prefer_server_cipher_suites: true
      curve_preferences: [X25519]          # one curve
    http_server_config:
      http2: false                         # HTTP/1.1 only; true is accepted with a warning
      headers: {X-Content-Type-Options: nosniff}
    basic_auth_users:
      prometheus: $2y$10$...               # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
    rate_limit: {interval: 100ms, burst: 20}

Refused: ``client_auth_type`` RequestClientCert / RequireAnyClientCert / RequireClientCert
(they accept a certificate nobody verified, which Python's ssl module cannot do and
exporter-toolkit itself calls insecure), TLS below 1.2, more than one curve (the ssl module
sets one), cipher names Go does not list as secure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.config.schema import parse_duration
from exporter.config.yamlfile import excerpt, key_name, load_yaml_file
from exporter.errors import ConfigError
from exporter.secret import register

log = logging.getLogger(__name__)

_TOP = ("tls_server_config", "http_server_config", "basic_auth_users", "rate_limit")
_TLS_KEYS = (
    *("cert_file", "key_file", "cert", "key", "client_ca_file", "client_ca", "client_auth_type"),
    *("client_allowed_sans", "min_version", "max_version", "cipher_suites"),
    *("prefer_server_cipher_suites", "curve_preferences"),
)
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Go's secure TLS 1.2 suites (crypto/tls CipherSuites()) and their OpenSSL names.
CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# TLS 1.3 suites are not configurable, in Go as in OpenSSL's ssl module: accepted, no effect.
_TLS13_CIPHERS = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}
# The headers exporter-toolkit lets a web config set, and the values it allows (None: any).
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Content-Security-Policy": None,
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-Content-Type-Options": ("nosniff",),
    "X-XSS-Protection": None,
    "Strict-Transport-Security": None,
}
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,1024}")


@dataclass(frozen=True)
class WebSecurity:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""
    min_version: str = "TLS12"
    users: dict[str, bytes] = field(default_factory=dict)
    max_version: str = "TLS13"
    cert: str = field(default="", repr=False)
    key: str = field(default="", repr=False)
    client_ca: str = field(default="", repr=False)
    client_auth_type: str = ""  # "": RequireAndVerifyClientCert with a client CA, else NoClientCert
    client_allowed_sans: tuple[str, ...] = ()
    ciphers: str = ""  # an OpenSSL cipher list; "" keeps OpenSSL's defaults
    prefer_server_cipher_suites: bool = True
    curve: str = ""  # an OpenSSL curve name; "" keeps OpenSSL's defaults
    http2: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    rate_limit: tuple[float, int] | None = None  # (seconds between requests, burst)

    @property
    def tls(self) -> bool:
        return bool(self.cert_file or self.cert)

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        if self.client_auth_type:
            return CLIENT_AUTH[self.client_auth_type]
        return ssl.CERT_REQUIRED if (self.client_ca_file or self.client_ca) else ssl.CERT_NONE

    def files(self) -> tuple[str, ...]:
        """The files the TLS context is built from (watched for rotation)."""
        return tuple(f for f in (self.cert_file, self.key_file, self.client_ca_file) if f)

    def ssl_context(self) -> ssl.SSLContext:
        """A new server context from the current files; raises OSError or ssl.SSLError."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = VERSIONS[self.min_version]
        ctx.maximum_version = VERSIONS[self.max_version]
        if self.ciphers:
            ctx.set_ciphers(self.ciphers)
        if self.prefer_server_cipher_suites:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        if self.curve:
            ctx.set_ecdh_curve(self.curve)
        # A client that half-closes after its request sends a FIN without close_notify;
        # OpenSSL 3 makes that a fatal error, after which the answer could not be written.
        ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
        with _pem_path(self.cert_file, self.cert) as cert, _pem_path(self.key_file, self.key) as key:
            ctx.load_cert_chain(cert, key)
        if self.client_ca_file:
            ctx.load_verify_locations(cafile=self.client_ca_file)
        elif self.client_ca:
            ctx.load_verify_locations(cadata=self.client_ca)
        ctx.verify_mode = self.verify_mode
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


@contextlib.contextmanager
def _pem_path(path: str, inline: str) -> Iterator[str]:
    """``path``, or an inline PEM as an anonymous in-memory file (nothing touches the disk)."""
    if path or not inline:
        yield path
        return
    fd = os.memfd_create("web-config-pem", os.MFD_CLOEXEC)
    try:
        os.write(fd, inline.encode())
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _strings(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _tls(tls: dict[Any, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """The tls_server_config keys as WebSecurity fields, appending problems."""
    out: dict[str, Any] = {}
    pre = f"{where}: tls_server_config"
    for key in tls:
        if key not in _TLS_KEYS:
            problems.append(f"{pre}.{key_name(key)}: unknown key (known: {', '.join(sorted(_TLS_KEYS))})")
    for name in ("cert_file", "key_file", "client_ca_file", "cert", "key", "client_ca"):
        value = tls.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{pre}.{name}: must be a string")
        out[name] = value if isinstance(value, str) else ""
    for name in ("cert_file", "key_file", "client_ca_file"):
        if out[name] and not Path(out[name]).is_file():
            problems.append(f"{pre}.{name}: file {excerpt(out[name])} does not exist")
    for pair in (("cert_file", "cert"), ("key_file", "key"), ("client_ca_file", "client_ca")):
        if out[pair[0]] and out[pair[1]]:
            problems.append(f"{pre}: {pair[0]} and {pair[1]} are alternatives; set one")
    if out["key"]:
        register(out["key"])  # an inline private key is a secret like any other
    if bool(out["cert_file"] or out["cert"]) != bool(out["key_file"] or out["key"]):
        problems.append(f"{pre}: cert_file and key_file must be set together")
    auth = tls.get("client_auth_type") or ""
    if auth in _UNVERIFIED_AUTH:
        problems.append(
            f"{pre}.client_auth_type: {auth} accepts a client certificate nobody verified (insecure, "
            "and Python's ssl module verifies every certificate it takes); use RequireAndVerifyClientCert "
            "with client_ca_file"
        )
    elif auth and auth not in CLIENT_AUTH:
        problems.append(
            f"{pre}.client_auth_type: must be one of {', '.join(CLIENT_AUTH)} (got {excerpt(auth)})"
        )
    out["client_auth_type"] = auth if auth in CLIENT_AUTH else ""
    has_ca = bool(out["client_ca_file"] or out["client_ca"])
    if auth in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert") and not has_ca:
        problems.append(f"{pre}.client_auth_type: {auth} needs client_ca_file (or client_ca) to verify with")
    if auth == "NoClientCert" and has_ca:
        problems.append(f"{pre}.client_ca_file: set, but client_auth_type is NoClientCert")
    sans = tls.get("client_allowed_sans")
    if sans is not None:
        if _strings(sans) is None:
            problems.append(f"{pre}.client_allowed_sans: must be a list of strings")
        elif not has_ca or auth not in ("", "RequireAndVerifyClientCert"):
            problems.append(
                f"{pre}.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert "
                "(a client that sends no certificate has no SAN to match)"
            )
        else:
            out["client_allowed_sans"] = tuple(sans)
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        value = tls.get(name) or default
        out[name] = value if value in VERSIONS else default
        if value in ("TLS10", "TLS11"):
            problems.append(f"{pre}.{name}: must be TLS12 or TLS13 (TLS below 1.2 is not served: insecure)")
        elif value not in VERSIONS:
            problems.append(f"{pre}.{name}: must be TLS12 or TLS13 (got {excerpt(value)})")
    if VERSIONS[out["min_version"]] > VERSIONS[out["max_version"]]:
        problems.append(f"{pre}: min_version is above max_version")
    ciphers = tls.get("cipher_suites")
    if ciphers is not None:
        names = _strings(ciphers)
        bad = [c for c in names or [] if c not in CIPHERS and c not in _TLS13_CIPHERS]
        if names is None or bad:
            problems.append(
                f"{pre}.cipher_suites: unknown or insecure suite {excerpt(bad[0] if bad else ciphers)} "
                f"(known: {', '.join(CIPHERS)}, and the TLS 1.3 suites)"
            )
        else:
            out["ciphers"] = ":".join(CIPHERS[c] for c in names if c in CIPHERS)
    prefer = tls.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        problems.append(f"{pre}.prefer_server_cipher_suites: must be true or false")
    out["prefer_server_cipher_suites"] = prefer is not False
    curves = tls.get("curve_preferences")
    if curves is not None:
        names = _strings(curves)
        if names is None or any(c not in CURVES for c in names):
            problems.append(f"{pre}.curve_preferences: must list curves of {', '.join(CURVES)}")
        elif len(names) > 1:
            problems.append(
                f"{pre}.curve_preferences: list one curve (Python's ssl module sets a single curve)"
            )
        elif names:
            out["curve"] = CURVES[names[0]]
    return out


def _http(raw: object, where: str, problems: list[str]) -> dict[str, Any]:
    pre = f"{where}: http_server_config"
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        problems.append(f"{pre}: must be a mapping")
        return out
    for key in raw:
        if key not in ("http2", "headers"):
            problems.append(f"{pre}.{key_name(key)}: unknown key (known: headers, http2)")
    http2 = raw.get("http2", False)
    if not isinstance(http2, bool):
        problems.append(f"{pre}.http2: must be true or false")
    out["http2"] = http2 is True
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        problems.append(f"{pre}.headers: must be a mapping of header name to value")
        headers = {}
    pairs: list[tuple[str, str]] = []
    for name, value in headers.items():
        canonical = next((h for h in HEADERS if h.lower() == str(name).lower()), None)
        if canonical is None:
            problems.append(f"{pre}.headers.{key_name(name)}: cannot be set (allowed: {', '.join(HEADERS)})")
            continue
        allowed = HEADERS[canonical]
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            problems.append(f"{pre}.headers.{canonical}: must be printable ASCII text")
        elif allowed is not None and value.lower() not in allowed:
            problems.append(f"{pre}.headers.{canonical}: must be one of {', '.join(allowed)}")
        elif value:
            pairs.append((canonical, value))
    out["headers"] = tuple(pairs)
    return out


def _rate_limit(raw: object, where: str, problems: list[str]) -> tuple[float, int] | None:
    pre = f"{where}: rate_limit"
    if not isinstance(raw, dict):
        problems.append(f"{pre}: must be a mapping with interval and burst")
        return None
    for key in raw:
        if key not in ("interval", "burst"):
            problems.append(f"{pre}.{key_name(key)}: unknown key (known: burst, interval)")
    try:
        interval = parse_duration(raw.get("interval", 0))
    except ValueError:
        problems.append(f"{pre}.interval: must be a duration such as 100ms or 1s")
        return None
    burst = raw.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int) or not 0 <= burst <= 1_000_000:
        problems.append(f"{pre}.burst: must be a whole number from 0 to 1000000")
        return None
    if not 0 <= interval <= 3600:
        problems.append(f"{pre}.interval: must be between 0 (off) and 1h")
        return None
    if interval == 0:
        return None
    if burst == 0:
        problems.append(
            f"{pre}.burst: 0 refuses every request; set at least 1 (or interval 0 to turn it off)"
        )
        return None
    return interval, burst


def load_web_config(path: str) -> WebSecurity:
    """Parse and check a web config file. Raises ConfigError naming the key."""
    where = f"web config {excerpt(path)}"
    raw = load_yaml_file(path, where) or {}
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError([f"{where}: the top level must be a mapping"])
    for key in raw:
        if key not in _TOP:
            problems.append(f"{where}: {key_name(key)}: unknown key (known: {', '.join(sorted(_TOP))})")
    tls_raw = raw.get("tls_server_config") or {}
    if not isinstance(tls_raw, dict):
        problems.append(f"{where}: tls_server_config: must be a mapping")
        tls_raw = {}
    fields: dict[str, Any] = _tls(tls_raw, where, problems)
    if "http_server_config" in raw:
        fields.update(_http(raw.get("http_server_config") or {}, where, problems))
    if raw.get("rate_limit") is not None:
        fields["rate_limit"] = _rate_limit(raw["rate_limit"], where, problems)
    users_raw = raw.get("basic_auth_users") or {}
    users: dict[str, bytes] = {}
    if not isinstance(users_raw, dict):
        problems.append(f"{where}: basic_auth_users: must be a mapping of user name to bcrypt hash")
        users_raw = {}
    for user, hashed in users_raw.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            problems.append(
                f"{where}: basic_auth_users.{key_name(user)}: must be a bcrypt hash ($2y$...), not a password"
            )
            continue
        users[str(user)] = hashed.encode()
    if problems:
        raise ConfigError(problems)
    security = WebSecurity(users=users, **fields)
    if security.tls:
        try:
            security.ssl_context()
        except (OSError, ssl.SSLError, ValueError) as e:
            raise ConfigError([f"{where}: tls_server_config: cannot load certificate/key ({e})"]) from e
    elif security.client_auth_type or security.client_ca_file or security.client_ca:
        raise ConfigError([f"{where}: tls_server_config: client certificates need cert_file and key_file"])
    if security.http2:
        log.warning(
            "http_server_config.http2 is true, but the exporter serves HTTP/1.1 only; clients fall back"
        )
    return security


def bcrypt_cost(hashed: bytes) -> int:
    """The cost factor of a ``$2y$10$...`` hash (0 when it cannot be read)."""
    parts = hashed.split(b"$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0
