"""The exporter's error tree.

Every error the exporter raises on purpose derives from :class:`ExporterError`.
Only ``cli`` maps an error to an exit code. No ``__str__`` or ``repr`` here ever
includes credentials: errors carry API names, status codes and upstream error
codes, never request headers or bodies that might hold secrets.
"""

from __future__ import annotations


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
    ``X-Request-Id`` header.
    """

    def __init__(
        self,
        api: str,
        status: int = 0,
        error_code: str = "",
        error_msg: str = "",
        request_id: str = "",
    ) -> None:
        self.api = api
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"api={self.api}"]
        if self.status:
            parts.append(f"status={self.status}")
        if self.error_code:
            parts.append(f"error_code={self.error_code}")
        if self.error_msg:
            parts.append(f"error_msg={self.error_msg[:200]!r}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)

    @property
    def reason(self) -> str:
        """A short, bounded label value describing the failure class."""
        return type(self).__name__.removesuffix("Error").lower() or "upstream"


class AuthError(UpstreamError):
    """Credentials were rejected (401/403) or a token could not be obtained."""


class ThrottledError(UpstreamError):
    """The API gateway throttled the call (HTTP 429, APIGW.0308) and retries ran out."""


class UpstreamUnavailableError(UpstreamError):
    """5xx answers, timeouts or connection errors that outlived the retries."""


class InvalidResponseError(UpstreamError):
    """The upstream answered 2xx with a body that is not the documented shape."""


class ClientRequestError(UpstreamError):
    """Any other 4xx answer: a bad request, a missing resource or a permission problem."""


def parse_error_body(body: object) -> tuple[str, str]:
    """Return ``(error_code, error_msg)`` from any of Huawei Cloud's error body shapes.

    Accepts ``{"error_code", "error_msg"}``, ``{"errorCode", "errorMsg"}``,
    ``{"code", "message"}`` and the same nested one level (``{"error": {...}}``).
    Anything else yields empty strings.
    """
    if not isinstance(body, dict):
        return "", ""
    for code_key, msg_key in (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message")):
        if code_key in body or msg_key in body:
            return str(body.get(code_key) or ""), str(body.get(msg_key) or "")
    for value in body.values():
        if isinstance(value, dict):
            code, msg = parse_error_body(value)
            if code or msg:
                return code, msg
    return "", ""
