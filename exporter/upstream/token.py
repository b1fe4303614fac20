"""IAM user token auth: one ``POST /v3/auth/tokens`` shared by every caller, refreshed before expiry.

One fetch at a time: callers that need a token while one is being fetched wait for that
fetch and share its result, and a fetch that failed with no usable token left is
remembered for :data:`FAILURE_HOLD` seconds, so the callers that waited do not each repeat
it (the auth breaker then stops new calls). Every fetch takes a token from the
``iam_tokens`` request budget. A refresh that fails while the current token still works
keeps it and tries again after 1 minute, then 2, 4 … (capped at 30), so a changed password
cannot make more than a few failed logins before the old token runs out.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from exporter.clock import Clock
from exporter.errors import AuthError
from exporter.secret import Secret
from exporter.upstream.identity import Http, refused
from exporter.upstream.keys import CredentialInfo
from exporter.upstream.transport import host_of_url

log = logging.getLogger(__name__)

IAM_TOKENS_API = "iam_tokens"
TOKENS_PATH = "/v3/auth/tokens?nocatalog=true"
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0
# Never reuse a token for less than this, whatever expires_at says (bounds IAM calls on clock skew).
MIN_TOKEN_REUSE_SECONDS = 60.0
FAILURE_HOLD = 30.0
RETRY_FIRST, RETRY_MAX = 60.0, 1800.0


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

    ``iam_base`` gives the IAM endpoint to use now (it may change when one cannot be
    reached: see :class:`~exporter.upstream.hosts.HostSelector`); ``unreachable(base,
    error)`` moves it on and says whether to try again at once. The session must not itself
    call this provider (no ``session.auth`` wrapping it), or the token fetch would recurse.
    """

    mode = "token"

    def __init__(
        self,
        http: Http,
        iam_base: Callable[[], str],
        username: str,
        domain_name: str,
        password: Secret,
        project_id: str,
        refresh_before: float = 3600.0,
        unreachable: Callable[[str, AuthError], bool] | None = None,
        attempts: int = 1,
        origin: str = "",
    ) -> None:
        self._http = http
        self._iam_base = iam_base
        self._username = username
        self._domain_name = domain_name
        self._password = password
        self._project_id = project_id
        self._refresh_before = refresh_before
        self._unreachable = unreachable or (lambda base, error: False)
        self._attempts = max(1, attempts)
        self._origin = origin
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._generation = 0
        self._retry_step = RETRY_FIRST
        self._failure: AuthError | None = None
        self._failed_until = 0.0

    @property
    def _clock(self) -> Clock:
        return self._http.clock

    @property
    def refreshable(self) -> bool:
        return True

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def expires_at(self) -> float | None:
        token = self._token
        return token.expires_at if token is not None else None

    def apply(self, request: requests.PreparedRequest) -> None:
        token = self._current_token()
        request.headers["X-Auth-Token"] = token.reveal()
        if self._project_id:
            request.headers["X-Project-Id"] = self._project_id

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
            self._failed_until = 0.0
        return True

    def describe(self) -> str:
        return self._origin or f"IAM user {self._username} of {self._domain_name}"

    def info(self) -> CredentialInfo:
        return CredentialInfo("token", self.describe(), self.expires_at)

    def __repr__(self) -> str:
        return f"TokenAuth({self.describe()!r})"

    def _current_token(self) -> Secret:
        with self._lock:
            now = self._clock.time()
            old = self._token
            if old is not None and now < old.refresh_at:
                return old.value
            if old is None and self._failure is not None and now < self._failed_until:
                raise _copy(self._failure)
            try:
                self._token = self._fetch()
            except AuthError as exc:
                if old is None or now >= old.expires_at:
                    self._token = None
                    self._failure, self._failed_until = exc, now + FAILURE_HOLD
                    raise
                log.warning(
                    "IAM token refresh failed, using the current token until it expires "
                    "expires_at=%s retry_seconds=%.0f error=%s",
                    datetime.fromtimestamp(old.expires_at, tz=UTC).isoformat(),
                    self._retry_step,
                    exc,
                )
                retry_at = min(now + self._retry_step, old.expires_at)
                self._retry_step = min(self._retry_step * 2, RETRY_MAX)
                self._token = _Token(old.value, old.expires_at, retry_at)
                return old.value
            self._failure = None
            self._retry_step = RETRY_FIRST
            self._generation += 1
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
        # The transport never follows redirects: a 307/308 would resend the password to
        # wherever it points. The content type is the one the IAM SDK sends.
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        for attempt in range(self._attempts):
            base = self._iam_base()
            url = base.rstrip("/") + TOKENS_PATH
            try:
                status, resp_headers, content = self._http.send(
                    IAM_TOKENS_API, "POST", url, headers, self._request_body()
                )
            except AuthError as e:
                if attempt + 1 < self._attempts and self._unreachable(base, e):
                    continue
                raise
            break
        if status not in (200, 201):
            raise refused(IAM_TOKENS_API, url, status, content, resp_headers)
        token = resp_headers.get("X-Subject-Token", "")
        if not token:
            raise AuthError(
                IAM_TOKENS_API,
                status,
                error_msg="answer has no X-Subject-Token header",
                request_id=resp_headers.get("X-Request-Id", ""),
                host=host_of_url(url),
            )
        now = self._clock.time()
        value = Secret(token)
        expires_at = _parse_expiry(content, now)
        lifetime = expires_at - now
        refresh_at = max(expires_at - min(self._refresh_before, lifetime / 2), now + MIN_TOKEN_REUSE_SECONDS)
        log.info(
            "obtained an IAM token user=%s domain=%s expires_at=%s",
            self._username,
            self._domain_name,
            datetime.fromtimestamp(expires_at, tz=UTC).isoformat(),
        )
        return _Token(value, expires_at, refresh_at)


def _copy(error: AuthError) -> AuthError:
    return AuthError(
        error.api,
        error.status,
        error.error_code,
        error.error_msg,
        error.request_id,
        host=error.host,
        cause=error.cause,
    )
