"""The fleet sources' rows of the source table (:data:`exporter.app.exporter.SOURCES`): how
each is built from the exporter's client and config, and which families it renders.

Each is on while its section's ``enabled`` is; like the events and connections sources, one
that was off at start-up is not built by a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from prometheus_client.core import Metric

from exporter.clock import Clock
from exporter.config.settings import Config, Settings
from exporter.exposition import agents, alarms, pools, quotas, tasks, user_events
from exporter.sources.agents import AgentsSource
from exporter.sources.alarms import AlarmsSource
from exporter.sources.base import Source
from exporter.sources.fleet_common import FleetClient, FleetSink
from exporter.sources.pools import PoolsSource
from exporter.sources.quotas import QuotasSource
from exporter.sources.tasks import TasksSource
from exporter.sources.user_events import UserEventsSource

S = TypeVar("S")


class Exporter(Protocol):
    """What a fleet row uses of :class:`exporter.app.exporter.Exporter`."""

    settings: Settings
    clock: Clock

    @property
    def client(self) -> FleetClient: ...

    @property
    def api_metrics(self) -> FleetSink: ...

    def source(self, name: str, kind: type[S]) -> S: ...


# name -> (source class, exposition module); the config section has the source's name.
FLEET: dict[str, tuple[type[Any], Any]] = {
    "pools": (PoolsSource, pools),
    "quotas": (QuotasSource, quotas),
    "tasks": (TasksSource, tasks),
    "agents": (AgentsSource, agents),
    "alarms": (AlarmsSource, alarms),
    "user_events": (UserEventsSource, user_events),
}


def on(name: str) -> Callable[[Config], bool]:
    """Whether section ``name`` is enabled."""
    return lambda c: bool(getattr(c, name).enabled)


def build(name: str) -> Callable[[Exporter], Source]:
    kind = FLEET[name][0]

    def make(x: Exporter) -> Source:
        source: Source = kind(x.client, getattr(x.settings.config, name), x.clock, x.api_metrics)
        return source

    return make


def families(name: str) -> Callable[[Exporter], list[Metric]]:
    kind, module = FLEET[name]

    def render(x: Exporter) -> list[Metric]:
        out: list[Metric] = module.families(x.source(name, kind).snapshot)
        return out

    return render
