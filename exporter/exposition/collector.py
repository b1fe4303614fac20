"""The data collector: the upstream-data families of every source, in one render path.

``collect()`` builds every family into a local list before yielding any, so an error
can never cut an exposition in half. The families come from the per-source modules
(:mod:`~exporter.exposition.desktops`, :mod:`~exporter.exposition.connections`,
:mod:`~exporter.exposition.events`); ``desktop_families`` and ``tag_label_name`` are
re-exported for callers that render desktops alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.exposition.desktops import desktop_families, tag_label_name

__all__ = ["DataCollector", "desktop_families", "tag_label_name"]


class DataCollector(Collector):
    """Yields the families ``build`` returns (fresh ones per call, never I/O)."""

    def __init__(self, build: Callable[[], list[Metric]]) -> None:
        self._build = build

    def collect(self) -> Iterator[Metric]:
        yield from self._build()
