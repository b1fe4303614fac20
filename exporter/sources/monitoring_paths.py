"""Desktop monitoring by whichever path fits: per-desktop calls or Cloud Eye batch queries.

One source, ``monitoring``, owns both delegates: :class:`~exporter.sources.monitoring.
MonitoringSource` (one ``desktop_monitor`` call per desktop, spread over the interval by
its own runner) and :class:`~exporter.sources.cloudeye.CloudEyeSource` (batch queries,
v2 or v1 as the region answers). ``monitoring.source`` picks:

* ``workspace`` / ``cloudeye``: always that path;
* ``auto`` (the default): per-desktop calls while the fleet fits the configured
  ``desktop_monitor`` budget within one interval (``desktops <= 0.9 x rate x interval``),
  Cloud Eye when it does not. The choice has hysteresis in size and in time: once on Cloud
  Eye the fleet must shrink below 80 % of that before the source goes back, and a change
  is made only once it has been wanted in every pass for :func:`settle_seconds` (15
  minutes, or three intervals if longer), so a fleet at the boundary does not flap.
  Throttling does not move the path: the budget backs the per-desktop calls off (halved
  after each 429, climbing back over ``budget.throttle_recovery``) and
  WorkspaceApiThrottled says so when it lasts. When Cloud Eye refuses (403: the
  ``ces:metricData:list`` action is missing; 404 from the v1 query: no batch query in the
  region) the source falls back to per-desktop calls at once with one warning and asks
  Cloud Eye again :data:`RETRY_CES_S` later or after a reload.

The choice is made once per pass (every ``monitoring.interval``) by :meth:`refresh`,
which a periodic runner drives through :attr:`driver`; the per-desktop delegate is
paused while Cloud Eye serves. The first pass, and the first after a reload, choose at
once. ``health`` is the active delegate's; the delegate taking over adopts the other's
status and both share one log state, so a switch is no change of ``up``, of the last
refresh time or in the log. ``snapshot`` is the active delegate's, except that for a
while after a switch a desktop keeps the other delegate's values when those are newer:
a switch never publishes a datapoint older than the one already exported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import MappingProxyType

from exporter.clock import Clock
from exporter.config.settings import Config, MonitoringConfig
from exporter.errors import ExporterError
from exporter.sources.base import LogState, SourceHealth
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.monitoring import DesktopMetrics, MonitoringSnapshot, MonitoringSource

log = logging.getLogger(__name__)

WORKSPACE = "workspace"
SHARE = 0.9  # of the desktop_monitor rate the per-desktop path may plan with (as MonitoringSource)
HYSTERESIS = 0.8  # back to per-desktop calls only below this share of the capacity
RETRY_CES_S = 6 * 3600.0  # after Cloud Eye refused: ask again this rarely
SETTLE_S = 15 * 60.0  # a change of path must be wanted this long (or 3 intervals) first
CES_ACTION = "ces:metricData:list"


def capacity(rate_per_minute: float, interval: float) -> float:
    """Desktops the per-desktop path refreshes in one interval at ``rate_per_minute``."""
    return SHARE * max(0.0, rate_per_minute) * interval / 60.0


def settle_seconds(interval: float) -> float:
    """How long ``auto`` must want the other path, in every pass, before it switches."""
    return max(SETTLE_S, 3 * interval)


def newest_of(active: MonitoringSnapshot, other: MonitoringSnapshot) -> MonitoringSnapshot:
    """``active``, with each desktop's entry taken from ``other`` where that one is newer
    (or ``active`` has none yet); ``active`` itself when nothing is taken."""
    taken: dict[str, DesktopMetrics] = {}
    for did, theirs in other.entries.items():
        ours = active.entries.get(did)
        if ours is None or (theirs.sample_time or 0.0) > (ours.sample_time or 0.0):
            taken[did] = theirs
    if not taken:
        return active
    return MonitoringSnapshot(MappingProxyType({**active.entries, **taken}), active.published_at)


def apis_for(mode: str) -> tuple[str, ...]:
    """The APIs the source calls under ``monitoring.source`` ``mode``."""
    paths = {WORKSPACE: MonitoringSource.apis, "cloudeye": CloudEyeSource.apis}
    return paths.get(mode, MonitoringSource.apis + CloudEyeSource.apis)


def wants_cloudeye(
    mode: str, fleet: int, rate_per_minute: float, interval: float, on_cloudeye: bool, ces_refused: bool
) -> bool:
    """The path choice of one pass: True for Cloud Eye, False for per-desktop calls."""
    if mode != "auto":
        return mode == "cloudeye"
    if ces_refused:
        return False
    cap = capacity(rate_per_minute, interval)
    return fleet > HYSTERESIS * cap if on_cloudeye else fleet > cap


class _Driver:
    """What the periodic runner runs: the decision pass. Its outcome goes to Cloud Eye's
    health when Cloud Eye is the path (the only refresh of the pass that can fail; the
    per-desktop calls record their own), else to a quiet health that only paces retries."""

    name = "monitoring"

    def __init__(self, owner: MonitoringPaths, clock: Clock) -> None:
        self._owner = owner
        self._pass_health = SourceHealth(self.name, clock, quiet=True)

    @property
    def health(self) -> SourceHealth:
        return self._owner.cloudeye.health if self._owner.on_cloudeye else self._pass_health

    def interval(self) -> float:
        return self._owner.interval()

    def refresh(self) -> None:
        self._owner.refresh()


class MonitoringPaths:
    """The ``monitoring`` source: per-desktop calls or Cloud Eye, chosen every pass."""

    name = "monitoring"

    def __init__(
        self,
        per_desktop: MonitoringSource,
        cloudeye: CloudEyeSource,
        config: MonitoringConfig,
        clock: Clock,
        rate: Callable[[], float],
    ) -> None:
        self.per_desktop = per_desktop
        self.cloudeye = cloudeye
        self.config = config
        self._clock = clock
        self._rate = rate  # configured desktop_monitor calls/min
        self._lock = threading.Lock()
        self._on_cloudeye = False
        self._decided = False
        self._choose_now = True  # the first pass, and the first after a reload
        self._wanted_since: float | None = None  # monotonic time the other path was first wanted
        self._refused_at: float | None = None  # monotonic time Cloud Eye last refused
        self._fell_back_for_refusal = False  # per-desktop only because Cloud Eye refused
        self._merged: tuple[tuple[int, int], MonitoringSnapshot] | None = None
        # One source to the log and to `up`: both paths share a log state; per-desktop calls
        # report per desktop within a pass.
        shared = LogState()
        per_desktop.health = SourceHealth(self.name, clock, log_state=shared, per_item=True)
        cloudeye.health = SourceHealth(self.name, clock, log_state=shared)
        self.driver = _Driver(self, clock)
        per_desktop.pause(True)  # until the first pass has chosen

    # ------------------------------------------------------------------ reading

    @property
    def on_cloudeye(self) -> bool:
        return self._on_cloudeye

    @property
    def health(self) -> SourceHealth:
        """The active path's health: the one the monitoring runners report."""
        return self.cloudeye.health if self._on_cloudeye else self.per_desktop.health

    @property
    def snapshot(self) -> MonitoringSnapshot:
        """The active delegate's snapshot; after a switch, newer values of the other one win
        per desktop until it has not refreshed for ``monitoring.max_age``."""
        active, other = self.cloudeye.snapshot, self.per_desktop.snapshot
        if not self._on_cloudeye:
            active, other = other, active
        if not other.entries or self._clock.time() - other.published_at > self.config.max_age:
            return active
        key = (active.version, other.version)
        merged = self._merged
        if merged is None or merged[0] != key:
            merged = (key, newest_of(active, other))
            self._merged = merged
        return merged[1]

    @property
    def path(self) -> str | None:
        """``workspace``, ``cloudeye_v2`` or ``cloudeye_v1``; None before the first choice
        (or while Cloud Eye has not answered yet)."""
        if not self._decided:
            return None
        return self.cloudeye.path if self._on_cloudeye else WORKSPACE

    def interval(self) -> float:
        return self.config.interval

    # ------------------------------------------------------------------ changes

    def reconfigure(self, config: Config) -> None:
        if config.monitoring.source != self.config.source:
            log.info(
                "monitoring.source changed, choosing the path again old=%s new=%s",
                self.config.source,
                config.monitoring.source,
            )
        with self._lock:
            self.config = config.monitoring
            self._refused_at = None  # new credentials or region: Cloud Eye may answer now
            self._choose_now = True
        self.cloudeye.reconfigure(config)
        self.per_desktop.reconfigure(config)
        self.per_desktop.pause(self._on_cloudeye or not self._decided)

    def refresh(self) -> None:
        """One pass: choose the path from the fleet and the configured budget, then refresh
        Cloud Eye when it is the path. Raises what the Cloud Eye refresh raises."""
        cfg = self.config
        if not cfg.enabled:
            return
        inventory = self.cloudeye.wait_for_inventory(max(cfg.interval, 60.0))
        fleet, rate = len(inventory.desktops), self._rate()
        now = self._clock.monotonic()
        refused = self._refused_at is not None and now - self._refused_at < RETRY_CES_S
        want = wants_cloudeye(cfg.source, fleet, rate, cfg.interval, self._on_cloudeye, refused)
        use_ces = self._settled(want, cfg, refused, now)
        self._switch(use_ces, fleet, rate)
        if not use_ces:
            return
        self.cloudeye.quiet_refusals = cfg.source == "auto"  # this pass says it once
        try:
            self.cloudeye.refresh()
        except ExporterError:
            if not self._fell_back(cfg, fleet, rate):
                raise
        else:
            self._fell_back(cfg, fleet, rate)

    def _settled(self, want: bool, cfg: MonitoringConfig, refused: bool, now: float) -> bool:
        """The path to use this pass. ``want`` at once for the first choice (and the first
        after a reload), a forced mode, a refusing Cloud Eye and the end of a refusal; under
        ``auto`` otherwise only once it has been wanted in every pass for :func:`settle_seconds`."""
        if not refused:
            at_once = self._fell_back_for_refusal
            self._fell_back_for_refusal = False
        else:
            at_once = True
        if self._decided and want == self._on_cloudeye:
            self._wanted_since = None
            return want
        if at_once or self._choose_now or not self._decided or cfg.source != "auto":
            self._wanted_since = None
            return want
        if self._wanted_since is None:
            self._wanted_since = now
        if now - self._wanted_since >= settle_seconds(cfg.interval):
            self._wanted_since = None
            return want
        return self._on_cloudeye

    def _fell_back(self, cfg: MonitoringConfig, fleet: int, rate: float) -> bool:
        """After a Cloud Eye refresh: back to per-desktop calls (one warning) when Cloud Eye
        refused and the mode allows it. The refusal is then handled, not a failure."""
        refusal = self.cloudeye.unavailable
        if refusal is None or cfg.source != "auto":
            return False
        self._refused_at = self._clock.monotonic()
        self._fell_back_for_refusal = True
        log.warning(
            "monitoring: Cloud Eye refused the batch query, using per-desktop desktop_monitor "
            "calls instead; grant the IAM action to read a large fleet from Cloud Eye (asked "
            "again after retry_hours or a reload) action=%s retry_hours=%g error=%s",
            CES_ACTION,
            RETRY_CES_S / 3600,
            refusal,
        )
        self._switch(False, fleet, rate)
        return True

    def _switch(self, use_ces: bool, fleet: int, rate: float) -> None:
        self._choose_now = False
        if self._decided and use_ces == self._on_cloudeye:
            return
        if self._decided:  # the path taking over carries on the source's status
            taking, leaving = (
                (self.cloudeye, self.per_desktop) if use_ces else (self.per_desktop, self.cloudeye)
            )
            taking.health.adopt(leaving.health)
        self._on_cloudeye = use_ces
        self._decided = True
        self.per_desktop.pause(use_ces)
        if self.config.source == "auto":
            log.info(
                "monitoring: path chosen path=%s desktops=%d capacity=%.0f interval_seconds=%g "
                "calls_per_minute=%g",
                "cloudeye" if use_ces else WORKSPACE,
                fleet,
                capacity(rate, self.config.interval),
                self.config.interval,
                rate,
            )
