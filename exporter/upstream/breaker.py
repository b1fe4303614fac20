"""The auth breaker: one per target, so bad credentials never storm IAM or lock an account.

Huawei's API gateway locks an AK/SK for 5 minutes after 5 consecutive signature failures,
and IAM locks a user after 5 failed logins within 15 minutes. A client that retries per
call (every source, every desktop) would trip both within seconds. :class:`AuthGate`
stands in front of every upstream call of a target:

* **Unverified credentials go one call at a time.** Until a call made with the current
  credential generation (a new token, new temporary keys, a re-read key file) succeeds,
  only one call is in flight; the others wait for its outcome (up to
  :data:`UNVERIFIED_WAIT` seconds: an upstream that takes longer to answer at all is slow,
  and waiting on it would only stall every source). So wrong credentials at start-up cost
  one failing call, not one per thread.
* **A credential failure opens the breaker** for the whole target: every call fails at once
  without being sent (:class:`~exporter.errors.AuthBreakerOpenError`), the runners pause,
  ``up`` reads 0 for every source, and one warning names the credential (its variable, file
  or provider, never its value).
* **One probe per backoff step** (1 minute, doubling, capped at 30 minutes): the first call
  after the step is let through; success closes the breaker (one info line), failure
  doubles the step. A probe is also held back while the last ``window`` seconds already
  saw ``max_failures`` auth-failing calls, so the rate of failing calls is bounded even
  when several calls that were already in flight fail together.

What counts as a credential failure is decided by the client
(:func:`exporter.upstream.auth.outcome_of`); a 5xx, a 429 or a network failure proves
nothing about the credentials and leaves the state as it is.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from exporter.clock import Clock
from exporter.errors import AuthBreakerOpenError, ShutdownError, UpstreamError

log = logging.getLogger(__name__)

FIRST_STEP = 60.0
UNVERIFIED_WAIT = 10.0
MAX_STEP = 1800.0
# The gateway locks an AK after 5 failures in 5 minutes; stay one below.
AKSK_LIMIT = (4, 300.0)
# IAM login protection locks a user after 5 failed logins in 15 minutes; stay one below.
PASSWORD_LIMIT = (4, 900.0)

Outcome = Literal["ok", "auth", "neutral"]


@dataclass(frozen=True)
class Ticket:
    """Permission to send one call: ``exclusive`` while the credentials are unverified
    (nobody else is in flight), ``probe`` when it decides whether the breaker closes."""

    probe: bool = False
    exclusive: bool = False


@dataclass(frozen=True)
class GateState:
    open: bool
    failures_total: int  # auth-failing calls since start
    next_probe_in: float  # seconds until the next probe may go (0 when closed)
    credential: str
    verified: bool = False  # a call with the credentials in use has succeeded


class AuthGate:
    """See the module docstring. Thread-safe; time from the injected clock."""

    def __init__(
        self,
        clock: Clock,
        credential: Callable[[], str],
        limit: tuple[int, float] = AKSK_LIMIT,
    ) -> None:
        self._clock = clock
        self._credential = credential
        self._max_failures, self._window = limit
        self._cond = threading.Condition()
        self._open = False
        self._step = FIRST_STEP
        self._next_probe = 0.0
        self._probing = False
        self._exclusive = False
        self._verified: int | None = None  # the credential generation a call last succeeded with
        self._failures: deque[float] = deque()
        self._failures_total = 0
        self._reason = ""

    # ------------------------------------------------------------------ reading

    def paused(self) -> bool:
        """True while the breaker is open and no probe may go now (runners wait)."""
        with self._cond:
            return self._open and not self._probe_allowed(self._clock.monotonic())

    def state(self) -> GateState:
        with self._cond:
            now = self._clock.monotonic()
            left = max(0.0, self._next_probe - now) if self._open else 0.0
            verified = self._verified is not None
            return GateState(self._open, self._failures_total, left, self._credential(), verified)

    # ------------------------------------------------------------------ calls

    def enter(self, generation: int, stop: threading.Event) -> Ticket:
        """Wait for permission to send one call made with credential ``generation``.

        Raises :class:`AuthBreakerOpenError` at once while the breaker is open (and no probe
        is due), ShutdownError when ``stop`` is set while waiting.
        """
        waited_since: float | None = None
        with self._cond:
            while True:
                if stop.is_set():
                    raise ShutdownError("client closed while waiting for verified credentials")
                now = self._clock.monotonic()
                if self._open:
                    if self._probe_allowed(now):
                        self._probing = self._exclusive = True
                        return Ticket(probe=True, exclusive=True)
                    raise AuthBreakerOpenError(
                        "credentials",
                        cause=f"auth breaker open after a credential failure ({self._reason})",
                    )
                if self._verified == generation:
                    return Ticket()
                if not self._exclusive:
                    self._exclusive = True
                    return Ticket(exclusive=True)
                waited_since = now if waited_since is None else waited_since
                if now - waited_since >= UNVERIFIED_WAIT:
                    return Ticket()
                self._cond.wait(timeout=1.0)

    def done(
        self, ticket: Ticket, outcome: Outcome, generation: int, error: UpstreamError | None = None
    ) -> None:
        """Report how the call of ``ticket`` ended (``generation``: the credentials it used)."""
        opened = recovered = False
        with self._cond:
            now = self._clock.monotonic()
            if ticket.exclusive:
                self._exclusive = False
            if ticket.probe:
                self._probing = False
            if outcome == "ok":
                # Only a probe closes an open breaker: a call sent before it opened proves
                # nothing about the failure that opened it.
                if not self._open or ticket.probe:
                    self._verified = generation
                    recovered = self._open
                    self._open = False
                    self._step = FIRST_STEP
            elif outcome == "auth":
                self._verified = None
                self._count_failure(now, error)
                self._reason = _reason(error)
                if not self._open:
                    opened = self._open = True
                    self._step = FIRST_STEP
                    self._next_probe = now + self._step
                elif ticket.probe:
                    self._step = min(self._step * 2, MAX_STEP)
                    self._next_probe = now + self._step
            elif ticket.probe:
                self._next_probe = now + self._step  # proved nothing: the same step again
            self._cond.notify_all()
            step = self._step
        if opened:
            log.warning(
                "credentials rejected, every source paused until a probe succeeds credential=%s "
                "error=%s next_probe_seconds=%.0f",
                self._credential(),
                error,
                step,
            )
        elif recovered:
            log.info("credentials accepted again, sources resume credential=%s", self._credential())
        elif outcome == "auth" and ticket.probe:
            log.debug("auth probe failed credential=%s next_probe_seconds=%.0f", self._credential(), step)

    def note_failure(self, error: UpstreamError | None = None) -> None:
        """Count an auth-failing call that does not change the state (a 401 that a token
        refresh may cure) so the failure rate stays bounded."""
        with self._cond:
            self._count_failure(self._clock.monotonic(), error)

    def wake(self) -> None:
        """Wake every waiting caller (shutdown: they then see the stop event)."""
        with self._cond:
            self._cond.notify_all()

    def forget_verification(self) -> None:
        """The credentials changed (a reload): the next call goes alone until one succeeds."""
        with self._cond:
            self._verified = None

    # ------------------------------------------------------------------ internals

    def _count_failure(self, now: float, error: UpstreamError | None) -> None:
        if error is not None and error.status == 0:
            return  # no answer: nothing reached a gateway or IAM, so nothing counts towards a lockout
        self._failures.append(now)
        self._failures_total += 1

    def _probe_allowed(self, now: float) -> bool:
        if self._probing or now < self._next_probe:
            return False
        while self._failures and self._failures[0] < now - self._window:
            self._failures.popleft()
        return len(self._failures) < self._max_failures


def _reason(error: UpstreamError | None) -> str:
    if error is None:
        return "no credentials"
    if error.status:
        code = f" {error.error_code}" if error.error_code else ""
        return f"{error.api} HTTP {error.status}{code}"
    return f"{error.api} {error.cause or 'failed'}"
