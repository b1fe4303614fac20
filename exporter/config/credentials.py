"""Credentials: resolved from environment variables or ``*_file`` paths, never from YAML.

Secret parts are wrapped in :class:`~exporter.secret.Secret`, so printing a
:class:`Credentials` (or an exception that holds one) never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exporter.config.yamlfile import excerpt
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


# A key, secret or token file holds one short line; a larger file is a wrong mount, not a secret.
MAX_SECRET_FILE_BYTES = 64 * 1024


def _problem_in(value: str, header: bool) -> str:
    """Why ``value`` cannot be used, or ""; never quotes the value itself.

    ``header``: the value travels in an HTTP header (AK, security token) or is signed
    into one (SK), so only printable ASCII is allowed; a password travels in a JSON
    body, so it may hold any character except control characters.
    """
    for i, ch in enumerate(value):
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            return f"holds a control character at position {i + 1}"
        if header and code > 0x7E:
            return f"holds a non-ASCII character at position {i + 1}, which an HTTP header cannot carry"
        if 0xD800 <= code < 0xE000:
            return f"holds an unpaired surrogate at position {i + 1}"
    return ""


def _checked(raw: str, where: str, header: bool, problems: list[str]) -> str | None:
    value = raw.strip()
    if not value:
        problems.append(f"{where} is empty (or only whitespace)")
        return None
    problem = _problem_in(value, header)
    if problem:
        problems.append(f"{where} {problem}; the value is not shown")
        return None
    return value


def _read_secret_file(path: str, key: str, header: bool, problems: list[str]) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SECRET_FILE_BYTES + 1)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        problems.append(f"{key}: cannot read {excerpt(path)} ({reason})")
        return None
    if len(data) > MAX_SECRET_FILE_BYTES:
        problems.append(f"{key}: file {excerpt(path)} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{key}: file {excerpt(path)} is not UTF-8 text; write the value as plain text")
        return None
    return _checked(text, f"{key}: file {excerpt(path)}", header, problems)


def _secret(
    env: Mapping[str, str],
    file_path: str,
    key: str,
    env_name: str,
    problems: list[str],
    header: bool = True,
) -> str | None:
    if file_path:
        return _read_secret_file(file_path, key, header, problems)
    raw = env.get(env_name)
    if not raw:
        return None
    return _checked(raw, f"auth: environment variable {env_name}", header, problems)


def resolve_credentials(a: AuthConfig, project_id: str, env: Mapping[str, str]) -> Credentials:
    """Read the AK/SK (or IAM user and password) the auth section points at. Raises ConfigError."""
    problems: list[str] = []
    if a.method == "aksk":
        ak = _secret(env, a.ak_file, "auth.ak_file", a.ak_env, problems)
        sk = _secret(env, a.sk_file, "auth.sk_file", a.sk_env, problems)
        token = _secret(
            env, a.security_token_file, "auth.security_token_file", a.security_token_env, problems
        )
        if ak is None and not a.ak_file and not env.get(a.ak_env):
            problems.append(f"auth: no access key: set {a.ak_env} or auth.ak_file")
        if sk is None and not a.sk_file and not env.get(a.sk_env):
            problems.append(f"auth: no secret key: set {a.sk_env} or auth.sk_file")
        if problems:
            raise ConfigError(problems)
        return Credentials(
            method="aksk", ak=ak or "", sk=Secret(sk or ""), security_token=Secret(token or "")
        )
    username_raw = a.username or env.get("WORKSPACE_EXPORTER_IAM_USERNAME", "")
    domain_raw = a.domain_name or env.get("WORKSPACE_EXPORTER_IAM_DOMAIN", "")
    username = _checked(username_raw, "auth.username", False, problems) or "" if username_raw else ""
    domain = _checked(domain_raw, "auth.domain_name", False, problems) or "" if domain_raw else ""
    password = _secret(env, a.password_file, "auth.password_file", a.password_env, problems, header=False)
    if not username_raw:
        problems.append(
            "auth.username: is required for auth.method token (or set WORKSPACE_EXPORTER_IAM_USERNAME)"
        )
    if not domain_raw:
        problems.append(
            "auth.domain_name: is required for auth.method token (or set WORKSPACE_EXPORTER_IAM_DOMAIN)"
        )
    if password is None and not a.password_file and not env.get(a.password_env):
        problems.append(f"auth: no IAM password: set {a.password_env} or auth.password_file")
    if not project_id:
        problems.append("project_id: is required for auth.method token (or set HUAWEICLOUD_SDK_PROJECT_ID)")
    if problems:
        raise ConfigError(problems)
    return Credentials(method="token", username=username, domain_name=domain, password=Secret(password or ""))
