"""Authentication for Huawei Cloud APIs: the providers, what an auth failure means, and the wiring.

Every provider sits behind :class:`AuthProvider`, which the client calls right before every
send (and again before every retry, so the date header is always fresh):

* :class:`AkSkAuth` signs each request with ``SDK-HMAC-SHA256``, the algorithm of the
  official ``huaweicloudsdkcore`` signer, reimplemented here so the SDK stays a test-only
  dependency (the tests prove the ``Authorization`` header matches the SDK's byte for
  byte). Its keys come from a :class:`~exporter.upstream.keys.KeySource`: fixed, files read
  again when they change, or temporary keys (with ``X-Security-Token``) from ECS metadata,
  CCE pod identity, OIDC → STS or IdP federation, refreshed before they expire.
* :class:`~exporter.upstream.token.TokenAuth` fetches an IAM user token with a password,
  caches it and refreshes it well before it expires.

The signer signs a fixed header set that proxies do not rewrite: ``host``, ``x-sdk-date``,
and ``content-type``, ``x-project-id`` and ``x-security-token`` when present. The SDK signs
every header, including ``User-Agent``; the API signing guide requires only ``X-Sdk-Date``.
The query string is signed in the form the request actually sends: ``apply`` rewrites the
URL's query into the canonical form (sorted, percent-encoded with only ``~`` kept), as the
SDK does, so a ``+`` cannot be read as a space by one side and as a plus sign by the other.

:func:`outcome_of` says what an answer means for the auth breaker
(:mod:`exporter.upstream.breaker`), :func:`is_token_expired_error` which answers are the
documented token expiry and revocation.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.credential_chain import parse_profile
from exporter.config.credentials import Credentials, read_secret_file
from exporter.config.settings import Config
from exporter.errors import (
    AuthError,
    ClientRequestError,
    ConfigError,
    InvalidResponseError,
    UpstreamError,
)
from exporter.secret import Secret
from exporter.upstream.breaker import AKSK_LIMIT, PASSWORD_LIMIT, Outcome
from exporter.upstream.budget import Budget
from exporter.upstream.identity import (
    Fetcher,
    FirstAnswering,
    Http,
    IdpFetcher,
    MetadataFetcher,
    OidcFetcher,
    OnRequest,
    PodIdentityFetcher,
)
from exporter.upstream.keys import CredentialInfo, KeySource, TemporaryKeys, WatchedKeys
from exporter.upstream.signer import (
    SIGNED_HEADERS,
    canonical_query_string,
    header_text,
    host_of,
    sdk_date,
    sign_request,
)
from exporter.upstream.token import IAM_TOKENS_API, TokenAuth
from exporter.upstream.transport import Transport, tls_verify

__all__ = ["IAM_TOKENS_API", "AkSkAuth", "AuthProvider", "CredentialInfo", "TokenAuth", "build_auth"]


# The calls that fetch credentials rather than data: a failure of one is a credential failure.
CREDENTIAL_APIS = frozenset(
    {
        IAM_TOKENS_API,
        "metadata_token",
        "metadata_securitykey",
        "pod_identity",
        "sts_oidc",
        "iam_id_token",
        "iam_securitytokens",
    }
)
_TOKEN_CODES = frozenset({"APIGW.0301", "APIG.0301"})
_TOKEN_UPDATE_CODES = frozenset({"APIGW.0307", "APIG.0307"})
_TOKEN_TEXT = re.compile(r"token expire|expired|decrypt token fail|token must be updated", re.IGNORECASE)
# 403 texts that reject the credentials themselves rather than deny one permission.
_CREDENTIAL_TEXT = re.compile(
    r"signature|access failed to reach the limit|security ?token|credential|x-auth-token|"
    r"incorrect iam authentication",
    re.IGNORECASE,
)


class AuthProvider(Protocol):
    """Adds authentication to outgoing requests."""

    @property
    def refreshable(self) -> bool:
        """True when :meth:`invalidate` followed by a retry can fix a 401 (tokens, temporary keys)."""
        ...

    @property
    def generation(self) -> int:
        """Changes whenever the credential material changes (a new token, new keys)."""
        ...

    def apply(self, request: requests.PreparedRequest) -> None:
        """Add auth headers in place; call right before each send, retries included."""

    def invalidate(self) -> bool:
        """Drop a cached token or keys, or read key files again; True when a retry may help."""
        ...

    def describe(self) -> str:
        """Names the credentials (variables, files, provider) for logs; never contains a secret."""
        ...

    def info(self) -> CredentialInfo: ...


class AkSkAuth:
    """Signs every request with an access key and secret key (SDK-HMAC-SHA256)."""

    def __init__(
        self,
        ak: str = "",
        sk: Secret | None = None,
        project_id: str = "",
        security_token: Secret | None = None,
        clock: Clock = SYSTEM_CLOCK,
        source: KeySource | None = None,
    ) -> None:
        if source is None:
            if not ak or not sk:
                raise ConfigError(["auth: AK/SK auth needs both an access key and a secret key"])
            keys = (ak, sk, security_token or Secret(""))
            label = "temporary AK/SK" if keys[2] else "AK/SK"
            source = WatchedKeys(lambda: keys, (), clock, label, "aksk", keys)
        self._source = source
        self.project_id = project_id  # set after project discovery
        self._clock = clock

    @property
    def refreshable(self) -> bool:
        return isinstance(self._source, TemporaryKeys)

    @property
    def generation(self) -> int:
        return self._source.generation

    def apply(self, request: requests.PreparedRequest) -> None:
        if not request.url:
            raise ValueError("request has no URL")
        body = request.body
        if body is not None and not isinstance(body, bytes | str):
            raise TypeError("AK/SK signing needs the body as bytes or str, not a stream")
        keys = self._source.keys()
        parts = urlsplit(request.url)
        query = canonical_query_string(parts.query)
        if query != parts.query:
            request.url = urlunsplit(parts._replace(query=query))
        headers = request.headers
        if "Host" not in headers:
            headers["Host"] = host_of(parts.netloc)
        headers["X-Sdk-Date"] = sdk_date(self._clock.time())
        if self.project_id:
            headers["X-Project-Id"] = self.project_id
        if keys.security_token:
            headers["X-Security-Token"] = keys.security_token.reveal()
        else:
            headers.pop("X-Security-Token", None)
        to_sign = {name: header_text(headers[name]) for name in SIGNED_HEADERS if name in headers}
        headers["Authorization"] = sign_request(
            request.method or "GET", request.url, to_sign, body, keys.ak, keys.sk
        )

    def invalidate(self) -> bool:
        return self._source.invalidate()

    def describe(self) -> str:
        return self._source.describe()

    def info(self) -> CredentialInfo:
        expires = self._source.expires_at if isinstance(self._source, TemporaryKeys) else None
        return CredentialInfo(self._source.mode, self.describe(), expires)

    def __repr__(self) -> str:
        return f"AkSkAuth({self.describe()!r})"


def is_token_expired_error(status: int, error_code: str, error_msg: str) -> bool:
    """True for the documented expired or revoked token answers: ``APIGW.0301``/``APIG.0301``
    saying "token expires" or "decrypt token fail", and ``APIGW.0307``/``APIG.0307`` ("The
    token must be updated")."""
    code = error_code.strip().upper()
    if code in _TOKEN_UPDATE_CODES:
        return status in (401, 403) or status == 0
    return status == 401 and code in _TOKEN_CODES and _TOKEN_TEXT.search(error_msg) is not None


def outcome_of(error: UpstreamError | None) -> Outcome:
    """What a call's result says about the credentials, for the auth breaker.

    ``ok``: the gateway accepted them (any 2xx, any 4xx but 401, a permission 403, a bad
    body). ``auth``: they were refused (a 401, a 403 about the signature, key or token, any
    failure to fetch credentials). ``neutral``: nothing can be told (429, 5xx, no answer).
    """
    if error is None or isinstance(error, InvalidResponseError):
        return "ok"
    if error.api in CREDENTIAL_APIS:
        return "auth"
    if isinstance(error, AuthError):
        if error.status == 401 or error.status == 0:
            return "auth"
        text = f"{error.error_code} {error.error_msg}"
        if error.error_code.strip().upper() in _TOKEN_UPDATE_CODES or _CREDENTIAL_TEXT.search(text):
            return "auth"
        return "ok"  # a policy denial: the signature was verified
    if isinstance(error, ClientRequestError):
        return "ok"
    return "neutral"


def credential_apis(credentials: Credentials) -> list[str]:
    """The credential calls ``credentials`` make (pre-declared in the self-metrics)."""
    c = credentials
    if c.method == "token":
        return [IAM_TOKENS_API]
    if c.method == "oidc":
        return ["sts_oidc"]
    if c.idp_id:
        return ["iam_id_token", "iam_securitytokens"]
    if c.method == "pod_identity":
        return ["pod_identity"]
    if c.method == "metadata":
        return ["metadata_token", "metadata_securitykey", *(["pod_identity"] if c.pod_fallback else [])]
    return []


def breaker_limit(credentials: Credentials) -> tuple[int, float]:
    """Failed calls allowed per window: IAM's login lockout for passwords, the gateway's for keys."""
    return PASSWORD_LIMIT if credentials.method == "token" else AKSK_LIMIT


def _file_loader(c: Credentials) -> Callable[[], tuple[str, Secret, Secret]]:
    def load() -> tuple[str, Secret, Secret]:
        problems: list[str] = []
        ak = read_secret_file(c.ak_file, "auth.ak_file", True, problems) if c.ak_file else c.ak
        sk = read_secret_file(c.sk_file, "auth.sk_file", True, problems) if c.sk_file else c.sk.reveal()
        token = c.security_token.reveal()
        if c.security_token_file:
            token = read_secret_file(c.security_token_file, "auth.security_token_file", True, problems) or ""
        if problems or not ak or not sk:
            raise ConfigError(problems or ["auth: the key files hold no access key or secret key"])
        return ak, Secret(sk), Secret(token)

    return load


def _profile_loader(path: str) -> Callable[[], tuple[str, Secret, Secret]]:
    def load() -> tuple[str, Secret, Secret]:
        problems: list[str] = []
        profile = parse_profile(path, problems)
        if profile is None or not profile.ak:
            raise ConfigError(problems or [f"credentials file {path[:200]}: holds no ak/sk any more"])
        return profile.ak, profile.sk, profile.security_token

    return load


def build_auth(
    credentials: Credentials,
    config: Config,
    session: requests.Session,
    clock: Clock,
    on_request: OnRequest | None = None,
    transport: Transport | None = None,
    *,
    budget: Budget | None = None,
    stop: threading.Event | None = None,
    iam_base: Callable[[], str] | None = None,
    sts_base: Callable[[], str] | None = None,
    unreachable: Callable[[str, AuthError], bool] | None = None,
    iam_endpoints: int = 1,
) -> AkSkAuth | TokenAuth:
    """The provider for ``credentials.method``."""
    c = credentials
    http_cfg = config.http
    if transport is None:
        from exporter.upstream.transport import Limits

        transport = Transport(session, Limits.of(http_cfg))
    http = Http(session, transport, tls_verify(http_cfg), clock, budget, stop, on_request)
    iam = iam_base or (lambda: config.endpoints.iam)
    sts = sts_base or (lambda: config.endpoints.sts or "https://sts.cn-north-4.myhuaweicloud.com")
    project = config.project_id
    if c.method == "token":
        return TokenAuth(
            http,
            iam,
            c.username,
            c.domain_name,
            c.password,
            project,
            refresh_before=config.auth.token_refresh_before,
            unreachable=unreachable,
            attempts=iam_endpoints,
            origin=c.origin,
        )
    source: KeySource
    if c.method == "aksk":
        paths = (c.ak_file, c.sk_file, c.security_token_file)
        initial = (c.ak, c.sk, c.security_token)
        source = WatchedKeys(_file_loader(c), paths, clock, c.origin or "AK/SK", "aksk", initial)
    elif c.method == "profile" and not c.idp_id:
        initial = (c.ak, c.sk, c.security_token)
        source = WatchedKeys(
            _profile_loader(c.profile_path), (c.profile_path,), clock, c.origin, "profile", initial
        )
    else:
        source = TemporaryKeys(_fetcher(c, http, iam, sts), clock)
    return AkSkAuth(project_id=project, clock=clock, source=source)


def _fetcher(c: Credentials, http: Http, iam: Callable[[], str], sts: Callable[[], str]) -> Fetcher:
    if c.method == "oidc" and c.oidc is not None:
        return OidcFetcher(http, sts, c.oidc)
    if c.method in ("idp", "profile") and c.idp_id:
        return IdpFetcher(http, iam, c.idp_id, c.id_token_file)
    if c.method == "pod_identity":
        return PodIdentityFetcher(http, c.pod_uri, c.pod_token_file)
    if c.method == "metadata":
        metadata = MetadataFetcher(http, c.metadata_url)
        if c.pod_fallback:
            return FirstAnswering([metadata, PodIdentityFetcher(http, c.pod_uri, c.pod_token_file)])
        return metadata
    raise ConfigError([f"auth.method: unknown method {c.method!r}"])
