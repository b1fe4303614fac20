"""The fleet sources' rows of the source table (:data:`exporter.app.table.SOURCES`): how
each is built from the exporter's client and config, and which families it renders.

Each is on while its section's ``enabled`` is; like the events and connections sources, one
that was off at start-up is not built by a reload. Their data are project-wide (scope
``project``: shard 0 only).
"""

from __future__ import annotations

from typing import Any

from exporter.app.entry import Families, Renderer, SourceEntry, Wiring
from exporter.exposition import agents, alarms, pools, quotas, tasks, user_events
from exporter.sources.agents import AgentsSource
from exporter.sources.alarms import AlarmsSource
from exporter.sources.base import Source
from exporter.sources.pools import PoolsSource
from exporter.sources.quotas import QuotasSource
from exporter.sources.tasks import TasksSource
from exporter.sources.user_events import UserEventsSource

# name -> (source class, exposition module); the config section has the source's name.
FLEET: dict[str, tuple[type[Any], Any]] = {
    "pools": (PoolsSource, pools),
    "quotas": (QuotasSource, quotas),
    "tasks": (TasksSource, tasks),
    "agents": (AgentsSource, agents),
    "alarms": (AlarmsSource, alarms),
    "user_events": (UserEventsSource, user_events),
}


def entry(name: str) -> SourceEntry:
    """The table row of fleet source ``name``."""
    kind, module = FLEET[name]

    def build(x: Wiring) -> Source:
        source: Source = kind(x.client, getattr(x.settings.config, name), x.clock, x.api_metrics)
        return source

    def render(x: Wiring) -> Renderer:
        source = x.source(name, kind)
        return Families(lambda: source.snapshot, module.families)

    return SourceEntry(name, build, render, kind.apis, section=name, scope="project")
