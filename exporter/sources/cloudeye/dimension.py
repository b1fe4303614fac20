"""The Cloud Eye dimension that carries the desktop id.

``monitoring.cloudeye_dimension`` when set; else it is discovered once per namespace from
Cloud Eye's metric list (the most common dimension name on its first page), falling back
to :data:`FALLBACK_DIMENSION` while the list is empty or cannot be read.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from exporter.config.settings import MonitoringConfig
from exporter.errors import ShutdownError, UpstreamError
from exporter.sources.base import failure_key

log = logging.getLogger(__name__)

DISCOVERY_API = "ces_metrics"
FALLBACK_DIMENSION = "instance_id"


class MetricListClient(Protocol):
    def ces_list_metrics(self, namespace: str, max_pages: int = ...) -> list[dict[str, Any]]: ...


def most_common_dimension(entries: Iterable[Mapping[str, Any]]) -> str | None:
    """The dimension name used most often in ListMetrics entries, or None when there is none."""
    names: Counter[str] = Counter()
    for entry in entries:
        dims = entry.get("dimensions")
        if not isinstance(dims, list):
            continue
        for d in dims:
            if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"]:
                names[d["name"]] += 1
    return names.most_common(1)[0][0] if names else None


class DimensionFinder:
    """The dimension in use for one source: configured, discovered, or the fallback."""

    def __init__(self, client: MetricListClient, namespace: str) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.discovered: str | None = None
        self._namespace = namespace  # the configured one: ``discovered`` belongs to it
        self._fallback_logged = False
        self._failing: tuple[object, ...] | None = None  # the last listing failure's kind

    def reconfigure(self, namespace: str) -> None:
        """A reload set ``namespace``: a dimension discovered in another one is dropped."""
        with self._lock:
            if namespace != self._namespace:
                self.discovered = None
            self._namespace = namespace

    def resolve(self, cfg: MonitoringConfig, errors: list[UpstreamError]) -> str:
        """The dimension for this refresh; a failed discovery is appended to ``errors`` (the
        refresh still runs, on the fallback) and logged once per kind of failure."""
        if cfg.cloudeye_dimension:
            return cfg.cloudeye_dimension
        if self.discovered:
            return self.discovered
        try:
            entries = self._client.ces_list_metrics(cfg.cloudeye_namespace, max_pages=1)
        except ShutdownError:
            raise
        except UpstreamError as e:
            if self._failing != failure_key(e):
                log.warning(
                    "cannot list Cloud Eye metrics to discover the dimension, using a fallback for now "
                    "(set monitoring.cloudeye_dimension to skip discovery) dimension=%s error=%s",
                    FALLBACK_DIMENSION,
                    e,
                )
            self._failing = failure_key(e)
            errors.append(e)
            return FALLBACK_DIMENSION
        self._failing = None
        name = most_common_dimension(entries)
        if name is None:
            if not self._fallback_logged:
                log.warning(
                    "no Cloud Eye metrics in the namespace yet, using a fallback until some appear "
                    "namespace=%s dimension=%s",
                    cfg.cloudeye_namespace,
                    FALLBACK_DIMENSION,
                )
                self._fallback_logged = True
            return FALLBACK_DIMENSION
        with self._lock:
            if self._namespace == cfg.cloudeye_namespace:
                self.discovered = name
        log.info(
            "discovered Cloud Eye dimension name=%s namespace=%s metrics_seen=%d",
            name,
            cfg.cloudeye_namespace,
            len(entries),
        )
        return name
