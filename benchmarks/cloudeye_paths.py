"""Cloud Eye paths at scale: one full monitoring refresh of a large fleet on v2 and on v1.

``python -m benchmarks.cloudeye_paths`` starts the fake API (exporter/fake) on 127.0.0.1
with 10,000 desktops, once with Cloud Eye's v2 batch query available and once answering
404 (a region without it; the exporter then uses the v1 batch query), and runs the
``monitoring`` source as the exporter builds it (``monitoring.source: auto``, the default
budget) for one pass. Calls are real HTTP exchanges with the fake; time is a simulated
clock that moves only when the request budget makes a call wait, so "time to full
refresh" and "max calls in any minute" are what the default budget allows, independent
of this machine's speed (wall time is printed too). Prints one Markdown table; with
``--write FILE`` also writes it there. Asserts nothing; exit 1 when a path misses the
target (every desktop refreshed within 300 s, at most 200 calls in any minute).
"""

from __future__ import annotations

import argparse
import bisect
import sys
import threading
import time
from dataclasses import dataclass

from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.fake import FakeServer, FakeWorkspace
from exporter.sources.cloudeye import CloudEyeSource
from exporter.sources.inventory import InventorySource
from exporter.sources.monitoring import MonitoringSource
from exporter.sources.monitoring_paths import MonitoringPaths
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver

TARGET_S = 300.0
TARGET_PER_MINUTE = 200


class CallTimes(NullObserver):
    """The client's observer: the simulated time of every answered call, per API."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.times: dict[str, list[float]] = {}

    def request_done(self, api: str, code: str, seconds: float) -> None:
        with self._lock:
            self.times.setdefault(api, []).append(self._clock.monotonic())

    def throttled(self, api: str) -> None:
        pass

    def retried(self, api: str) -> None:
        pass

    def invalid_response(self, api: str) -> None:
        pass


def max_per_minute(times: list[float]) -> int:
    """The most calls inside any 60-second window."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 60.0) - i for i, t in enumerate(times)), default=0)


@dataclass
class Result:
    ces_v2: str
    path: str
    desktops: int
    monitored: int
    calls: int
    max_per_minute: int
    seconds: float
    wall: float

    @property
    def ok(self) -> bool:
        return (
            self.monitored == self.desktops
            and self.seconds <= TARGET_S
            and self.max_per_minute <= TARGET_PER_MINUTE
        )


def _settings(state: FakeWorkspace, url: str) -> Settings:
    raw = {
        "region": state.region,
        "project_id": state.project_id,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "monitoring": {"source": "auto"},  # the defaults: the dimension is discovered
        "log": {"level": "warn"},
    }
    return parse_config(raw, {"HUAWEICLOUD_SDK_AK": state.ak, "HUAWEICLOUD_SDK_SK": state.sk})


def run(desktops: int, ces_v2: str) -> Result:
    state = FakeWorkspace(desktops=desktops)
    state.configure(ces_v2=ces_v2)
    server = FakeServer(state)
    url = server.start()
    try:
        settings = _settings(state, url)
        cfg = settings.config
        clock = FakeClock(time.time())
        calls = CallTimes(clock)
        budget = Budget(cfg.budget, clock)
        client = WorkspaceClient(settings, budget, calls, clock)
        try:
            inventory = InventorySource(client, cfg.inventory, clock, calls, cfg.shard)
            inventory.refresh()
            per_desktop = MonitoringSource(client, cfg.monitoring, clock, calls)
            cloudeye = CloudEyeSource(
                client, cfg.monitoring, clock, calls, lambda: inventory.snapshot, region=cfg.region
            )
            paths = MonitoringPaths(
                per_desktop,
                cloudeye,
                cfg.monitoring,
                clock,
                lambda: budget.rate_for("desktop_monitor"),
            )
            start, wall = clock.monotonic(), time.monotonic()
            first = {api: len(t) for api, t in calls.times.items()}
            paths.refresh()
            elapsed, wall = clock.monotonic() - start, time.monotonic() - wall
            times = [
                t
                for api, ts in calls.times.items()
                if api != "desktops_detail"
                for t in ts[first.get(api, 0) :]
            ]
            return Result(
                ces_v2,
                paths.path or "-",
                desktops,
                len(paths.snapshot.entries),
                len(times),
                max_per_minute(times),
                elapsed,
                wall,
            )
        finally:
            client.close()
    finally:
        server.stop()


def table(results: list[Result]) -> str:
    lines = [
        "| Cloud Eye v2 in the region | path | desktops | desktops refreshed | calls "
        "| max calls in any minute | time to full refresh (simulated) | wall time | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.ces_v2} | {r.path} | {r.desktops:,} | {r.monitored:,} | {r.calls} | {r.max_per_minute} "
            f"| {r.seconds:.0f} s | {r.wall:.1f} s | {'met' if r.ok else 'MISSED'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktops", type=int, default=10_000)
    parser.add_argument("--write", metavar="FILE", help="also write the table to FILE")
    args = parser.parse_args(argv)
    results = [run(args.desktops, "available"), run(args.desktops, "404")]
    out = table(results)
    print(out)
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(out + "\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
