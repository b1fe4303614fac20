"""One attempt of an upstream call, and what its answer means.

:meth:`Attempts.send` passes the target's auth breaker
(:class:`~exporter.upstream.breaker.AuthGate`), waits for a token of the API's budget, holds
a concurrency slot, signs the request or adds the token, and makes one bounded exchange
(:class:`~exporter.upstream.transport.Transport`). A 2xx answer comes back as the response;
anything else as a typed :class:`~exporter.errors.UpstreamError` (429 or ``APIGW.0308``:
throttled, 5xx: unavailable, 401/403: auth, the rest: a client error) with the
``Retry-After`` it carried. Whether and when to try again is the client's call
(:mod:`exporter.upstream.client`), with one exception made here: a call refused for its
credentials drops the token or temporary keys (or reads key files again) and, unless it was
the breaker's probe, is sent once more when that may help.
"""

from __future__ import annotations

import logging
import threading

import requests

from exporter.apis import ApiSpec
from exporter.clock import Clock
from exporter.errors import (
    AuthError,
    ClientRequestError,
    InvalidResponseError,
    ShutdownError,
    ThrottledError,
    UpstreamError,
    UpstreamUnavailableError,
    parse_error_body,
)
from exporter.upstream.auth import CREDENTIAL_APIS, AuthProvider, outcome_of
from exporter.upstream.breaker import AuthGate, Outcome
from exporter.upstream.budget import Budget
from exporter.upstream.observer import ApiObserver, report_bad_body
from exporter.upstream.paging import Params
from exporter.upstream.transport import Transport, host_of_url

log = logging.getLogger(__name__)

# The answer of one attempt: the error (None on 2xx), the 2xx response, the Retry-After seconds.
Result = tuple[UpstreamError | None, requests.Response | None, float | None]

# Downloaded export files, bounded by http.max_file_bytes instead of http.max_body_bytes.
_FILE_APIS = frozenset({"connections_export", "export_download"})


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class Attempts:
    """Makes single attempts for one client; see the module docstring.

    The client owns the settings: it sets :attr:`auth` (replaced when the credentials or
    what they are fetched with change), :attr:`verify` and :attr:`max_file_bytes` on every
    (re)configuration.
    """

    def __init__(
        self,
        session: requests.Session,
        transport: Transport,
        budget: Budget,
        gate: AuthGate,
        observer: ApiObserver,
        clock: Clock,
        stop: threading.Event,
    ) -> None:
        self._session = session
        self._transport = transport
        self._budget = budget
        self._gate = gate
        self._observer = observer
        self._clock = clock
        self._stop = stop
        self.auth: AuthProvider
        self.verify: bool | str = True
        self.max_file_bytes = 0

    def send(self, spec: ApiSpec, url: str, params: Params | None, data: bytes | None) -> Result:
        """One attempt through the auth breaker (and the budget), reporting what it proved.

        A call refused for its credentials drops the token or temporary keys (or reads key
        files again) and, unless it was the breaker's probe, is sent once more when that may
        help; see :mod:`exporter.upstream.breaker`.
        """
        renewed = False
        while True:
            ticket = self._gate.enter(self.auth.generation, self._stop)
            outcome: Outcome = "neutral"
            error: UpstreamError | None = None
            try:
                if not self._budget.acquire(spec.name, self._stop):
                    raise ShutdownError(f"client closed while waiting for the {spec.name} budget")
                error, resp, retry_after = self._once(spec, url, params, data)
                if not self._stop.is_set():
                    outcome = outcome_of(error)
                if outcome == "auth" and error is not None and error.api not in CREDENTIAL_APIS:
                    # A token or temporary keys the gateway refuses are dropped; key files read again.
                    fresh = self.auth.invalidate()
                    if fresh and not renewed and not ticket.probe:
                        log.info(
                            "credentials refused, sending once more with new ones api=%s error=%s",
                            spec.name,
                            error,
                        )
                        renewed = True
                        self._gate.note_failure(error)
                        outcome = "neutral"
                        self._observer.retried(spec.name)
                        continue
                return error, resp, retry_after
            finally:
                self._gate.done(ticket, outcome, self.auth.generation, error)

    def _once(self, spec: ApiSpec, url: str, params: Params | None, data: bytes | None) -> Result:
        # The SDK sends and signs this on every call, GET included; so do we.
        headers = {"Content-Type": "application/json"}
        req = requests.Request(spec.method, url, params=dict(params or {}), data=data, headers=headers)
        host = host_of_url(url)
        cap = self.max_file_bytes if spec.name in _FILE_APIS else None
        with self._budget.slot():
            prepared = self._session.prepare_request(req)
            t0 = self._clock.monotonic()
            try:
                self.auth.apply(prepared)
            except AuthError as e:  # could not obtain a token
                return e, None, None

            def done(code: str) -> None:
                self._observer.request_done(spec.name, code, self._clock.monotonic() - t0)

            try:
                resp, content = self._transport.exchange(spec.name, prepared, self.verify, cap, done)
            except InvalidResponseError as e:
                report_bad_body(self._observer, spec.name, e.status)
                return e, None, None
            except UpstreamError as e:
                return e, None, None
        if 200 <= resp.status_code < 300:
            return None, resp, None
        code, msg = parse_error_body(content)
        rid = resp.headers.get("X-Request-Id", "")
        status = resp.status_code
        self._observer.error_response(spec.name, status, code)
        err: UpstreamError
        if status == 429 or code in ("APIGW.0308", "APIG.0308"):
            err = ThrottledError(spec.name, status, code, msg, rid, host=host)
        elif status >= 500:
            err = UpstreamUnavailableError(spec.name, status, code, msg, rid, host=host)
        elif status in (401, 403):
            err = AuthError(spec.name, status, code, msg, rid, host=host)
        else:
            err = ClientRequestError(spec.name, status, code, msg, rid, host=host)
        return err, None, _retry_after(resp)
