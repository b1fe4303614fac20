"""Credentials: resolved from environment variables, ``*_file`` paths or the SDK's chain, never
from YAML.

``auth.method`` picks how (:data:`~exporter.config.credential_chain.METHODS`): ``chain`` (the
default) walks the SDK's credential chain (:mod:`exporter.config.credential_chain`); any other
value pins one method. A chain whose config names a key file (``auth.ak_file``, ``sk_file``)
or its own variable names (``auth.ak_env``, ``sk_env``) is pinned to ``aksk``: that is how
configs written before the chain worked, and they keep working.

Nothing here touches the network: ECS metadata and pod identity are asked at run time
(:mod:`exporter.upstream.identity`). Secret parts are wrapped in
:class:`~exporter.secret.Secret`, so printing a :class:`Credentials` (or an exception that
holds one) never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.config import credential_chain as chain
from exporter.config.credential_chain import OidcSpec
from exporter.config.sections.access import AuthConfig
from exporter.config.yamlfile import excerpt, excerpt_path
from exporter.errors import ConfigError
from exporter.secret import Secret

DEFAULT_AK_ENV = "HUAWEICLOUD_SDK_AK"
DEFAULT_SK_ENV = "HUAWEICLOUD_SDK_SK"


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials. Secret parts are wrapped, so printing this is safe.

    ``method`` is the one in use (never ``chain``); ``origin`` names where the credentials
    come from (variables, files, a provider), never a value; ``chain`` says the default
    chain found them, and ``skipped`` the chain steps passed over and why.
    """

    method: str
    ak: str = ""
    sk: Secret = field(default_factory=lambda: Secret(""))
    security_token: Secret = field(default_factory=lambda: Secret(""))
    username: str = ""
    domain_name: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    origin: str = ""
    chain: bool = False
    skipped: tuple[str, ...] = ()
    # aksk: the files to read again when they change (a Secret rotated in place).
    ak_file: str = ""
    sk_file: str = ""
    security_token_file: str = ""
    # profile: the file to read again when it changes, and the project it names.
    profile_path: str = ""
    project_id: str = ""
    oidc: OidcSpec | None = None
    idp_id: str = ""
    id_token_file: str = ""
    pod_uri: str = ""
    pod_token_file: str = ""
    metadata_url: str = ""
    # chain reached ECS metadata and the pod identity variables are set too: asked when
    # metadata does not answer.
    pod_fallback: bool = False

    @property
    def temporary(self) -> bool:
        """True for credentials that expire and are fetched again (not a password token)."""
        return self.method in chain.TEMPORARY or (self.method == "profile" and bool(self.idp_id))


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


def read_secret_file(path: str, key: str, header: bool, problems: list[str]) -> str | None:
    """The stripped text of a secret file, or None with a problem naming ``key`` (never the value)."""
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
        return read_secret_file(file_path, key, header, problems)
    raw = env.get(env_name)
    if not raw:
        return None
    return _checked(raw, f"auth: environment variable {env_name}", header, problems)


def resolve_credentials(a: AuthConfig, project_id: str, env: Mapping[str, str]) -> Credentials:
    """The credentials ``auth`` asks for, read from ``env`` and files. Raises ConfigError."""
    method = a.method
    if method == "chain" and (
        a.ak_file or a.sk_file or a.ak_env != DEFAULT_AK_ENV or a.sk_env != DEFAULT_SK_ENV
    ):
        method = "aksk"
    if method == "chain":
        return _walk_chain(a, env)
    if method == "aksk":
        return _aksk(a, env)
    if method == "token":
        return _token(a, project_id, env)
    problems: list[str] = []
    found = _pinned(method, a, env, problems)
    if problems or found is None:
        raise ConfigError(problems or [f"auth.method: {method} found no credentials"])
    return found


def _aksk(a: AuthConfig, env: Mapping[str, str], chained: tuple[str, ...] | None = None) -> Credentials:
    problems: list[str] = []
    ak = _secret(env, a.ak_file, "auth.ak_file", a.ak_env, problems)
    sk = _secret(env, a.sk_file, "auth.sk_file", a.sk_env, problems)
    token = _secret(env, a.security_token_file, "auth.security_token_file", a.security_token_env, problems)
    if ak is None and not a.ak_file and not env.get(a.ak_env):
        problems.append(f"auth: no access key: set {a.ak_env} or auth.ak_file")
    if sk is None and not a.sk_file and not env.get(a.sk_env):
        problems.append(f"auth: no secret key: set {a.sk_env} or auth.sk_file")
    if problems:
        raise ConfigError(problems)
    parts = [f"auth.ak_file {excerpt_path(a.ak_file)}" if a.ak_file else a.ak_env]
    parts.append(f"auth.sk_file {excerpt_path(a.sk_file)}" if a.sk_file else a.sk_env)
    if token:
        parts.append(
            f"auth.security_token_file {excerpt_path(a.security_token_file)}"
            if a.security_token_file
            else a.security_token_env
        )
    return Credentials(
        method="aksk",
        ak=ak or "",
        sk=Secret(sk or ""),
        security_token=Secret(token or ""),
        origin=", ".join(parts),
        chain=chained is not None,
        skipped=chained or (),
        ak_file=a.ak_file,
        sk_file=a.sk_file,
        security_token_file=a.security_token_file,
    )


def _token(a: AuthConfig, project_id: str, env: Mapping[str, str]) -> Credentials:
    problems: list[str] = []
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
    where = f"auth.password_file {excerpt_path(a.password_file)}" if a.password_file else a.password_env
    return Credentials(
        method="token",
        username=username,
        domain_name=domain,
        password=Secret(password or ""),
        origin=f"IAM user {username} of {domain}, password from {where}",
    )


def _walk_chain(a: AuthConfig, env: Mapping[str, str]) -> Credentials:
    """The SDK's default chain (see :mod:`exporter.config.credential_chain`)."""
    problems: list[str] = []
    skipped: list[str] = []
    spec, why = chain.oidc_from_env(env, problems)
    if problems:
        raise ConfigError(problems)
    if spec is not None:
        return _oidc(spec, ())
    skipped.append(f"OIDC: {why}")
    idp, token_file = chain.idp_from_env(env)
    if idp:
        return _idp(idp, token_file, tuple(skipped))
    ak_set, sk_set = bool(env.get(a.ak_env)), bool(env.get(a.sk_env))
    if ak_set or sk_set:
        if ak_set != sk_set:
            have, lack = (a.ak_env, a.sk_env) if ak_set else (a.sk_env, a.ak_env)
            raise ConfigError([f"auth: {have} is set but {lack} is not; set both (or neither)"])
        return _aksk(a, env, tuple(skipped))
    skipped.append(f"environment: not set: {a.ak_env}, {a.sk_env}")
    path, named = chain.profile_path(env)
    if path and (named or chain.file_exists(path)):
        found = _profile(path, problems, tuple(skipped))
        if found is None:
            raise ConfigError(problems)
        return found
    skipped.append(f"profile: no file {excerpt_path(path)}" if path else "profile: HOME is not set")
    uri, pod_token, _ = chain.pod_identity_from_env(env)
    return Credentials(
        method="metadata",
        origin=f"ECS metadata {a.metadata_url}" + (f", then CCE pod identity {uri}" if uri else ""),
        chain=True,
        skipped=tuple(skipped),
        metadata_url=a.metadata_url,
        pod_uri=uri,
        pod_token_file=pod_token,
        pod_fallback=bool(uri),
    )


def _pinned(method: str, a: AuthConfig, env: Mapping[str, str], problems: list[str]) -> Credentials | None:
    if method == "oidc":
        spec, why = chain.oidc_from_env(env, problems)
        if spec is None:
            problems.append(f"auth.method oidc: {why}")
            return None
        return _oidc(spec, None)
    if method == "idp":
        idp, token_file = chain.idp_from_env(env)
        if not idp:
            problems.append(f"auth.method idp: set both {chain.IDP_ID} and {chain.ID_TOKEN_FILE}")
            return None
        return _idp(idp, token_file, None)
    if method == "profile":
        path, _ = chain.profile_path(env)
        if not path:
            problems.append(f"auth.method profile: set {chain.CREDENTIALS_FILE} (HOME is not set either)")
            return None
        return _profile(path, problems, None)
    if method == "pod_identity":
        uri, token_file, why = chain.pod_identity_from_env(env)
        if not uri:
            problems.append(f"auth.method pod_identity: {why}")
            return None
        return Credentials(
            method="pod_identity", origin=f"CCE pod identity {uri}", pod_uri=uri, pod_token_file=token_file
        )
    if method == "metadata":
        return Credentials(
            method="metadata", origin=f"ECS metadata {a.metadata_url}", metadata_url=a.metadata_url
        )
    problems.append(f"auth.method: unknown method {excerpt(method)}; use one of {', '.join(chain.METHODS)}")
    return None


def _oidc(spec: OidcSpec, chained: tuple[str, ...] | None) -> Credentials:
    token_from = (
        chain.OIDC_ID_TOKEN
        if spec.id_token
        else f"{chain.OIDC_TOKEN_FILE} {excerpt_path(spec.id_token_file)}"
    )
    return Credentials(
        method="oidc",
        origin=f"OIDC agency {spec.agency_urn}, ID token from {token_from}",
        chain=chained is not None,
        skipped=chained or (),
        oidc=spec,
    )


def _idp(idp: str, token_file: str, chained: tuple[str, ...] | None) -> Credentials:
    return Credentials(
        method="idp",
        origin=f"IdP {idp} ({chain.IDP_ID}), ID token from {excerpt_path(token_file)}",
        chain=chained is not None,
        skipped=chained or (),
        idp_id=idp,
        id_token_file=token_file,
    )


def _profile(path: str, problems: list[str], chained: tuple[str, ...] | None) -> Credentials | None:
    profile = chain.parse_profile(path, problems)
    if profile is None:
        return None
    where = f"credentials file {excerpt_path(path)} [{chain.PROFILE_SECTION}]"
    return Credentials(
        method="profile",
        ak=profile.ak,
        sk=profile.sk,
        security_token=profile.security_token,
        origin=where + (f", IdP {profile.idp_id}" if profile.idp_id else ""),
        chain=chained is not None,
        skipped=chained or (),
        profile_path=path,
        project_id=profile.project_id,
        idp_id=profile.idp_id,
        id_token_file=profile.id_token_file,
    )
