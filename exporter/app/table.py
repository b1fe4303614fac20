"""The source table: one :class:`~exporter.app.entry.SourceEntry` per source, in the order
their families are exported, and each source's factories in long hand.

This is the only place that wires a source to the exporter: a new source is a row here
(with its factories) and the modules it brings; docs/architecture.md lists every file it
touches. What each field means is :class:`~exporter.app.entry.SourceEntry`'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import Metric

from exporter.app import fleet
from exporter.app.desktop_runner import MonitoringRunner
from exporter.app.entry import Families, Renderer, SourceEntry, Wiring, upstream_moved
from exporter.app.scheduler import PeriodicRunner, Runner, Together
from exporter.config.settings import Config
from exporter.exposition import connections as connection_exposition
from exporter.exposition import events as event_exposition
from exporter.exposition.desktop_lines import InfoLines, MonitoringLines
from exporter.exposition.selfmetrics import MonitoringStatus
from exporter.sources.base import Source
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.connections import ConnectionsSource
from exporter.sources.events import OPS_API, EventsSource
from exporter.sources.inventory import InventorySource
from exporter.sources.monitoring import MonitoringSource
from exporter.sources.monitoring_paths import MonitoringPaths, apis_for

# ----------------------------------------------------------------------------- inventory


def _inventory(x: Wiring) -> InventorySource:
    return x.source("inventory", InventorySource)


def _build_inventory(x: Wiring) -> InventorySource:
    cfg = x.settings.config
    return InventorySource(x.client, cfg.inventory, x.clock, x.api_metrics, cfg.shard)


def _render_inventory(x: Wiring) -> Renderer:
    inventory = _inventory(x)
    return InfoLines(lambda: inventory.snapshot, lambda: x.settings.config.inventory)


# ---------------------------------------------------------------------------- monitoring


def _monitoring(x: Wiring) -> MonitoringPaths:
    """One source, two paths: per-desktop calls and Cloud Eye (sources/monitoring_paths.py)."""
    cfg = x.settings.config
    inventory = _inventory(x)

    def effective_rate() -> float:  # lowered after a 429, unlike rate_for
        state = x.budget.state().get("desktop_monitor")
        return state.effective_per_minute if state else x.budget.rate_for("desktop_monitor")

    # The per-desktop pace (and with it the pass deadline and how long values live) follows the
    # rate the budget allows now: while throttled the calls back off, and a pass that is slow
    # because it backed off neither turns `up` to 0 nor lets values expire.
    per_desktop = MonitoringSource(
        x.client,
        cfg.monitoring,
        x.clock,
        x.api_metrics,
        effective_rate,
        configured_rate=lambda: x.budget.rate_for("desktop_monitor"),
    )
    cloudeye = CloudEyeSource(
        x.client, cfg.monitoring, x.clock, x.api_metrics, lambda: inventory.snapshot, x.stop_event, cfg.region
    )
    # The configured rate, not the one lowered after a 429: throttling backs the calls off,
    # it does not move the path.
    return MonitoringPaths(
        per_desktop, cloudeye, cfg.monitoring, x.clock, lambda: x.budget.rate_for("desktop_monitor")
    )


def _monitoring_runners(source: Source, x: Wiring) -> Runner:
    """Per-desktop calls (paused while Cloud Eye serves) and the pass choosing the path,
    reporting the active path's health."""
    paths = x.source(source.name, MonitoringPaths)
    paused = x.client.auth_gate.paused
    per_desktop = MonitoringRunner(
        paths.per_desktop,
        _inventory(x),
        x.clock,
        x.stop_event,
        x.settings.config.budget.max_concurrency,
        call_deadline=x.call_deadline,
        auth_paused=paused,
    )
    driver = paths.driver
    passes = PeriodicRunner(
        driver, x.clock, x.stop_event, x.call_deadline, paused, health=lambda: driver.health
    )
    return Together("refresh-monitoring-paths", lambda: paths.health, per_desktop, passes)


def _render_monitoring(x: Wiring) -> Renderer:
    paths, inventory = x.source("monitoring", MonitoringPaths), _inventory(x)
    return MonitoringLines(lambda: paths.snapshot, lambda: inventory.snapshot)


def _monitoring_status(x: Wiring) -> Callable[[], list[Metric]]:
    paths, inventory = x.source("monitoring", MonitoringPaths), _inventory(x)
    return MonitoringStatus(lambda: inventory.snapshot, lambda: paths.snapshot, lambda: paths.path)


def _path_or_upstream_moved(old: Config, new: Config) -> bool:
    # A new monitoring.source: choose the path now, not one interval later.
    return upstream_moved(old, new) or old.monitoring.source != new.monitoring.source


# ------------------------------------------------------------------ events and connections


def _build_events(x: Wiring) -> EventsSource:
    return EventsSource(
        x.client, x.settings.config.events, x.clock, x.api_metrics, lambda: x.budget.rate_for(OPS_API)
    )


def _render_events(x: Wiring) -> Renderer:
    events = x.source("events", EventsSource)
    return Families(lambda: events.snapshot, event_exposition.families)


def _build_connections(x: Wiring) -> ConnectionsSource:
    return ConnectionsSource(x.client, x.settings.config.connections, x.clock, x.api_metrics)


def _render_connections(x: Wiring) -> Renderer:
    connections = x.source("connections", ConnectionsSource)
    return Families(lambda: connections.snapshot, connection_exposition.families)


SOURCES: tuple[SourceEntry, ...] = (
    # Each shard keeps the desktops it owns; readiness waits for the first inventory.
    SourceEntry(
        "inventory",
        _build_inventory,
        _render_inventory,
        InventorySource.apis,
        section="inventory",
        readiness=True,
    ),
    # One call per desktop of the shard's inventory, or Cloud Eye queries of those desktops;
    # built while disabled so that a reload can turn it on.
    SourceEntry(
        "monitoring",
        _monitoring,
        _render_monitoring,
        lambda c: apis_for(c.monitoring.source),
        section="monitoring",
        runner=_monitoring_runners,
        status=_monitoring_status,
        build_when_disabled=True,
        kick=_path_or_upstream_moved,
    ),
    # Recordings and records are per project: a sharded project counts them once (shard 0).
    SourceEntry(
        "events", _build_events, _render_events, EventsSource.apis, section="events", scope="project"
    ),
    SourceEntry(
        "connections",
        _build_connections,
        _render_connections,
        ConnectionsSource.apis,
        section="connections",
        scope="project",
    ),
    # Fleet capacity and health, project-wide (exporter/app/fleet.py).
    *(fleet.entry(name) for name in fleet.FLEET),
)
