"""What every source shares: the :class:`Source` contract, health tracking, snapshot versions.

A source fetches one kind of upstream data and publishes it as an immutable,
versioned snapshot. The exporter builds every source from one table
(:mod:`exporter.app.exporter`), drives it through this contract only, and derives from
it the API self-metrics, the health list, the data version and the shard scope.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Literal, Protocol

from exporter.clock import Clock
from exporter.config.settings import Config
from exporter.errors import ClientRequestError, UpstreamError

log = logging.getLogger(__name__)

_versions = itertools.count(1)


def next_version() -> int:
    """A process-wide, increasing snapshot version (render caches key on it)."""
    return next(_versions)


# "project": the data are per project, so a sharded project runs the source on shard 0
# only (each record counted once); "shard": the source runs on every shard.
Scope = Literal["project", "shard"]


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


class Source(Protocol):
    """What the exporter and the scheduler know of a source.

    ``snapshot`` is replaced whole (never mutated) by ``refresh``; its ``version`` changes
    whenever the exposition would, so the rendered bytes are cached per version. ``apis``
    are names from :data:`exporter.apis.APIS` (pre-declared in the self-metrics).
    ``refresh`` raises :class:`~exporter.errors.ExporterError` on failure and keeps the
    old snapshot; ``reconfigure`` takes a reloaded config and applies it from the next
    refresh.
    """

    name: str
    apis: tuple[str, ...]
    scope: Scope
    health: SourceHealth

    @property
    def snapshot(self) -> Versioned | None: ...

    def interval(self) -> float: ...
    def refresh(self) -> None: ...
    def reconfigure(self, config: Config) -> None: ...


class InvalidSink(Protocol):
    def invalid_response(self, api: str) -> None: ...


@dataclass(frozen=True)
class SourceStatus:
    name: str
    up: bool
    attempted: bool  # at least one refresh finished (successfully or not)
    last_success: float  # wall-clock seconds of the last successful refresh; 0 = never
    last_duration: float  # seconds the last refresh (or full cycle) took
    consecutive_failures: int
    last_error: str


class SourceHealth:
    """Tracks refresh outcomes of one source and logs one line per state change."""

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._status = SourceStatus(name, False, False, 0.0, 0.0, 0, "")

    @property
    def status(self) -> SourceStatus:
        return self._status

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
        if not old.up:
            if old.attempted:
                log.info("source recovered source=%s after_failures=%d", self.name, old.consecutive_failures)
            else:
                log.info("source first refresh ok source=%s", self.name)

    def failure(self, error: BaseException, duration: float | None = None) -> None:
        text = str(error) if isinstance(error, UpstreamError) else type(error).__name__
        shown = error if isinstance(error, UpstreamError) else text  # the log spreads its fields
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
            )
        if old.up or not old.attempted:
            log.warning("source refresh failed, serving last good data source=%s error=%s", self.name, shown)
        elif old.last_error != text:
            log.info("source still failing source=%s error=%s", self.name, shown)

    def set_duration(self, duration: float) -> None:
        with self._lock:
            s = self._status
            self._status = SourceStatus(
                s.name, s.up, s.attempted, s.last_success, duration, s.consecutive_failures, s.last_error
            )

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
