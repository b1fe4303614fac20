"""Several projects/regions in one process: one :class:`Exporter` per target, one /metrics.

Each target keeps its own client, budget, sources and runners. Their families are
merged by name; when more than one target is configured (or ``target_labels:
always``), every sample gets ``project_id`` and ``region`` labels so series from
different projects never collide.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from exporter.app.entry import SourceEntry
from exporter.app.exporter import STOP_TIMEOUT, Exporter
from exporter.app.table import SOURCES
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import Settings
from exporter.config.targets import load_targets
from exporter.errors import ConfigError
from exporter.exposition.lines import Block, merge
from exporter.exposition.render import CachedExposition

log = logging.getLogger(__name__)


def _target_key(s: Settings) -> tuple[str, str]:
    return s.config.region, s.config.project_id


class MultiExporter:
    """The process-level exporter: targets, merged exposition, readiness and reload."""

    def __init__(
        self,
        targets: list[Settings],
        clock: Clock = SYSTEM_CLOCK,
        overrides: Callable[[Settings], Settings] = lambda s: s,
        table: tuple[SourceEntry, ...] = SOURCES,
    ) -> None:
        if not targets:
            raise ValueError("at least one target")
        # Command-line flags that override config keys; re-applied on every reload.
        self._overrides = overrides
        self.exporters = [Exporter(s, clock, table) for s in targets]
        label = len(targets) > 1 or targets[0].config.target_labels == "always"
        self._parts = [
            (e, {"project_id": s.config.project_id, "region": s.config.region} if label else {})
            for e, s in zip(self.exporters, targets, strict=True)
        ]
        self.exposition = CachedExposition(self.data, self.live, self.data_version)
        self._reload_lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        """Process-wide settings (web, log) come from the first target; all targets share them."""
        return self.exporters[0].settings

    def data_version(self) -> Hashable:
        return tuple(e.data_version() for e in self.exporters)

    def data(self) -> list[Block]:
        """Every target's data families merged by name (the renderer's input)."""
        return merge([(e.blocks(labels), labels) for e, labels in self._parts])

    def live(self) -> list[Block]:
        """Every target's self-metrics merged by name (read on every scrape)."""
        return merge([(list(e.live_registry.collect()), labels) for e, labels in self._parts])

    def threads(self) -> list[threading.Thread]:
        """The threads the process needs: every target's runners and the renderer."""
        renderer = self.exposition.thread
        return [t for e in self.exporters for t in e.threads()] + ([renderer] if renderer else [])

    def ready(self) -> bool:
        return all(e.ready() for e in self.exporters)

    def start(self) -> None:
        for e in self.exporters:
            e.start()
        # Stopping the exporters (as tests do) also ends the renderer.
        self.exposition.start(self.exporters[0].stop_event)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every target at once; returns within ``timeout`` seconds (one bound for all)."""
        until = time.monotonic() + timeout
        self.exposition.stop()
        for e in self.exporters:
            e.begin_stop()
        for e in self.exporters:
            e.join(until)

    def reload(
        self, path: str | None = None, check: Callable[[Settings], None] | None = None
    ) -> tuple[bool, str]:
        """Re-read the config file; apply it to every target if valid, else keep running as is.

        ``check`` sees the new settings (of the first target) before anything is applied; a
        ConfigError from it rejects the reload like a bad config file (the web config is
        checked this way)."""
        path = path or self.settings.source
        with self._reload_lock:
            try:
                new = [self._overrides(s) for s in load_targets(path)]
                if [_target_key(s) for s in new] != [_target_key(e.settings) for e in self.exporters]:
                    msg = "targets: the list of projects changed; restart the exporter to apply it"
                    raise ConfigError([msg])
                if check is not None:
                    check(new[0])
            except ConfigError as e:
                for e2 in self.exporters:
                    e2.reload_state.successful = False
                for p in e.problems:
                    log.error("config reload rejected, keeping the running config problem=%s", p)
                return False, "config reload rejected: " + "; ".join(e.problems)
            for exporter, settings in zip(self.exporters, new, strict=True):
                exporter.apply(settings)
                exporter.reload_state.successful = True
                exporter.reload_state.last_success = exporter.clock.time()
            log.info("config reloaded file=%s targets=%d", path, len(new))
            return True, "config reloaded"
