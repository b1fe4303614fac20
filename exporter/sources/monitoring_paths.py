"""Desktop monitoring by whichever path fits: per-desktop calls or Cloud Eye batch queries.

One source, ``monitoring``, owns both delegates: :class:`~exporter.sources.monitoring.
MonitoringSource` (one ``desktop_monitor`` call per desktop, spread over the interval by
its own runner) and :class:`~exporter.sources.cloudeye.CloudEyeSource` (batch queries,
v2 or v1 as the region answers). ``monitoring.source`` picks:

* ``workspace`` / ``cloudeye``: always that path;
* ``auto`` (the default): per-desktop calls while the fleet fits the budget within one
  interval (``desktops <= 0.9 x effective desktop_monitor rate x interval``), Cloud Eye
  when it does not. Once on Cloud Eye the fleet must shrink below 80 % of that before the
  source goes back, so a fleet at the boundary does not flap. When Cloud Eye refuses
  (403: the ``ces:metricData:list`` action is missing; 404 from the v1 query: no batch
  query in the region) the source falls back to per-desktop calls with one warning and
  asks Cloud Eye again :data:`RETRY_CES_S` later or after a reload.

The choice is made once per pass (every ``monitoring.interval``) by :meth:`refresh`,
which a periodic runner drives through :attr:`driver`; the per-desktop delegate is
paused while Cloud Eye serves. ``health`` and ``snapshot`` are the active delegate's
(the other's snapshot while the active one has no data yet, so a switch shows no gap).
A reload may change ``monitoring.source``; the exporter then runs a pass at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from exporter.clock import Clock
from exporter.config.settings import Config, MonitoringConfig
from exporter.errors import ExporterError
from exporter.sources.base import Scope, SourceHealth
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.monitoring import MonitoringSnapshot, MonitoringSource

log = logging.getLogger(__name__)

WORKSPACE = "workspace"
SHARE = 0.9  # of the desktop_monitor rate the per-desktop path may plan with (as MonitoringSource)
HYSTERESIS = 0.8  # back to per-desktop calls only below this share of the capacity
RETRY_CES_S = 6 * 3600.0  # after Cloud Eye refused: ask again this rarely
CES_ACTION = "ces:metricData:list"


def capacity(rate_per_minute: float, interval: float) -> float:
    """Desktops the per-desktop path refreshes in one interval at ``rate_per_minute``."""
    return SHARE * max(0.0, rate_per_minute) * interval / 60.0


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
    """What the periodic runner runs: the decision pass, recorded in Cloud Eye's health
    (the only refresh of the pass that can fail; per-desktop calls record their own)."""

    name = "monitoring"

    def __init__(self, owner: MonitoringPaths) -> None:
        self._owner = owner
        self.health = owner.cloudeye.health

    def interval(self) -> float:
        return self._owner.interval()

    def refresh(self) -> None:
        self._owner.refresh()


class MonitoringPaths:
    """The ``monitoring`` source: per-desktop calls or Cloud Eye, chosen every pass."""

    name = "monitoring"
    scope: Scope = "shard"

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
        self._rate = rate  # effective desktop_monitor calls/min (lowered after throttling)
        self._lock = threading.Lock()
        self._on_cloudeye = False
        self._decided = False
        self._refused_at: float | None = None  # monotonic time Cloud Eye last refused
        apis = {"workspace": per_desktop.apis, "cloudeye": cloudeye.apis}
        self.apis: tuple[str, ...] = apis.get(config.source, per_desktop.apis + cloudeye.apis)
        self.driver = _Driver(self)
        per_desktop.pause(True)  # until the first pass has chosen

    # ------------------------------------------------------------------ reading

    @property
    def health(self) -> SourceHealth:
        return self.cloudeye.health if self._on_cloudeye else self.per_desktop.health

    @health.setter
    def health(self, value: SourceHealth) -> None:  # the Source contract's attribute: the active one's
        if self._on_cloudeye:
            self.cloudeye.health = value
        else:
            self.per_desktop.health = value

    @property
    def snapshot(self) -> MonitoringSnapshot:
        active, other = self.cloudeye.snapshot, self.per_desktop.snapshot
        if not self._on_cloudeye:
            active, other = other, active
        return active if active.entries or not other.entries else other

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
        with self._lock:
            self.config = config.monitoring
            self._refused_at = None  # new credentials or region: Cloud Eye may answer now
        self.cloudeye.reconfigure(config)
        self.per_desktop.reconfigure(config)
        self.per_desktop.pause(self._on_cloudeye or not self._decided)

    def refresh(self) -> None:
        """One pass: choose the path from the fleet and the effective budget, then refresh
        Cloud Eye when it is the path. Raises what the Cloud Eye refresh raises."""
        cfg = self.config
        if not cfg.enabled:
            return
        inventory = self.cloudeye.wait_for_inventory(max(cfg.interval, 60.0))
        fleet, rate = len(inventory.desktops), self._rate()
        now = self._clock.monotonic()
        refused = self._refused_at is not None and now - self._refused_at < RETRY_CES_S
        use_ces = wants_cloudeye(cfg.source, fleet, rate, cfg.interval, self._on_cloudeye, refused)
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

    def _fell_back(self, cfg: MonitoringConfig, fleet: int, rate: float) -> bool:
        """After a Cloud Eye refresh: back to per-desktop calls (one warning) when Cloud Eye
        refused and the mode allows it. The refusal is then handled, not a failure."""
        refusal = self.cloudeye.unavailable
        if refusal is None or cfg.source != "auto":
            return False
        self._refused_at = self._clock.monotonic()
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
        if self._decided and use_ces == self._on_cloudeye:
            return
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
