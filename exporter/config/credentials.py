"""Credentials: resolved from environment variables or ``*_file`` paths, never from YAML.

Secret parts are wrapped in :class:`~exporter.secret.Secret`, so printing a
:class:`Credentials` (or an exception that holds one) never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.errors import ConfigError
from exporter.secret import Secret

if TYPE_CHECKING:
    from exporter.config.settings import AuthConfig


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials. Secret parts are wrapped, so printing this is safe."""

    method: str
    ak: str = ""
    sk: Secret = field(default_factory=lambda: Secret(""))
    security_token: Secret = field(default_factory=lambda: Secret(""))
    username: str = ""
    domain_name: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))


def _read_secret_file(path: str, key: str, problems: list[str]) -> str | None:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        problems.append(f"{key}: cannot read {path!r} ({e.strerror or type(e).__name__})")
        return None
    if not value:
        problems.append(f"{key}: file {path!r} is empty")
        return None
    return value


def _secret(
    env: Mapping[str, str], file_path: str, key: str, env_name: str, problems: list[str]
) -> str | None:
    if file_path:
        return _read_secret_file(file_path, key, problems)
    return env.get(env_name) or None


def resolve_credentials(a: AuthConfig, project_id: str, env: Mapping[str, str]) -> Credentials:
    """Read the AK/SK (or IAM user and password) the auth section points at. Raises ConfigError."""
    problems: list[str] = []
    if a.method == "aksk":
        ak = _secret(env, a.ak_file, "auth.ak_file", a.ak_env, problems)
        sk = _secret(env, a.sk_file, "auth.sk_file", a.sk_env, problems)
        token = _secret(
            env, a.security_token_file, "auth.security_token_file", a.security_token_env, problems
        )
        if ak is None and not a.ak_file:
            problems.append(f"auth: no access key: set {a.ak_env} or auth.ak_file")
        if sk is None and not a.sk_file:
            problems.append(f"auth: no secret key: set {a.sk_env} or auth.sk_file")
        if problems:
            raise ConfigError(problems)
        return Credentials(
            method="aksk", ak=ak or "", sk=Secret(sk or ""), security_token=Secret(token or "")
        )
    username = a.username or env.get("WORKSPACE_EXPORTER_IAM_USERNAME", "")
    domain = a.domain_name or env.get("WORKSPACE_EXPORTER_IAM_DOMAIN", "")
    password = _secret(env, a.password_file, "auth.password_file", a.password_env, problems)
    if not username:
        problems.append(
            "auth.username: is required for auth.method token (or set WORKSPACE_EXPORTER_IAM_USERNAME)"
        )
    if not domain:
        problems.append(
            "auth.domain_name: is required for auth.method token (or set WORKSPACE_EXPORTER_IAM_DOMAIN)"
        )
    if password is None and not a.password_file:
        problems.append(f"auth: no IAM password: set {a.password_env} or auth.password_file")
    if not project_id:
        problems.append("project_id: is required for auth.method token (or set HUAWEICLOUD_SDK_PROJECT_ID)")
    if problems:
        raise ConfigError(problems)
    return Credentials(method="token", username=username, domain_name=domain, password=Secret(password or ""))
