"""Background refresh: the runners that drive the sources, and what the exporter knows of them.

A runner owns when its source refreshes and the health it reports: :class:`Runner` is all
the exporter (:mod:`exporter.app.exporter`) knows of one, whatever its kind.

* :class:`PeriodicRunner` refreshes a whole source every ``interval`` seconds, backing off
  after failures, and keeps the source's :class:`~exporter.sources.base.SourceHealth`
  (a source the runner alone reports on builds none).
* :class:`~exporter.app.desktop_runner.MonitoringRunner` refreshes desktops one call at
  a time, spread over the interval.
* :class:`Together` starts, wakes and joins several runners as one.

Every runner pauses while the target's auth breaker is open (``auth_paused``, see
:mod:`exporter.upstream.breaker`): no refresh and no desktop call starts until a probe is
due or the credentials work again. A refresh the breaker cut short changes no health: the
breaker logged it once, and ``up`` reads 0 for every source while it is open.

Nothing here runs at scrape time; scrapes read the snapshots the runners publish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from exporter import fatal
from exporter.clock import Clock
from exporter.config.settings import HTTPConfig
from exporter.errors import AuthBreakerOpenError, AuthError, ExporterError, ShutdownError
from exporter.sources.base import SourceHealth

log = logging.getLogger(__name__)


class Runner(Protocol):
    """What the exporter knows of a source's runner.

    ``health`` is the health it reports for its source (``up``, readiness). ``kick``
    refreshes now (a reload moved where the data come from); ``wake`` ends the current wait
    at once (stop). ``threads`` are the threads the process needs alive once it started.
    """

    @property
    def health(self) -> SourceHealth: ...

    def start(self) -> None: ...
    def kick(self) -> None: ...
    def wake(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...
    def threads(self) -> list[threading.Thread]: ...


class RefreshableSource(Protocol):
    """The part of :class:`~exporter.sources.base.Source` a :class:`PeriodicRunner` uses."""

    name: str

    def refresh(self) -> None: ...
    def interval(self) -> float: ...


def refresh_deadline(interval: float, call_deadline: float) -> float:
    """How long one refresh (or monitoring cycle) may run before ``up`` turns 0.

    One interval plus one ``http.call_deadline``: a refresh that started on time and is still
    running then has let the data grow older than two intervals. Every call is bounded by
    the call deadline and its retries, so a refresh always ends; this only says when the
    data it is replacing should stop counting as fresh.
    """
    return interval + call_deadline


def _fixed(health: SourceHealth) -> Callable[[], SourceHealth]:
    return lambda: health


class PeriodicRunner(threading.Thread):
    """Calls ``source.refresh()`` every interval; a failure keeps the old snapshot and backs off.

    Each refresh runs under a deadline (:func:`refresh_deadline`); a refresh cut short by
    shutdown is not a failure. The outcomes go to the runner's own health, or to the one
    ``health`` returns after each refresh (a source that reports through several paths, as
    monitoring does, says which one).
    """

    def __init__(
        self,
        source: RefreshableSource,
        clock: Clock,
        stop: threading.Event,
        call_deadline: Callable[[], float] = lambda: HTTPConfig().call_deadline,
        auth_paused: Callable[[], bool] = lambda: False,
        health: Callable[[], SourceHealth] | None = None,
    ) -> None:
        super().__init__(name=f"refresh-{source.name}", daemon=True)
        self.source = source
        self._health = health or _fixed(SourceHealth(source.name, clock))
        self._clock = clock
        self._stop_event = stop
        self._call_deadline = call_deadline
        self._auth_paused = auth_paused
        self._kick = threading.Event()
        self.refreshes = 0
        self._cut_by_auth = False

    @property
    def health(self) -> SourceHealth:
        return self._health()

    def kick(self) -> None:
        """Refresh now (used after a config reload)."""
        self._kick.set()

    def wake(self) -> None:
        """End the current wait between refreshes (the loop then sees the stop event)."""
        self._kick.set()

    def threads(self) -> list[threading.Thread]:
        return [self]

    def run_once(self) -> None:
        self._cut_by_auth = False
        health = self.health
        t0 = self._clock.monotonic()
        health.begin(refresh_deadline(self.source.interval(), self._call_deadline()), t0)
        error: Exception | None = None
        try:
            self.source.refresh()
        except ExporterError as e:
            error = e
        except MemoryError:
            raise  # not the source's fault: ends the thread, which is fatal (exporter.fatal)
        except Exception as e:  # a bug or garbage we did not foresee: keep running
            if fatal.fatal_exception(e) is not None:
                raise  # no thread can start: ends the thread, which is fatal (exporter.fatal)
            if not self._stop_event.is_set():
                log.exception("unexpected error refreshing source=%s", self.source.name)
            error = e
        finally:
            health.end()
        took = self._clock.monotonic() - t0
        # Read again: a source whose refresh chose another path (monitoring) reports the
        # outcome to that path's health.
        outcome = self.health
        if error is None:
            outcome.success(took)
        elif isinstance(error, AuthBreakerOpenError) or (
            isinstance(error, AuthError) and self._auth_paused()
        ):
            # The auth breaker logged it and holds up at 0; this source's own state is unchanged.
            self._cut_by_auth = True
            log.debug("refresh stopped by the auth breaker source=%s", self.source.name)
        elif isinstance(error, ShutdownError) or self._stop_event.is_set():
            # Cut short by shutdown: says nothing about the upstream, so up and the log stay as they were.
            log.debug("refresh stopped by shutdown source=%s", self.source.name)
        else:
            outcome.failure(error, took)
        self.refreshes += 1

    def step(self) -> float:
        """Refresh unless the auth breaker pauses the target; seconds until the next step."""
        if self._auth_paused():
            return 1.0
        self.run_once()
        if self._cut_by_auth:
            return 1.0  # again as soon as the breaker lets calls through
        return self.health.retry_delay(self.source.interval())

    def run(self) -> None:
        while not self._stop_event.is_set():
            delay = self.step()
            deadline = self._clock.monotonic() + delay
            while not self._stop_event.is_set() and not self._kick.is_set():
                left = deadline - self._clock.monotonic()
                if left <= 0:
                    break
                self._kick.wait(min(left, 1.0))
            self._kick.clear()


class Together(threading.Thread):
    """Several runners started, woken, kicked and joined as one, reporting one ``health``."""

    def __init__(self, name: str, health: Callable[[], SourceHealth], *runners: Runner) -> None:
        super().__init__(name=name, daemon=True)
        self.runners = runners
        self._health = health

    @property
    def health(self) -> SourceHealth:
        return self._health()

    def run(self) -> None:
        for r in self.runners:
            r.start()
        for r in self.runners:
            r.join()

    def kick(self) -> None:
        for r in self.runners:
            r.kick()

    def wake(self) -> None:
        for r in self.runners:
            r.wake()

    def threads(self) -> list[threading.Thread]:
        return [self, *(t for r in self.runners for t in r.threads())]
