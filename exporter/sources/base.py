"""What every source shares: the :class:`Source` contract, health tracking, snapshot versions.

A source fetches one kind of upstream data and publishes it as an immutable, versioned
snapshot. The exporter builds every source from one table (:mod:`exporter.app.table`)
and a runner (:mod:`exporter.app.scheduler`) drives it through this contract; the runner
keeps its :class:`SourceHealth` (outcomes, deadlines, backoff, one log line per change).
Only a source that reports per item, or through several paths, keeps health of its own,
and then its runner reports that one.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, replace
from typing import Protocol

from exporter.apis import IAM_ACTIONS
from exporter.clock import Clock
from exporter.config.settings import Config
from exporter.errors import AuthError, ClientRequestError, UpstreamError
from exporter.upstream.auth import outcome_of

log = logging.getLogger(__name__)

_versions = itertools.count(1)


def next_version() -> int:
    """A process-wide, increasing snapshot version (the per-desktop renderer and the
    monitoring paths key their caches on it)."""
    return next(_versions)


class Source(Protocol):
    """What the exporter and the scheduler know of a source.

    ``name`` is its table entry's (the ``source`` label). ``snapshot`` is an immutable
    value, replaced whole by ``refresh`` and kept when a refresh changed nothing: the
    exporter renders again whenever it is another object. ``refresh`` raises
    :class:`~exporter.errors.ExporterError` on failure and keeps the old snapshot;
    ``reconfigure`` takes a reloaded config and applies it from the next refresh. What it
    calls, its shard scope, its runner and its families are its table entry's
    (:class:`~exporter.app.entry.SourceEntry`).
    """

    name: str

    @property
    def snapshot(self) -> object | None: ...

    def interval(self) -> float: ...
    def refresh(self) -> None: ...
    def reconfigure(self, config: Config) -> None: ...


class InvalidSink(Protocol):
    def invalid_response(self, api: str) -> None: ...


@dataclass(frozen=True)
class SourceStatus:
    name: str
    up: bool  # the last refresh succeeded and none has been running past its deadline since
    attempted: bool  # at least one refresh finished (successfully or not)
    last_success: float  # wall-clock seconds of the last successful refresh; 0 = never
    last_duration: float  # seconds the last refresh (or full cycle) took
    consecutive_failures: int
    last_error: str
    overdue: bool = False  # a refresh has been running longer than its deadline
    # The API that refused the last failed refresh for a missing IAM permission ("" otherwise).
    denied_api: str = ""


UNPUBLISHED = "unpublished"  # the action of an API whose reference names none


def denied_api(error: object) -> str:
    """The API of a call refused for a missing IAM permission (a 403 whose gateway verified the
    credentials: not a signature, key or token problem), else ""."""
    if isinstance(error, AuthError) and error.status == 403 and outcome_of(error) == "ok":
        return error.api
    return ""


def action_to_grant(api: str) -> str:
    """The IAM action that lets a caller use ``api`` (:data:`~exporter.apis.IAM_ACTIONS`)."""
    actions = IAM_ACTIONS.get(api, ())
    return actions[0] if actions else UNPUBLISHED


def failure_key(error: BaseException) -> tuple[object, ...]:
    """What makes two failures "the same" for logging: the class and the stable fields of an
    upstream error, never per-call noise such as the request id, the host or the message."""
    if isinstance(error, UpstreamError):
        return (type(error).__name__, error.api, error.cause, error.status, error.error_code)
    return (type(error).__name__,)


class LogState:
    """What the log last said about one source, and the failure episode it is in.

    Shared by the healths that report one source (the ``monitoring`` source's two paths),
    so a switch of path is no state change in the log. Its lock is only ever taken inside
    a health's lock, never the other way round.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: tuple[object, ...] = ("none",)
        self.keys: set[tuple[object, ...]] = set()  # failure kinds already logged in this episode
        self.failures = 0  # failures in this episode


@dataclass(frozen=True)
class _Line:
    """A log line about a state change, with what it says taken under the health's lock."""

    kind: str  # first ok, completed, recovered, overdue, failing, still failing
    failures: int  # failures in the episode that ended (recovered)
    had_data: bool
    error: object
    overdue: tuple[float, float] | None  # (running seconds, deadline)


class SourceHealth:
    """Tracks refresh outcomes of one source and logs one line per state change.

    ``up`` (in :attr:`status`) is 1 when the last outcome was a success and no refresh has
    been running past its deadline since. The log follows states, not attempts: no data
    yet, ok, failing, and overdue (a refresh running past its deadline while the source was
    ok). A failure episode is one state whatever its request ids; within it, a failure of a
    kind not seen yet in the episode (:func:`failure_key`) is one more line, a kind seen
    before none, so failures alternating between two kinds log twice, not per attempt.

    A runner marks a refresh with :meth:`begin` / :meth:`end`; the deadline is checked
    whenever the status is read (every scrape), since the runner itself is blocked in the
    refresh. With ``per_item`` (per-desktop monitoring) each item's outcome is reported as
    it comes, inside one pass: ``up`` follows the items, but the log leaves a failure
    episode (or an overdue pass) only when a pass ends without a failure, so a pass whose
    items fail and succeed by turns is one episode. ``quiet`` healths keep the bookkeeping
    (backoff) and never log. ``log_state`` is shared by healths that report one source.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        log_state: LogState | None = None,
        per_item: bool = False,
        quiet: bool = False,
    ) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._status = SourceStatus(name, False, False, 0.0, 0.0, 0, "")
        self._running: tuple[float, float] | None = None  # (monotonic start, deadline seconds)
        self._log = log_state or LogState()
        self._per_item = per_item
        self._quiet = quiet
        self._failure: tuple[tuple[object, ...], object] | None = None  # (key, error) of the episode
        self._failed_in_pass = False

    @property
    def status(self) -> SourceStatus:
        """The current status; ``up`` is False while a refresh runs past its deadline."""
        with self._lock:
            s = self._status
            if self._overdue_for() is not None:
                s = replace(s, up=False, overdue=True)
            line = self._settle(seen=True)
        self._emit(line)
        return s

    def _overdue_for(self) -> tuple[float, float] | None:
        """(running seconds, deadline) of a refresh past its deadline, else None."""
        running = self._running
        if running is None:
            return None
        elapsed = self._clock.monotonic() - running[0]
        return (elapsed, running[1]) if elapsed > running[1] else None

    def _wanted(self, seen: bool) -> tuple[object, ...]:
        """The state the log should show now (under both locks). Overdue only once a reader of
        the status (a scrape) has seen ``up`` 0 for it: a late pass noticed as it completes
        was never reported late, and is not logged."""
        if self._failure is not None:
            return ("failing", *self._failure[0])
        if self._overdue_for() is not None and (seen or self._log.state == ("overdue",)):
            return ("overdue",)
        return ("ok",) if self._status.attempted else ("none",)

    def _settle(self, seen: bool = False) -> _Line | None:
        """Move the logged state to the wanted one (under the lock); the line to log, if any."""
        with self._log.lock:
            wanted = self._wanted(seen)
            previous = self._log.state
            if wanted == previous:
                return None
            self._log.state = wanted
            if wanted == ("none",):  # an overdue first refresh ended; its outcome comes next
                return None
            if wanted[0] == "failing" and previous[0] == "failing":
                if wanted[1:] in self._log.keys:
                    return None
                self._log.keys.add(wanted[1:])
                kind = "still failing"
            elif previous[0] == "failing":
                kind = "recovered" if wanted[0] == "ok" else str(wanted[0])
            elif wanted[0] == "ok":
                kind = "first ok" if previous == ("none",) else "completed"
            else:
                kind = str(wanted[0])
            failures = self._log.failures
            if wanted[0] != "failing":
                self._log.keys.clear()
                self._log.failures = 0
            elif previous[0] != "failing":
                self._log.keys = {wanted[1:]}
        error = self._failure[1] if self._failure is not None else None
        return _Line(kind, failures, self._status.last_success > 0, error, self._overdue_for())

    def _emit(self, line: _Line | None) -> None:
        if line is None or self._quiet:
            return
        kind, name = line.kind, self.name
        if kind == "first ok":
            log.info("source first refresh ok source=%s", name)
        elif kind == "completed":
            log.info("source refresh completed after its deadline source=%s", name)
        elif kind == "recovered":
            log.info("source recovered source=%s after_failures=%d", name, line.failures)
        elif kind == "overdue":
            running, deadline = line.overdue or (0.0, 0.0)
            if line.had_data:
                log.warning(
                    "source refresh overdue, serving last good data source=%s running_seconds=%.0f "
                    "deadline_seconds=%.0f",
                    name,
                    running,
                    deadline,
                )
            else:
                log.warning(
                    "source refresh overdue, no data yet source=%s running_seconds=%.0f "
                    "deadline_seconds=%.0f",
                    name,
                    running,
                    deadline,
                )
        elif kind == "still failing":
            log.info("source still failing source=%s error=%s", name, line.error)
        elif api := denied_api(line.error):
            # One line names what to do: grant the action, or turn the source off.
            log.warning(
                "source refused for a missing IAM permission, grant the action or turn the source off "
                "source=%s api=%s action=%s serving_last_good_data=%s",
                name,
                api,
                action_to_grant(api),
                str(line.had_data).lower(),
            )
        elif line.had_data:
            log.warning("source refresh failed, serving last good data source=%s error=%s", name, line.error)
        else:
            log.warning("source refresh failed, no data yet source=%s error=%s", name, line.error)

    def begin(self, deadline: float, started: float | None = None) -> None:
        """A refresh (or monitoring pass) started; it should end within ``deadline`` seconds."""
        with self._lock:
            self._running = (self._clock.monotonic() if started is None else started, deadline)
            self._failed_in_pass = False

    def extend(self, deadline: float) -> None:
        """The running refresh may take up to ``deadline`` seconds from its start (never less
        than it already had)."""
        with self._lock:
            if self._running is not None and deadline > self._running[1]:
                self._running = (self._running[0], deadline)

    def end(self) -> None:
        """The refresh marked by :meth:`begin` ended (its outcome is reported separately; a
        per-item pass that ended without a failure ends the failure episode)."""
        with self._lock:
            self._running = None
            if not self._per_item:
                return  # a whole refresh: its outcome, reported next, says what the log says
            if not self._failed_in_pass and self._status.up:
                self._failure = None
            line = self._settle()
        self._emit(line)

    def success(self, duration: float | None = None) -> None:
        with self._lock:
            old = self._status
            self._status = SourceStatus(
                self.name,
                True,
                True,
                self._clock.time(),
                old.last_duration if duration is None else duration,
                0,
                "",
            )
            if not self._per_item or self._running is None:
                self._failure = None
            line = self._settle()
        self._emit(line)

    def failure(self, error: BaseException, duration: float | None = None) -> None:
        text = str(error) if isinstance(error, UpstreamError) else type(error).__name__
        shown = error if isinstance(error, UpstreamError) else text  # a structured log spreads its fields
        with self._lock:
            old = self._status
            self._status = SourceStatus(
                self.name,
                False,
                True,
                old.last_success,
                old.last_duration if duration is None else duration,
                old.consecutive_failures + 1,
                text,
                denied_api=denied_api(error),
            )
            self._failure = (failure_key(error), shown)
            self._failed_in_pass = True
            with self._log.lock:
                self._log.failures += 1
            line = self._settle()
        self._emit(line)

    def adopt(self, other: SourceHealth) -> None:
        """Carry on from ``other``, the health of the path this one takes over from: its
        status (``up``, the last success, at least as recent as this one's) and its failure
        episode, so a switch of path changes neither ``up`` nor the log."""
        with other._lock:
            theirs, failure = other._status, other._failure
        if not theirs.attempted:
            return
        with self._lock:
            last = max(theirs.last_success, self._status.last_success)
            self._status = replace(theirs, name=self.name, last_success=last)
            self._failure = failure

    def set_duration(self, duration: float) -> None:
        with self._lock:
            self._status = replace(self._status, last_duration=duration)

    def retry_delay(self, interval: float) -> float:
        """When to refresh again: ``interval``, or :func:`backoff` after failures."""
        fails = self._status.consecutive_failures
        return interval if fails == 0 else backoff(fails, interval)


def backoff(failures: int, interval: float) -> float:
    """Delay after ``failures`` (>= 1) consecutive failures: 15 s, 30 s, 60 s … capped at ``interval``."""
    return min(interval, 15.0 * float(2 ** min(failures - 1, 10)))


def is_systemic(error: BaseException) -> bool:
    """True when an error says the source as a whole is failing (not one bad item)."""
    return not (isinstance(error, ClientRequestError) and error.status in (400, 404))
