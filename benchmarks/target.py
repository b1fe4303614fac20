"""Subprocess: the exporter under test (``python -m benchmarks.target --config FILE``).

Three HTTP servers in one process (pinned to one core with ``--cpu``):

* ``exporter``: what ``workspace-exporter run`` serves, built the way ``cli.serve``
  builds it: ``make_app(multi.exposition, multi.ready, multi.reload, None)`` on
  :class:`exporter.serve.server.HTTPServer`. The only addition is an
  ``X-Bench-Renders`` response header (the exposition's render counter after the
  request) so the driver can tell a cached scrape from one that rendered.
* ``baseline``: the usual approach, prometheus_client's ``make_wsgi_app`` over a
  registry of the same families (``tests.oracle.registry_of``), on the same server class:
  the whole exposition is built (and gzip-compressed when asked) on every scrape.
* ``bench``: ``GET /stats`` (JSON: peak RSS, renders, monitored desktops, data
  changes seen, refresh durations) for the driver, and ``GET /churn`` (publish a
  monitoring snapshot with 20 % of the desktops changed and wake the renderer);
  never scraped for latency.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import threading
import time
from collections.abc import Hashable, Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from prometheus_client import make_wsgi_app

from benchmarks.common import announce, pin, proc_status, wait_for_stop
from exporter.app.multi import MultiExporter
from exporter.config.targets import load_targets
from exporter.logs import setup_logging
from exporter.serve.server import Environ, HTTPServer, StartResponse, WSGIApp, make_app
from exporter.sources.inventory import InventorySource
from exporter.sources.monitoring import MonitoringSnapshot
from exporter.sources.monitoring_paths import MonitoringPaths
from tests.oracle import registry_of


def _parts(multi: MultiExporter) -> dict[str, object]:
    """What the data version is made of, per part (the first target's sources and settings)."""
    e = multi.exporters[0]
    versions = {name: getattr(s.snapshot, "version", None) for name, s in e.sources.items()}
    return {**versions, "settings": id(e.settings)}


class ChangeWatcher(threading.Thread):
    """Counts changes of ``multi.data_version()`` and of its parts (polled every ``period`` s)."""

    def __init__(self, multi: MultiExporter, stop: threading.Event, period: float = 0.25) -> None:
        super().__init__(name="bench-watch", daemon=True)
        self._multi = multi
        self._stop = stop
        self._period = period
        self.changes = 0
        self.by_part: dict[str, int] = dict.fromkeys(_parts(multi), 0)
        self._last: Hashable = multi.data_version()
        self._last_parts = _parts(multi)

    def run(self) -> None:
        while not self._stop.wait(self._period):
            v = self._multi.data_version()
            if v != self._last:
                self._last = v
                self.changes += 1
            parts = _parts(self._multi)
            for k, value in parts.items():
                if value != self._last_parts[k]:
                    self.by_part[k] += 1
            self._last_parts = parts


def with_render_header(app: WSGIApp, multi: MultiExporter) -> WSGIApp:
    def wrapped(environ: Environ, start: StartResponse) -> Iterable[bytes]:
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append((status, headers, exc_info))
            return None

        body = list(app(environ, capture))
        status, headers, exc_info = seen[0]
        start(status, [*headers, ("X-Bench-Renders", str(multi.exposition.renders))], exc_info)
        return body

    return wrapped


SERVING_CPU = [0.0]  # thread CPU seconds the exporter server's workers spent in the app
_LOOP_TID: list[int] = []  # native id of the exporter server's event-loop thread


def time_requests(srv: HTTPServer) -> None:
    """Count the serving CPU of ``srv``: its app calls on the worker threads (SERVING_CPU) and
    its event-loop thread (accept, parse, TLS, write; read from /proc at stats time)."""
    loop = srv._server  # the benchmark instruments the server's threads
    app = loop._app

    def timed(environ: Environ, start: StartResponse) -> Iterable[bytes]:
        c0 = time.thread_time()
        try:
            return app(environ, start)
        finally:
            SERVING_CPU[0] += time.thread_time() - c0

    loop._app = timed
    _LOOP_TID.append(0)

    def remember() -> None:
        native = loop._thread.native_id
        if native is not None:
            _LOOP_TID[0] = native

    threading.Timer(0.5, remember).start()


def _loop_cpu() -> float:
    """CPU seconds of the event-loop thread (utime + stime of /proc/self/task/<tid>/stat)."""
    if not _LOOP_TID or not _LOOP_TID[0]:
        return 0.0
    try:
        fields = Path(f"/proc/self/task/{_LOOP_TID[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(multi: MultiExporter, watcher: ChangeWatcher) -> dict[str, Any]:
    e = multi.exporters[0]
    inv = e.source("inventory", InventorySource).snapshot
    mon = e.source("monitoring", MonitoringPaths).snapshot
    desktops = len(inv.by_id) if inv is not None else 0
    monitored = len(inv.by_id.keys() & mon.entries.keys()) if inv is not None else 0
    mh = e.health("monitoring").status
    ih = e.health("inventory").status
    st = proc_status()
    return {
        "vm_hwm_kb": st.get("VmHWM", 0),
        "vm_rss_kb": st.get("VmRSS", 0),
        "renders": multi.exposition.renders,
        # Whether scrapes serve the current data version (the background render has caught up).
        "exposition_current": multi.exposition.current(),
        "render": dataclasses.asdict(multi.exposition.stats),
        "process_cpu": sum(os.times()[:2]),
        "serving_cpu": SERVING_CPU[0] + _loop_cpu(),
        "data_changes": watcher.changes,
        "data_changes_by_part": watcher.by_part,
        "desktops": desktops,
        "monitored": monitored,
        "inventory_ok": ih.up,
        "monitoring_attempted": mh.attempted,
        "monitoring_up": mh.up,
        "monitoring_last_duration": mh.last_duration,
        "monitoring_last_success": mh.last_success,
    }


def churn(multi: MultiExporter, fraction: float, rng: random.Random) -> dict[str, Any]:
    """Publish a monitoring snapshot with ``fraction`` of the desktops' values changed and wake
    the renderer, so the driver can time scrapes while a real render runs. The source's next
    refresh replaces it with its own data."""
    e = multi.exporters[0]
    renders = multi.exposition.renders
    m = e.source("monitoring", MonitoringPaths)
    entries = dict(m.snapshot.entries)
    for did in rng.sample(sorted(entries), int(len(entries) * fraction)):
        dm = entries[did]
        entries[did] = dataclasses.replace(dm, values=tuple((k, v * 1.01 + 1.0) for k, v in dm.values))
    # The path the snapshot came from (Cloud Eye or per-desktop calls) publishes the churned one.
    source = m.cloudeye if m.cloudeye.snapshot is m.snapshot else m.per_desktop
    source.snapshot = MonitoringSnapshot(MappingProxyType(entries), time.time())
    multi.exposition.poke()
    return {"renders": renders, "changed": int(len(entries) * fraction)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--cpu", type=int, default=None)
    args = p.parse_args()
    pinned = pin(args.cpu)
    targets = load_targets(args.config)
    cfg = targets[0].config
    setup_logging(cfg.log.level, cfg.log.format)
    multi = MultiExporter(targets)
    stop = threading.Event()
    watcher = ChangeWatcher(multi, stop)
    app = make_app(multi.exposition, multi.ready, multi.reload, None)
    exporter_srv = HTTPServer("127.0.0.1", 0, with_render_header(app, multi))
    time_requests(exporter_srv)
    baseline_srv = HTTPServer("127.0.0.1", 0, make_wsgi_app(registry_of(multi)))

    rng = random.Random(20)

    def bench_app(environ: Environ, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path in ("/stats", "/churn"):
            reply = stats(multi, watcher) if path == "/stats" else churn(multi, 0.2, rng)
            data = json.dumps(reply).encode()
            start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        start("404 Not Found", [("Content-Length", "0")])
        return [b""]

    bench_srv = HTTPServer("127.0.0.1", 0, bench_app)
    servers = (exporter_srv, baseline_srv, bench_srv)
    multi.start()
    watcher.start()
    for s in servers:
        s.start()
    try:
        announce(
            {
                "exporter": exporter_srv.url,
                "baseline": baseline_srv.url,
                "bench": bench_srv.url,
                "pinned": pinned,
            }
        )
        wait_for_stop()
    finally:
        stop.set()
        for s in servers:
            s.stop()
        multi.stop()


if __name__ == "__main__":
    main()
