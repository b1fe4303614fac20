"""Keyless credentials: the SDK's default credential chain and its variables, read at start-up.

The official SDK (``huaweicloudsdkcore/auth/provider.py``) finds credentials by trying, in
order: OIDC → STS, the environment, the profile file, ECS metadata, CCE pod identity. This
module decides, from the environment and files alone (no network), which of those applies:

1. **OIDC**: ``HUAWEICLOUD_OIDC_PROVIDER_URN``, ``HUAWEICLOUD_OIDC_AGENCY_URN`` and an ID token
   (``HUAWEICLOUD_OIDC_ID_TOKEN``, or the file ``HUAWEICLOUD_OIDC_TOKEN_FILE`` names, read
   again for every exchange because Kubernetes rotates it), plus the optional
   ``_SESSION_NAME``, ``_DURATION_SECONDS``, ``_POLICY`` and ``_POLICY_IDS``.
2. **Environment**: ``HUAWEICLOUD_SDK_IDP_ID`` + ``HUAWEICLOUD_SDK_ID_TOKEN_FILE`` (IdP
   federation), else the AK/SK variables ``auth.ak_env``/``auth.sk_env`` name (by default
   the SDK's ``HUAWEICLOUD_SDK_AK``/``_SK``, with ``HUAWEICLOUD_SDK_SECURITY_TOKEN``).
3. **Profile file**: ``HUAWEICLOUD_SDK_CREDENTIALS_FILE``, else ``~/.huaweicloud/credentials``,
   section ``[basic]``: ``ak``/``sk``/``security_token`` or ``idp_id``/``id_token_file``,
   and ``project_id``.
4. **ECS metadata** (agency credentials), asked at run time; when it does not answer and
   5. **CCE pod identity** (``HC_CONTAINER_CREDENTIALS_FULL_URI`` +
   ``HC_CONTAINER_AUTHORIZATION_TOKEN_FILE``) is configured, that is asked instead.

A step whose variables are only partly set is passed over, as the SDK does, and the reason
is kept (:attr:`Credentials.skipped`) for the start-up log and ``check-config``. Values
never appear in a reason or a problem: only variable names, file paths and positions.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.config.yamlfile import excerpt_path
from exporter.secret import Secret

OIDC_PROVIDER_URN = "HUAWEICLOUD_OIDC_PROVIDER_URN"
OIDC_AGENCY_URN = "HUAWEICLOUD_OIDC_AGENCY_URN"
OIDC_ID_TOKEN = "HUAWEICLOUD_OIDC_ID_TOKEN"  # noqa: S105 - a variable name
OIDC_TOKEN_FILE = "HUAWEICLOUD_OIDC_TOKEN_FILE"  # noqa: S105 - a variable name
OIDC_SESSION_NAME = "HUAWEICLOUD_OIDC_SESSION_NAME"
OIDC_DURATION = "HUAWEICLOUD_OIDC_DURATION_SECONDS"
OIDC_POLICY = "HUAWEICLOUD_OIDC_POLICY"
OIDC_POLICY_IDS = "HUAWEICLOUD_OIDC_POLICY_IDS"
IDP_ID = "HUAWEICLOUD_SDK_IDP_ID"
ID_TOKEN_FILE = "HUAWEICLOUD_SDK_ID_TOKEN_FILE"  # noqa: S105 - a variable name
CREDENTIALS_FILE = "HUAWEICLOUD_SDK_CREDENTIALS_FILE"
POD_URI = "HC_CONTAINER_CREDENTIALS_FULL_URI"
POD_TOKEN_FILE = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE"  # noqa: S105 - a variable name

DEFAULT_SESSION_NAME = "oidc-sts-session"  # the SDK's
DEFAULT_DURATION = 3600  # the SDK's
# The STS range for an agency session; the SDK passes any value on and lets STS refuse it.
MIN_DURATION, MAX_DURATION = 900, 43200
PROFILE_SECTION = "basic"
# The SDK reads files of any size; a profile or token file is a few lines.
MAX_FILE_BYTES = 64 * 1024

METHODS = ("chain", "aksk", "token", "oidc", "profile", "metadata", "pod_identity", "idp")
# Methods whose credentials are temporary (an expiry, refreshed before it).
TEMPORARY = frozenset({"oidc", "metadata", "pod_identity", "idp"})


@dataclass(frozen=True)
class OidcSpec:
    """What the OIDC → STS exchange sends; the ID token is read per exchange from the file."""

    provider_urn: str
    agency_urn: str
    id_token: Secret = field(default_factory=lambda: Secret(""))
    id_token_file: str = ""
    session_name: str = DEFAULT_SESSION_NAME
    duration_seconds: int = DEFAULT_DURATION
    policy: str = ""
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """The ``[basic]`` section of an SDK credentials file (secrets wrapped)."""

    ak: str = ""
    sk: Secret = field(default_factory=lambda: Secret(""))
    security_token: Secret = field(default_factory=lambda: Secret(""))
    project_id: str = ""
    idp_id: str = ""
    id_token_file: str = ""


def home_file(env: Mapping[str, str], *parts: str) -> str:
    home = env.get("HOME", "")
    return str(Path(home).joinpath(".huaweicloud", *parts)) if home else ""


def profile_path(env: Mapping[str, str]) -> tuple[str, bool]:
    """The credentials file to read and whether a variable named it (then it must exist)."""
    named = env.get(CREDENTIALS_FILE, "")
    return (named, True) if named else (home_file(env, "credentials"), False)


def read_small_text(path: str) -> tuple[str, str]:
    """``(text, "")``, or ``("", why)``: the file is unreadable, too large or not UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        return "", e.strerror or type(e).__name__
    if len(data) > MAX_FILE_BYTES:
        return "", f"larger than {MAX_FILE_BYTES // 1024} KiB"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return "", "not UTF-8 text"


def parse_profile(path: str, problems: list[str]) -> Profile | None:
    """The ``[basic]`` section of the credentials file at ``path``; None (with a problem) when
    it cannot be used. Secrets are checked to be single-line printable ASCII."""
    where = f"credentials file {excerpt_path(path)}"
    text, why = read_small_text(path)
    if why:
        problems.append(f"{where}: cannot be read ({why})")
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source="credentials")
    except configparser.Error as e:
        problems.append(f"{where}: not an INI file ({type(e).__name__} at line {getattr(e, 'lineno', '?')})")
        return None
    if not parser.has_section(PROFILE_SECTION):
        problems.append(f"{where}: has no [{PROFILE_SECTION}] section")
        return None
    section = parser[PROFILE_SECTION]
    values: dict[str, str] = {}
    for key in ("ak", "sk", "security_token", "project_id", "idp_id", "id_token_file"):
        raw = section.get(key, "").strip()
        if raw and not _printable_ascii(raw):
            problems.append(
                f"{where}: {key} holds a character an HTTP header cannot carry; the value is not shown"
            )
            return None
        values[key] = raw
    if values["idp_id"] and values["id_token_file"]:
        return Profile(
            project_id=values["project_id"], idp_id=values["idp_id"], id_token_file=values["id_token_file"]
        )
    if values["ak"] and values["sk"]:
        return Profile(
            ak=values["ak"],
            sk=Secret(values["sk"]),
            security_token=Secret(values["security_token"]),
            project_id=values["project_id"],
        )
    problems.append(f"{where}: [{PROFILE_SECTION}] needs ak and sk, or idp_id and id_token_file")
    return None


def _printable_ascii(value: str) -> bool:
    return all(0x20 <= ord(ch) <= 0x7E for ch in value)


def oidc_from_env(env: Mapping[str, str], problems: list[str]) -> tuple[OidcSpec | None, str]:
    """The OIDC settings, or ``(None, why not)`` when a required variable is missing.

    Values that are set but unusable (a duration that is not a number) are problems: the
    operator meant OIDC and made a mistake.
    """
    missing = [n for n in (OIDC_PROVIDER_URN, OIDC_AGENCY_URN) if not env.get(n, "").strip()]
    token = env.get(OIDC_ID_TOKEN, "").strip()
    token_file = env.get(OIDC_TOKEN_FILE, "").strip()
    if not token and not token_file:
        missing.append(f"{OIDC_ID_TOKEN} or {OIDC_TOKEN_FILE}")
    if missing:
        return None, "not set: " + ", ".join(missing)
    raw_duration = env.get(OIDC_DURATION, "").strip()
    duration = DEFAULT_DURATION
    if raw_duration:
        if not raw_duration.isascii() or not raw_duration.isdigit():
            problems.append(f"{OIDC_DURATION}: must be a whole number of seconds")
        else:
            duration = int(raw_duration)
            if not MIN_DURATION <= duration <= MAX_DURATION:
                problems.append(
                    f"{OIDC_DURATION}: must be {MIN_DURATION}–{MAX_DURATION} seconds (got {duration})"
                )
    if token and not _printable_ascii(token):
        problems.append(
            f"{OIDC_ID_TOKEN}: holds a character a JSON token cannot have; the value is not shown"
        )
    ids = tuple(p.strip() for p in env.get(OIDC_POLICY_IDS, "").split(",") if p.strip())
    spec = OidcSpec(
        provider_urn=env[OIDC_PROVIDER_URN].strip(),
        agency_urn=env[OIDC_AGENCY_URN].strip(),
        id_token=Secret(token),
        id_token_file="" if token else token_file,
        session_name=env.get(OIDC_SESSION_NAME, "").strip() or DEFAULT_SESSION_NAME,
        duration_seconds=duration,
        policy=env.get(OIDC_POLICY, "").strip(),
        policy_ids=ids,
    )
    return spec, ""


def pod_identity_from_env(env: Mapping[str, str]) -> tuple[str, str, str]:
    """``(uri, token_file, "")`` when both pod identity variables are set, else ``("", "", why)``."""
    uri, token_file = env.get(POD_URI, "").strip(), env.get(POD_TOKEN_FILE, "").strip()
    if uri and token_file:
        return uri, token_file, ""
    missing = [n for n, v in ((POD_URI, uri), (POD_TOKEN_FILE, token_file)) if not v]
    return "", "", "not set: " + ", ".join(missing)


def idp_from_env(env: Mapping[str, str]) -> tuple[str, str]:
    """``(idp_id, id_token_file)`` when both IdP variables are set, else ``("", "")``."""
    idp, token_file = env.get(IDP_ID, "").strip(), env.get(ID_TOKEN_FILE, "").strip()
    return (idp, token_file) if idp and token_file else ("", "")


def file_exists(path: str) -> bool:
    return bool(path) and Path(path).is_file()
