"""Authentication for Huawei Cloud APIs: the AK/SK request signer and the IAM token provider.

Two ways to authenticate, both behind the :class:`AuthProvider` protocol that the
client calls right before every send (and again before every retry, so the date
header is always fresh):

* :class:`AkSkAuth` signs each request with ``SDK-HMAC-SHA256``, the algorithm of
  the official ``huaweicloudsdkcore`` signer, reimplemented here so the SDK stays a
  test-only dependency. The tests prove the ``Authorization`` header matches the
  SDK's byte for byte.
* :class:`TokenAuth` fetches an IAM token with a user name and password, caches
  it and refreshes it well before it expires.

The signer signs a fixed header set that proxies do not rewrite: ``host``,
``x-sdk-date``, and ``content-type``, ``x-project-id`` and ``x-security-token``
when present. The SDK signs every header, including ``User-Agent``; the API
signing guide requires only ``X-Sdk-Date``.

The query string is signed in the form the request actually sends. ``apply``
rewrites the URL's query into the canonical form (sorted, percent-encoded with only
``~`` kept), as the SDK does, so a ``+`` in the URL cannot be read as a space by one
side and as a plus sign by the other.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.credentials import Credentials
from exporter.config.settings import Config
from exporter.errors import AuthError, ConfigError, UpstreamError, parse_error_body
from exporter.secret import Secret, register
from exporter.upstream.signer import (
    SIGNED_HEADERS,
    canonical_query_string,
    header_text,
    host_of,
    sdk_date,
    sign_request,
)
from exporter.upstream.transport import Limits, Transport, host_of_url, tls_verify

log = logging.getLogger(__name__)

IAM_TOKENS_API = "iam_tokens"
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0


# After a failed refresh while the old token still works, wait this long before trying again.
_REFRESH_RETRY_SECONDS = 60.0
# Never reuse a token for less than this, whatever expires_at says (bounds IAM calls on clock skew).
_MIN_TOKEN_REUSE_SECONDS = 60.0
_TOKEN_EXPIRED_CODES = frozenset({"APIGW.0301", "APIG.0301"})
_TOKEN_EXPIRED_MSG = re.compile(r"token expire|expired", re.IGNORECASE)

OnRequest = Callable[[str, int, float], None]


# --------------------------------------------------------------------------- signing
# --------------------------------------------------------------------------- providers


class AuthProvider(Protocol):
    """Adds authentication to outgoing requests."""

    @property
    def refreshable(self) -> bool:
        """True when :meth:`invalidate` followed by a retry can fix a 401 (token auth)."""
        ...

    def apply(self, request: requests.PreparedRequest) -> None:
        """Add auth headers in place; call right before each send, retries included."""

    def invalidate(self) -> None:
        """Drop any cached token so the next :meth:`apply` fetches a new one."""

    def describe(self) -> str:
        """A one-line description for logs; never contains a secret."""
        ...


class AkSkAuth:
    """Signs every request with the access key and secret key (SDK-HMAC-SHA256)."""

    def __init__(
        self,
        ak: str,
        sk: Secret,
        project_id: str = "",
        security_token: Secret | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not ak or not sk:
            raise ConfigError(["auth: AK/SK auth needs both an access key and a secret key"])
        self._ak = ak
        # The AK is not a secret on its own, but it names the account: keep it out of logs too.
        register(ak)
        self._sk = sk
        self._project_id = project_id
        self._security_token = security_token or Secret("")
        self._clock = clock

    @property
    def refreshable(self) -> bool:
        return False

    def apply(self, request: requests.PreparedRequest) -> None:
        if not request.url:
            raise ValueError("request has no URL")
        body = request.body
        if body is not None and not isinstance(body, bytes | str):
            raise TypeError("AK/SK signing needs the body as bytes or str, not a stream")
        parts = urlsplit(request.url)
        query = canonical_query_string(parts.query)
        if query != parts.query:
            request.url = urlunsplit(parts._replace(query=query))
        headers = request.headers
        if "Host" not in headers:
            headers["Host"] = host_of(parts.netloc)
        headers["X-Sdk-Date"] = sdk_date(self._clock.time())
        if self._project_id:
            headers["X-Project-Id"] = self._project_id
        if self._security_token:
            headers["X-Security-Token"] = self._security_token.reveal()
        to_sign = {name: header_text(headers[name]) for name in SIGNED_HEADERS if name in headers}
        headers["Authorization"] = sign_request(
            request.method or "GET", request.url, to_sign, body, self._ak, self._sk
        )

    def invalidate(self) -> None:
        """Nothing is cached: a signature is computed per request."""

    def describe(self) -> str:
        temporary = " temporary" if self._security_token else ""
        return f"aksk{temporary} ak={self._ak[:4]}..."

    def __repr__(self) -> str:
        return f"AkSkAuth({self.describe()!r})"


@dataclass(frozen=True)
class _Token:
    value: Secret
    expires_at: float
    refresh_at: float


def _parse_expiry(content: bytes, now: float) -> float:
    try:
        doc: Any = json.loads(content)
        expires = doc["token"]["expires_at"]
        parsed = datetime.fromisoformat(expires)
    except (ValueError, TypeError, KeyError, RecursionError):
        log.warning("IAM token answer has no readable token.expires_at; assuming a 24h lifetime")
        return now + DEFAULT_TOKEN_LIFETIME
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class TokenAuth:
    """Authenticates with an IAM user token (``X-Auth-Token``), cached and refreshed.

    Thread-safe: concurrent callers that need a token wait for one shared fetch.
    The session must not itself call this provider (no ``session.auth`` wrapping
    it), or the token fetch would recurse.
    """

    def __init__(
        self,
        iam_endpoint: str,
        username: str,
        domain_name: str,
        password: Secret,
        project_id: str,
        session: requests.Session,
        timeout: tuple[float, float],
        verify: bool | str,
        clock: Clock,
        refresh_before: float = 3600.0,
        on_request: OnRequest | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._url = iam_endpoint.rstrip("/") + "/v3/auth/tokens?nocatalog=true"
        self._username = username
        self._domain_name = domain_name
        self._password = password
        self._project_id = project_id
        self._session = session
        self._timeout = timeout
        self._verify = verify
        self._clock = clock
        self._refresh_before = refresh_before
        self._on_request = on_request
        self._transport = transport or Transport(session, Limits(timeout[0], timeout[1]))
        self._lock = threading.Lock()
        self._token: _Token | None = None

    @property
    def refreshable(self) -> bool:
        return True

    def apply(self, request: requests.PreparedRequest) -> None:
        token = self._current_token()
        request.headers["X-Auth-Token"] = token.reveal()
        if self._project_id:
            request.headers["X-Project-Id"] = self._project_id

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def describe(self) -> str:
        return f"token user={self._username} domain={self._domain_name} iam={self._url.split('/v3/')[0]}"

    def __repr__(self) -> str:
        return f"TokenAuth({self.describe()!r})"

    def _current_token(self) -> Secret:
        with self._lock:
            now = self._clock.time()
            old = self._token
            if old is not None and now < old.refresh_at:
                return old.value
            try:
                self._token = self._fetch()
            except AuthError as exc:
                if old is None or now >= old.expires_at:
                    raise
                log.warning(
                    "IAM token refresh failed, using the current token until it expires "
                    "expires_at=%s error=%s",
                    datetime.fromtimestamp(old.expires_at, tz=UTC).isoformat(),
                    exc,
                )
                self._token = _Token(old.value, old.expires_at, now + _REFRESH_RETRY_SECONDS)
                return old.value
            return self._token.value

    def _request_body(self) -> dict[str, Any]:
        user = {
            "name": self._username,
            "password": self._password.reveal(),
            "domain": {"name": self._domain_name},
        }
        return {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"id": self._project_id}},
            }
        }

    def _fetch(self) -> _Token:
        started = time.perf_counter()
        status = 0
        # No redirects (the transport never follows them): a 307/308 would resend the
        # password to wherever it points.
        request = requests.Request(
            "POST",
            self._url,
            json=self._request_body(),
            headers={"Content-Type": "application/json;charset=UTF-8"},  # as the IAM SDK sends
        )
        failure: UpstreamError | None = None
        try:
            prepared = self._session.prepare_request(request)
            response, content = self._transport.exchange(IAM_TOKENS_API, prepared, self._verify)
            status = response.status_code
        except UpstreamError as e:
            failure = e
        finally:
            if self._on_request is not None:
                self._on_request(IAM_TOKENS_API, status, time.perf_counter() - started)
        if failure is not None:
            # Raised outside the except block so that nothing holding the prepared request
            # (whose body has the password) hangs off the error as __context__.
            raise AuthError(
                IAM_TOKENS_API,
                failure.status,
                host=failure.host,
                cause=failure.cause or type(failure).__name__,
            )
        request_id = response.headers.get("X-Request-Id", "")
        token = response.headers.get("X-Subject-Token", "")
        if status not in (200, 201):
            code, msg = parse_error_body(content)
            raise AuthError(
                IAM_TOKENS_API,
                status,
                code,
                msg or f"HTTP {status}",
                request_id,
                host=host_of_url(self._url),
            )
        if not token:
            raise AuthError(
                IAM_TOKENS_API,
                status,
                error_msg="answer has no X-Subject-Token header",
                request_id=request_id,
            )
        now = self._clock.time()
        expires_at = _parse_expiry(content, now)
        lifetime = expires_at - now
        refresh_at = max(expires_at - min(self._refresh_before, lifetime / 2), now + _MIN_TOKEN_REUSE_SECONDS)
        log.info(
            "obtained an IAM token user=%s domain=%s expires_at=%s",
            self._username,
            self._domain_name,
            datetime.fromtimestamp(expires_at, tz=UTC).isoformat(),
        )
        return _Token(Secret(token), expires_at, refresh_at)


def is_token_expired_error(status: int, error_code: str, error_msg: str) -> bool:
    """True when a 401 says the token expired (APIGW.0301 with "token expires"/"expired")."""
    return (
        status == 401
        and error_code.strip().upper() in _TOKEN_EXPIRED_CODES
        and _TOKEN_EXPIRED_MSG.search(error_msg) is not None
    )


def build_auth(
    credentials: Credentials,
    config: Config,
    session: requests.Session,
    clock: Clock,
    on_request: OnRequest | None = None,
    transport: Transport | None = None,
) -> AuthProvider:
    """The provider for ``credentials.method`` (``aksk`` or ``token``)."""
    if credentials.method == "aksk":
        return AkSkAuth(credentials.ak, credentials.sk, config.project_id, credentials.security_token, clock)
    if credentials.method == "token":
        http = config.http
        return TokenAuth(
            iam_endpoint=config.endpoints.iam,
            username=credentials.username,
            domain_name=credentials.domain_name,
            password=credentials.password,
            project_id=config.project_id,
            session=session,
            timeout=(http.connect_timeout, http.read_timeout),
            verify=tls_verify(http),
            clock=clock,
            refresh_before=config.auth.token_refresh_before,
            on_request=on_request,
            transport=transport,
        )
    raise ConfigError([f"auth.method: unknown method {credentials.method!r}; use aksk or token"])
