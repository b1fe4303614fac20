"""What the client reports about its calls: the :class:`ApiObserver` protocol (implemented by
the self-metrics), a :class:`NullObserver` that drops every event, and how an unusable answer
body is reported (:func:`report_bad_body`)."""

from __future__ import annotations

from typing import Protocol

# The error_code an observer is told for an answer whose body could not be used.
INVALID_BODY = "invalid_body"


class ApiObserver(Protocol):
    """Receives one event per upstream attempt; implemented by the self-metrics."""

    def request_done(self, api: str, code: str, seconds: float) -> None: ...
    def throttled(self, api: str) -> None: ...
    def retried(self, api: str) -> None: ...
    def invalid_response(self, api: str) -> None: ...
    def error_response(self, api: str, status: int, error_code: str) -> None: ...
    def page_shrunk(self, api: str, reason: str) -> None: ...
    def truncated(self, api: str, key: str) -> None: ...


class NullObserver:
    def request_done(self, api: str, code: str, seconds: float) -> None:
        pass

    def throttled(self, api: str) -> None:
        pass

    def retried(self, api: str) -> None:
        pass

    def invalid_response(self, api: str) -> None:
        pass

    def error_response(self, api: str, status: int, error_code: str) -> None:
        pass

    def page_shrunk(self, api: str, reason: str) -> None:
        pass

    def truncated(self, api: str, key: str) -> None:
        pass


def report_bad_body(observer: ApiObserver, api: str, status: int = 200) -> None:
    """Count an answer of ``api`` whose body is unusable (not JSON, wrong shape, too large)."""
    observer.invalid_response(api)
    observer.error_response(api, status, INVALID_BODY)
