"""One row of the source table: everything the exporter knows about one source.

The exporter (:mod:`exporter.app.exporter`) builds a target from a tuple of
:class:`SourceEntry` (:data:`exporter.app.table.SOURCES`), and nothing else names a source:
from the rows it derives which sources to build (:attr:`~SourceEntry.section`,
:attr:`~SourceEntry.scope`), the APIs the self-metrics pre-declare, the runners and the
health they report, readiness, the data version the render cache keys on (a :class:`Stamp`
per source: a new version whenever its snapshot is another object), the data families in
table order, the per-scrape families, and what a reload restarts. docs/architecture.md
describes the fields and lists every file a new source touches.

An entry's factories receive the exporter as a :class:`Wiring`: the target's settings,
clock, budget, client and self-metrics, and the sources by name (``build`` sees those of
the rows before it; ``render``, ``runner`` and ``status`` run once every row is built).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Literal, Protocol, TypeVar

from prometheus_client.core import Metric

from exporter.app.scheduler import PeriodicRunner, Runner
from exporter.clock import Clock
from exporter.config.settings import Config, Settings
from exporter.exposition.lines import Block
from exporter.exposition.selfmetrics import ApiMetrics
from exporter.sources.base import Source
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient

S = TypeVar("S")

# "project": the data are per project, so a sharded project builds the source on shard 0
# only (each record counted once); "shard": every shard builds it.
Scope = Literal["project", "shard"]


class Wiring(Protocol):
    """What an entry's factories may use of the exporter they build for."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def budget(self) -> Budget: ...
    @property
    def api_metrics(self) -> ApiMetrics: ...
    @property
    def client(self) -> WorkspaceClient: ...
    @property
    def stop_event(self) -> threading.Event: ...

    def call_deadline(self) -> float: ...
    def source(self, name: str, kind: type[S]) -> S: ...


class Renderer(Protocol):
    """A source's data families as blocks; ``extra_labels`` (the target's labels, when
    several targets are served) go on every sample of a :class:`~exporter.exposition.lines.Lines`
    block (other families get them when the targets are merged). Only the renderer thread
    calls it, one render at a time, so it may keep caches between renders."""

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]: ...


class Families:
    """The :class:`Renderer` of a pure ``families(snapshot)`` function (nothing before the
    first snapshot)."""

    def __init__(self, snapshot: Callable[[], S | None], families: Callable[[S], list[Metric]]) -> None:
        self._snapshot = snapshot
        self._families = families

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]:
        snap = self._snapshot()
        return [] if snap is None else list(self._families(snap))


def periodic(source: Source, x: Wiring) -> Runner:
    """The default runner: ``source.refresh()`` every ``source.interval()``, with backoff."""
    return PeriodicRunner(source, x.clock, x.stop_event, x.call_deadline, x.client.auth_gate.paused)


def upstream_moved(old: Config, new: Config) -> bool:
    """The default reload trigger: the region, the project or an endpoint changed."""
    return (old.region, old.project_id, old.endpoints) != (new.region, new.project_id, new.endpoints)


_SECTIONS = {f.name for f in fields(Config)}


@dataclass(frozen=True)
class SourceEntry:
    """One source: how to build it, run it, render it, and what it means to the exporter.

    ``name`` is the ``source`` label (``up``, refresh times) and the key every other entry
    and the tests find the source by; the built source's ``name`` must be the same.
    ``section`` names its config section: when that section has an ``enabled`` key, it
    turns the source on and off (read on every render and reload: a disabled source neither
    exports, nor reports health, nor runs); None: always on. A source disabled at start-up
    is built only with ``build_when_disabled`` (so a reload can turn it on). ``apis`` are the
    names from :data:`exporter.apis.APIS` it calls (pre-declared at 0 in the self-metrics),
    or a function of the start-up config. ``scope`` "project": project-wide data, built on
    shard 0 only, so each record is counted once; "shard": built on every shard.

    ``build`` makes the source; ``render`` its data families' :class:`Renderer`;
    ``runner`` the :class:`~exporter.app.scheduler.Runner` that refreshes it and keeps the
    health it reports; ``status`` (optional) its per-scrape self-metric families.
    ``readiness``: the exporter is not ready before this source's first successful refresh
    (or ``web.ready_timeout``). ``kick``: which reloads make its runner refresh at once.
    """

    name: str
    build: Callable[[Wiring], Source]
    render: Callable[[Wiring], Renderer]
    apis: tuple[str, ...] | Callable[[Config], tuple[str, ...]]
    section: str | None = None
    scope: Scope = "shard"
    runner: Callable[[Source, Wiring], Runner] = periodic
    status: Callable[[Wiring], Callable[[], list[Metric]]] | None = None
    readiness: bool = False
    build_when_disabled: bool = False
    kick: Callable[[Config, Config], bool] = upstream_moved

    def __post_init__(self) -> None:
        if self.section is not None and self.section not in _SECTIONS:
            raise ValueError(f"source {self.name}: no config section {self.section!r}")

    def enabled(self, config: Config) -> bool:
        """Whether the source is on in ``config`` (its section's ``enabled``, if it has one)."""
        if self.section is None:
            return True
        return bool(getattr(getattr(config, self.section), "enabled", True))

    def apis_for(self, config: Config) -> tuple[str, ...]:
        return self.apis(config) if callable(self.apis) else self.apis


class Stamp:
    """A version of what ``read`` returns: a new one whenever it returns another object (a
    source replaces its snapshot whole, and keeps it when a refresh changed nothing)."""

    def __init__(self, read: Callable[[], object]) -> None:
        self._read = read
        self._last: object = None
        self._version = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        current = self._read()
        with self._lock:
            if current is not self._last:
                self._last = current  # held, so its id cannot be reused by the next one
                self._version += 1
            return self._version
