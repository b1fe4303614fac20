"""Exporter memory with and without desktop tags: does RSS follow what is exported?

    .venv/bin/python -m benchmarks.inventory_memory                  # 10,000 desktops, 0 vs 200 tags
    .venv/bin/python -m benchmarks.inventory_memory --short          # 1,000 desktops (~30 s, CI smoke)
    .venv/bin/python -m benchmarks.inventory_memory --desktops 10000 --tags 0,50,200 --refreshes 3

For each tag count a fresh exporter process (the real ``MultiExporter``, inventory only:
monitoring, connections and events off, ``inventory.tag_labels: [env, team]``) runs against an
upstream served from this process, which generates ``desktops/detail`` and light-list pages
on the fly: every desktop carries ``--tags`` tags (keys shared by the fleet, 24-character keys
and 40-character values unique per desktop, about 80 bytes of JSON a tag), plus ``env`` and
``team``. The child waits until every desktop is in the inventory and the exposition rendered,
lets ``--refreshes`` more inventory refreshes run, and reports its resident memory: ``VmRSS``
then, and ``VmHWM`` (the peak over the whole run). The driver prints both per tag count and
their ratio to the tag-less run; the target of issue 18 is a ratio within 1.5 at 10,000
desktops x 200 tags. Figures vary with load: run it on a quiet machine for the final ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from benchmarks.common import Child, announce, deadline_loop, proc_status, wait_for_stop
from exporter.fake.data import detail_view, make_desktop

PROJECT = "0123456789abcdef0123456789abcdef"
REGION = "ap-southeast-1"
KEPT_TAGS = ("env", "team")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """The exporter child hangs up when it is stopped: not worth a traceback."""


class Upstream:
    """``desktops/detail``, the light list and lookups by id for ``desktops`` desktops with
    ``tags`` tags each, generated per request (nothing but the skeletons is held)."""

    def __init__(self, desktops: int, tags: int) -> None:
        self.desktops = desktops
        self.tags = tags
        self.keys = [f"cost-allocation-key-{j:04d}" for j in range(tags)]  # 24 characters
        self.calls = 0
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1})
        self._thread.daemon = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def desktop(self, index: int) -> str:
        """One desktop's DesktopDetailInfo JSON (its tags spliced in as text: cheap to make)."""
        d = detail_view(make_desktop(0, index + 1, PROJECT, REGION))
        d["tags"] = []
        text = json.dumps(d, separators=(",", ":"))
        tags = [
            '{"key":"env","value":"prod"}',
            f'{{"key":"team","value":"team-{index % 7}"}}',
            *(
                f'{{"key":"{k}","value":"{index:010d}-value-{j:04d}-abcdefghijklmnop"}}'
                for j, k in enumerate(self.keys)
            ),
        ]
        return text.replace('"tags":[]', '"tags":[' + ",".join(tags) + "]")

    def page(self, offset: int, limit: int) -> bytes:
        rows = [self.desktop(i) for i in range(offset, min(self.desktops, offset + limit))]
        return f'{{"total_count":{self.desktops},"desktops":[{",".join(rows)}]}}'.encode()

    def light(self, offset: int, limit: int) -> bytes:
        rows = [
            json.dumps({"desktop_id": json.loads(self.desktop(i))["desktop_id"], "pool_id": ""})
            for i in range(offset, min(self.desktops, offset + limit))
        ]
        return f'{{"total_count":{self.desktops},"desktops":[{",".join(rows)}]}}'.encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                u = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                offset, limit = int(q.get("offset", "0")), int(q.get("limit", "100"))
                with up.lock:
                    up.calls += 1
                if u.path.endswith("/desktops/detail"):
                    body, status = up.page(offset, limit), 200
                elif u.path.endswith("/desktops"):
                    body, status = up.light(offset, limit), 200
                else:  # a lookup by id: nothing is ever missed here
                    body, status = b'{"error_code":"WKS.00211404","error_msg":"not found"}', 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


# ---------------------------------------------------------------------------- the exporter child


def child(url: str, desktops: int, refreshes: int) -> None:
    """The exporter under test: report memory once the inventory is complete and rendered."""
    import dataclasses

    from exporter.app.multi import MultiExporter
    from exporter.config.settings import parse_config
    from exporter.sources.inventory import InventorySource

    raw: dict[str, Any] = {
        "region": REGION,
        "project_id": PROJECT,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "budget": {"burst": 1000, "per_api": {"desktops_detail": 100000, "desktops_list": 100000}},
        "inventory": {"tag_labels": list(KEPT_TAGS)},
        "monitoring": {"enabled": False},
        "connections": {"enabled": False},
        "events": {"enabled": False},
        "log": {"level": "warn"},
    }
    settings = parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AKBENCH0001", "HUAWEICLOUD_SDK_SK": "sk-bench"})
    cfg = settings.config
    fast = dataclasses.replace(cfg, inventory=dataclasses.replace(cfg.inventory, interval=1.0))
    multi = MultiExporter([dataclasses.replace(settings, config=fast)])
    multi.start()
    started = time.monotonic()
    try:
        inventory = multi.exporters[0].source("inventory", InventorySource)
        health = multi.exporters[0].health("inventory")

        def complete() -> bool:
            snap = inventory.snapshot
            return (
                snap is not None and len(snap.desktops) == desktops and multi.exposition.current() is not None
            )

        deadline_loop(complete, timeout=1800, what="a complete inventory")
        filled = time.monotonic() - started
        for _ in range(refreshes):
            done = health.status.last_success

            def refreshed(after: float = done) -> bool:
                return health.status.last_success > after

            deadline_loop(refreshed, 600, what="a refresh")
        status = proc_status()
        announce(
            {
                "rss_kib": status.get("VmRSS", 0),
                "peak_kib": status.get("VmHWM", 0),
                "fill_seconds": round(filled, 1),
                "refresh_seconds": round(health.status.last_duration, 2),
                "desktops": len(inventory.snapshot.desktops) if inventory.snapshot else 0,
            }
        )
        wait_for_stop()
    finally:
        multi.stop()


# ---------------------------------------------------------------------------- driver


def measure(desktops: int, tags: int, refreshes: int, logs: Path) -> dict[str, Any]:
    with Upstream(desktops, tags) as up:
        argv = ["-m", "benchmarks.inventory_memory", "--child", up.url, "--desktops", str(desktops)]
        proc = Child(f"exporter-{tags}-tags", [*argv, "--refreshes", str(refreshes)], None, logs)
        try:
            info = proc.ready(timeout=1800)
        finally:
            proc.stop()
        return {**info, "tags": tags, "upstream_calls": up.calls}


def report(rows: list[dict[str, Any]], desktops: int) -> Iterator[str]:
    base = rows[0]
    yield f"Exporter memory at {desktops:,} desktops (inventory only, tag_labels: {list(KEPT_TAGS)})"
    yield ""
    yield (
        "| tags a desktop | RSS (MiB) | peak RSS (MiB) | RSS ratio | peak ratio | first fill (s) "
        "| refresh (s) |"
    )
    yield "|---|---|---|---|---|---|---|"
    for r in rows:
        yield (
            f"| {r['tags']} | {r['rss_kib'] / 1024:.0f} | {r['peak_kib'] / 1024:.0f} | "
            f"{r['rss_kib'] / base['rss_kib']:.2f} | {r['peak_kib'] / base['peak_kib']:.2f} | "
            f"{r['fill_seconds']} | {r['refresh_seconds']} |"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.inventory_memory", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--desktops", type=int, default=10_000)
    p.add_argument("--tags", default="0,200", help="tag counts to compare, the first is the baseline")
    p.add_argument("--refreshes", type=int, default=3, help="inventory refreshes after the first fill")
    p.add_argument("--short", action="store_true", help="1,000 desktops, one refresh (a smoke run)")
    p.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.desktops, args.refreshes)
        return 0
    if args.short:
        args.desktops, args.refreshes = 1000, 1
    counts = [int(t) for t in args.tags.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-inventory-") as tmp:
        rows = [measure(args.desktops, tags, args.refreshes, Path(tmp)) for tags in counts]
    for line in report(rows, args.desktops):
        print(line)
    worst = max(r["peak_kib"] / rows[0]["peak_kib"] for r in rows)
    print(f"\nworst peak ratio {worst:.2f} (target: within 1.5 at 10,000 desktops x 200 tags)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
