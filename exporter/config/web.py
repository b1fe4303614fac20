"""The web config file (``--web.config.file``): TLS and HTTP basic auth.

The format follows the Prometheus exporter-toolkit so operators can reuse theirs::

    tls_server_config:
      cert_file: /etc/tls/tls.crt
      key_file: /etc/tls/tls.key
      client_ca_file: ""          # set to require client certificates (mTLS)
      min_version: TLS12          # TLS12 or TLS13
    basic_auth_users:
      prometheus: $2y$10$...      # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from exporter.config.yamlfile import excerpt, key_name, load_yaml_file
from exporter.errors import ConfigError

_TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "min_version"}


@dataclass(frozen=True)
class WebSecurity:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""
    min_version: str = "TLS12"
    users: dict[str, bytes] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return bool(self.cert_file)

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = (
            ssl.TLSVersion.TLSv1_3 if self.min_version == "TLS13" else ssl.TLSVersion.TLSv1_2
        )
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file:
            ctx.load_verify_locations(self.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def load_web_config(path: str) -> WebSecurity:
    """Parse and check a web config file. Raises ConfigError naming the key."""
    where = f"web config {excerpt(path)}"
    raw = load_yaml_file(path, where) or {}
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError([f"{where}: the top level must be a mapping"])
    for key in raw:
        if key not in ("tls_server_config", "basic_auth_users"):
            problems.append(
                f"{where}: {key_name(key)}: unknown key (known: basic_auth_users, tls_server_config)"
            )
    tls = raw.get("tls_server_config") or {}
    if not isinstance(tls, dict):
        problems.append(f"{where}: tls_server_config: must be a mapping")
        tls = {}
    for key in tls:
        if key not in _TLS_KEYS:
            problems.append(
                f"{where}: tls_server_config.{key_name(key)}: unknown key "
                f"(known: {', '.join(sorted(_TLS_KEYS))})"
            )
    cert, key_file = str(tls.get("cert_file") or ""), str(tls.get("key_file") or "")
    if bool(cert) != bool(key_file):
        problems.append(f"{where}: tls_server_config: cert_file and key_file must be set together")
    for name in ("cert_file", "key_file", "client_ca_file"):
        value = tls.get(name)
        if value and not Path(str(value)).is_file():
            problems.append(f"{where}: tls_server_config.{name}: file {excerpt(value)} does not exist")
    min_version = str(tls.get("min_version") or "TLS12")
    if min_version not in ("TLS12", "TLS13"):
        problems.append(
            f"{where}: tls_server_config.min_version: must be TLS12 or TLS13 (got {excerpt(min_version)})"
        )
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
    security = WebSecurity(cert, key_file, str(tls.get("client_ca_file") or ""), min_version, users)
    if security.tls:
        try:
            security.ssl_context()
        except (OSError, ssl.SSLError) as e:
            raise ConfigError([f"{where}: tls_server_config: cannot load certificate/key ({e})"]) from e
    return security


def bcrypt_cost(hashed: bytes) -> int:
    """The cost factor of a ``$2y$10$...`` hash (0 when it cannot be read)."""
    parts = hashed.split(b"$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0


class BasicAuth:
    """Checks ``user:password`` against bcrypt hashes, caching successful checks.

    bcrypt is deliberately slow (tens of ms); Prometheus sends the same credentials
    every scrape, so a verified (user, password, hash) digest is remembered.
    """

    def __init__(self, users: dict[str, bytes]) -> None:
        self._users = users
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()
        # An unknown user is checked against the costliest configured hash and then
        # refused, so both paths cost the same bcrypt work and timing reveals no user names.
        self._dummy = max(users.values(), key=bcrypt_cost) if users else b""

    def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        secret = password.encode("utf-8", "surrogatepass")
        if len(secret) > 72 or b"\0" in secret or not self._dummy:
            # bcrypt refuses these; a valid hash never matches them, so refuse without bcrypt.
            return False
        digest = hashlib.sha256(
            b"\0".join((user.encode("utf-8", "surrogatepass"), secret, hashed or b""))
        ).digest()
        with self._lock:
            if hashed is not None and digest in self._ok:
                return True
        try:
            ok = bcrypt.checkpw(secret, hashed if hashed is not None else self._dummy)
        except ValueError:  # a malformed hash in the file: refuse, never 500
            return False
        if ok and hashed is not None:
            with self._lock:
                if len(self._ok) > 1000:
                    self._ok.clear()
                self._ok.add(digest)
            return True
        return False
