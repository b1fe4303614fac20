"""The exporter's error tree.

Every error the exporter raises on purpose derives from :class:`ExporterError`.
Only ``cli`` maps an error to an exit code. No ``__str__`` or ``repr`` here ever
includes credentials: errors carry API names, status codes and upstream error
codes, never request headers or bodies that might hold secrets.
"""

from __future__ import annotations

import json
import re

from exporter.secret import scrub

_TOKEN = re.compile(r"[A-Za-z0-9._:/-]+")


class ExporterError(Exception):
    """Root of every error the exporter raises on purpose."""


class ConfigError(ExporterError):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class ShutdownError(ExporterError):
    """The exporter is shutting down while a call waited for its budget or backoff."""


class UpstreamError(ExporterError):
    """A call to a Huawei Cloud API failed.

    ``status`` is the HTTP status (0 when no answer arrived), ``error_code`` and
    ``error_msg`` come from the JSON error body, ``request_id`` from the
    ``X-Request-Id`` header. ``host`` is the upstream host (never a URL with a query),
    ``cause`` the class of a failure without an answer (``refused``, ``dns``,
    ``timeout``, ``tls``, ``connection``, ``body too large`` ...), and ``context`` says
    what the call was for when the API name alone does not (project discovery).
    Every text is scrubbed of known secrets before it is stored.
    """

    def __init__(
        self,
        api: str,
        status: int = 0,
        error_code: str = "",
        error_msg: str = "",
        request_id: str = "",
        *,
        host: str = "",
        cause: str = "",
        context: str = "",
    ) -> None:
        self.api = api
        self.status = status
        self.error_code = scrub(error_code)[:100]
        self.error_msg = scrub(error_msg)
        self.request_id = scrub(request_id)[:100]
        self.host = host
        self.cause = cause
        self.context = context
        super().__init__(self._describe())

    def with_context(self, context: str) -> UpstreamError:
        """The same error (same class) with ``context`` set, for re-raising with ``from``."""
        return type(self)(
            self.api,
            self.status,
            self.error_code,
            self.error_msg,
            self.request_id,
            host=self.host,
            cause=self.cause,
            context=context,
        )

    def _describe(self) -> str:
        parts = [f"api={self.api}"]
        if self.context:
            parts.append(f"during={self.context!r}")
        if self.host:
            parts.append(f"host={self.host}")
        if self.cause:
            parts.append(f"cause={self.cause!r}")
        if self.status:
            parts.append(f"status={self.status}")
        if self.error_code:
            parts.append(f"error_code={_token(self.error_code)}")
        if self.error_msg:
            parts.append(f"error_msg={scrub(repr(self.error_msg[:200]))}")
        if self.request_id:
            parts.append(f"request_id={_token(self.request_id)}")
        return " ".join(parts)

    @property
    def reason(self) -> str:
        """A short, bounded label value describing the failure class."""
        return type(self).__name__.removesuffix("Error").lower() or "upstream"


class AuthError(UpstreamError):
    """Credentials were rejected (401/403) or a token could not be obtained."""


class AuthBreakerOpenError(AuthError):
    """Not sent: the target's auth breaker is open after a credential failure (see
    :mod:`exporter.upstream.breaker`); no call goes out until a probe succeeds."""


class ThrottledError(UpstreamError):
    """The API gateway throttled the call (HTTP 429, APIGW.0308) and retries ran out."""


class UpstreamUnavailableError(UpstreamError):
    """5xx answers, timeouts or connection errors that outlived the retries."""


class InvalidResponseError(UpstreamError):
    """The upstream answered 2xx with a body that is not the documented shape."""


class ClientRequestError(UpstreamError):
    """Any other 4xx answer: a bad request, a missing resource or a permission problem."""


def _token(value: str) -> str:
    """``value`` bare when it is a plain token, quoted (one line, escapes visible) otherwise."""
    return value if _TOKEN.fullmatch(value) else repr(value)


def parse_error_body(body: object) -> tuple[str, str]:
    """Return ``(error_code, error_msg)`` from any of Huawei Cloud's error body shapes.

    Accepts ``{"error_code", "error_msg"}``, ``{"errorCode", "errorMsg"}``,
    ``{"code", "message"}`` and the same nested one level (``{"error": {...}}``).
    ``body`` may also be the raw bytes or text of the answer. Anything else yields
    empty strings. Never raises: the body comes from outside.
    """
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return "", ""
    return _error_fields(body, nested=True)


def _error_fields(body: object, nested: bool) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    for code_key, msg_key in (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message")):
        if code_key in body or msg_key in body:
            return _text(body.get(code_key)), _text(body.get(msg_key))
    if nested:
        for value in body.values():
            code, msg = _error_fields(value, nested=False)
            if code or msg:
                return code, msg
    return "", ""


def _text(value: object) -> str:
    # Only scalars: str() of a huge or deep container (or a 5,000-digit int) would be
    # slow or raise.
    if isinstance(value, str):
        return value[:1000]
    if isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 10**18):
        return str(value)
    return ""
