"""The demo's scenarios that act on the exporter or its Prometheus, not on the fake API.

The fake can throttle, fail or quieten its API; some alerts are about the exporter itself
(WorkspaceDataStale, WorkspaceConfigReloadFailed) or about Prometheus losing it
(WorkspaceExporterDown, WorkspaceExporterAbsent). ``workspace-exporter demo`` registers
the hooks below with the simulated office (``Simulation.hooks``), so these scenarios start
and end like the others (``--scenario``, ``POST /_fake/scenario``):

* ``data-stale`` and ``config-reload-failed`` rewrite the demo's config file and reload it
  (:class:`DemoConfig`): ``events.interval: 1h`` (an interval the alert thresholds were not
  raised for: the events data grows old while the source reports up), or a key the exporter
  refuses (the reload is rejected and the running config kept). The end writes the file back
  and reloads it; the events runner is kicked so its data are fresh at once.
* ``exporter-down`` and ``exporter-absent`` (only with ``--with-prometheus``) rewrite the
  file the demo's Prometheus discovers its target from (:class:`TargetFile`): the target
  moves to a closed port (``up`` 0, same ``instance``), or there is no target at all.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

CONFIG_HEADER = "# Written by `workspace-exporter demo` for its fake Workspace API (fake keys).\n"
STALE_INTERVAL = "1h"
BROKEN_KEY = "broken_by_the_config_reload_failed_scenario"


class _Hook:
    """One scenario's start and end, as the office's scenarios call them: ``switch(name, on)``."""

    def __init__(self, name: str, switch: Callable[[str, bool], None]) -> None:
        self._name, self._switch = name, switch

    def start(self) -> None:
        self._switch(self._name, True)

    def end(self) -> None:
        self._switch(self._name, False)


class DemoConfig:
    """The demo's config file with the config scenarios' changes on top of it.

    ``reload`` re-reads the file into the running exporter (returns whether it was accepted);
    ``kick`` makes one source's runner refresh now.
    """

    def __init__(self, path: Path, reload: Callable[[], bool], kick: Callable[[str], None]) -> None:
        self._path = path
        self._reload = reload
        self._kick = kick
        self._base: str | None = None  # the file before the first change
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def hooks(self) -> dict[str, _Hook]:
        return {name: _Hook(name, self._set) for name in ("data-stale", "config-reload-failed")}

    def _set(self, name: str, on: bool) -> None:
        with self._lock:
            if self._base is None:
                self._base = self._path.read_text("utf-8")
            if on:
                self._active.add(name)
            else:
                self._active.discard(name)
            self._path.write_text(self._text(self._base), "utf-8")
            accepted = self._reload()
            if not self._active:
                self._base = None  # nothing on top: later edits of the file are the user's
        log.info(
            "demo scenario changed the config file scenario=%s active=%s reload_accepted=%s",
            name,
            on,
            accepted,
        )
        if name == "data-stale" and not on:
            self._kick("events")

    def _text(self, base: str) -> str:
        text = base
        if "data-stale" in self._active:
            doc = yaml.safe_load(base)
            doc.setdefault("events", {})["interval"] = STALE_INTERVAL
            text = CONFIG_HEADER + yaml.safe_dump(doc, sort_keys=False)
        if "config-reload-failed" in self._active:
            text += "# An unknown key: the reload is rejected, the running config is kept.\n"
            text += f"{BROKEN_KEY}: true\n"
        return text


class TargetFile:
    """The file_sd target file of the demo's Prometheus: the exporter, moved or removed by
    the ``exporter-down`` and ``exporter-absent`` scenarios."""

    def __init__(self, path: Path, address: str, closed: str, job_labels: dict[str, str]) -> None:
        self.path = path
        self._address = address
        self._closed = closed  # a loopback port nothing listens on
        self._labels = {"instance": address, **job_labels}  # the instance stays when the port moves
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._write()

    def hooks(self) -> dict[str, _Hook]:
        return {name: _Hook(name, self._set) for name in ("exporter-down", "exporter-absent")}

    def _set(self, name: str, on: bool) -> None:
        with self._lock:
            if on:
                self._active.add(name)
            else:
                self._active.discard(name)
            self._write()
        log.info("demo scenario changed the Prometheus target scenario=%s active=%s", name, on)

    def _write(self) -> None:
        if "exporter-absent" in self._active:
            groups: list[dict[str, object]] = []
        else:
            target = self._closed if "exporter-down" in self._active else self._address
            groups = [{"targets": [target], "labels": self._labels}]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2) + "\n", "utf-8")
        tmp.replace(self.path)  # Prometheus never reads half a file
