"""The two measurement phases of ``benchmarks.run``.

Phase A (per source and fleet size): scrape latency. The exporter is populated fast
(raised budget), then scraped back to back; the same bytes are served by a static
server (the floor); the exposition is built per scrape by prometheus_client (the
usual approach); a scrape sent right after a data change (the target's ``/churn``) is
timed while the background render runs; peak RSS is read from /proc.

Phase B (default budget, real time, all runs concurrently): upstream calls with a
1 s and a 60 s scrape interval; the default-budget refresh pace of both sources at
the largest size; how often the data changes (and so how often a scrape renders).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import Child, deadline_loop
from benchmarks.measure import Client, Reply, summary

SOURCES = ("workspace", "cloudeye")
TARGET_MODULE = "benchmarks.target"  # the exporter subprocess (a variant can be swapped in to try a fix)
# Phase A only: budget raised so 10,000 desktops populate in about a minute instead of 100.
POPULATE_BUDGET: dict[str, Any] = {
    "burst": 1000,
    "max_concurrency": 8,
    "per_api": {
        "desktops_detail": 100000,
        "desktop_monitor": 100000,
        "ces_batch_v2": 100000,
        "ces_metrics": 100000,
    },
}


@dataclass
class Options:
    sizes: list[int]
    scrapes: int
    misses: int
    build_seconds: float
    window: float
    budget_size: int
    cloudeye_timeout: float
    server_cpu: int | None
    client_cpu: int | None
    log_dir: Path
    progress: Callable[[str], None] = print


def exporter_config(fake: dict[str, Any], source: str, populate: bool) -> dict[str, Any]:
    """Defaults everywhere except the fake's endpoints, quiet logs and (phase A) the budget."""
    url = fake["url"]
    raw: dict[str, Any] = {
        "region": fake["region"],
        "project_id": fake["project_id"],
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "monitoring": {"source": source},
        "web": {"listen_address": "127.0.0.1:0"},
        "log": {"level": "warn"},
    }
    if populate:
        raw["budget"] = POPULATE_BUDGET
    return raw


def _env(fake: dict[str, Any]) -> dict[str, str]:
    return {"HUAWEICLOUD_SDK_AK": fake["ak"], "HUAWEICLOUD_SDK_SK": fake["sk"]}


def _start_fake(name: str, n: int, cpu: int | None, log_dir: Path) -> tuple[Child, dict[str, Any]]:
    argv = ["-m", "benchmarks.fakeapi", "--desktops", str(n)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    child = Child(name, argv, None, log_dir)
    return child, child.ready(180)


def _start_target(
    name: str, fake: dict[str, Any], source: str, populate: bool, cpu: int | None, work: Path, log_dir: Path
) -> tuple[Child, dict[str, Any], Path]:
    cfg = work / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(exporter_config(fake, source, populate)))
    argv = ["-m", TARGET_MODULE, "--config", str(cfg)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    child = Child(name, argv, _env(fake), log_dir)
    return child, child.ready(120), cfg


def _wait_populated(bench: Client, n: int, timeout: float, interval: float, what: str) -> dict[str, Any]:
    """Wait until all ``n`` desktops have monitoring data and scrapes serve it (the background
    render has caught up); returns the target's last ``/stats``."""

    def populated() -> dict[str, Any] | None:
        st: dict[str, Any] = bench.json("/stats")
        full = st["desktops"] == n and st["monitored"] >= n
        return st if full and st["exposition_current"] else None

    result: dict[str, Any] = deadline_loop(populated, timeout, interval, what)
    return result


def _start_floor(name: str, plain: Reply, gzip: Reply, work: Path, opt: Options) -> tuple[Child, Client]:
    """The static server sending the bytes of ``plain`` and ``gzip`` (the exporter's scrapes)."""
    plain_path, gzip_path = work / f"{name}.txt", work / f"{name}.txt.gz"
    plain_path.write_bytes(plain.body)
    gzip_path.write_bytes(gzip.body)
    argv = ["-m", "benchmarks.floor", "--plain", str(plain_path), "--gzip", str(gzip_path)]
    argv += ["--content-type", plain.headers.get("content-type", "text/plain")]
    if opt.server_cpu is not None:
        argv += ["--cpu", str(opt.server_cpu)]
    child = Child(name, argv, None, opt.log_dir)
    return child, Client(child.ready(60)["url"])


def _renders(reply: Reply) -> int:
    return int(reply.headers.get("x-bench-renders", "-1"))


def _series(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


# --------------------------------------------------------------------------- phase A


def latency_case(source: str, n: int, opt: Options) -> dict[str, Any]:
    """Scrape latency, floor, per-scrape build, render-on-change and peak RSS for one size."""
    say = opt.progress
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="wsbench-") as tmp:
        work = Path(tmp)
        try:
            fake_child, fake = _start_fake(f"fake-{source}-{n}", n, opt.client_cpu, opt.log_dir)
            children.append(fake_child)
            t0 = time.monotonic()
            target, urls, _ = _start_target(
                f"exporter-{source}-{n}", fake, source, True, opt.server_cpu, work, opt.log_dir
            )
            children.append(target)
            bench = Client(urls["bench"])
            fake_api = Client(fake["url"])

            try:
                _wait_populated(bench, n, 900, 0.5, f"{source}/{n}: every desktop monitored")
            except TimeoutError as e:
                raise RuntimeError(f"{e}\n{target.log_tail()}") from e
            populate_s = time.monotonic() - t0
            calls_populate = fake_api.json("/_fake/calls")
            violations = fake_api.json("/_fake/violations")  # requests that broke a constraint
            say(f"  {source} {n}: populated in {populate_s:.1f}s, calls {calls_populate}")

            exp = Client(urls["exporter"])
            base = Client(urls["baseline"])
            # The first scrapes after populating render the data (plain) and compress it (gzip).
            first_plain = exp.get("/metrics")
            first_gzip = exp.get("/metrics", gzip=True)
            floor_child, floor = _start_floor(f"floor-{source}-{n}", first_plain, first_gzip, work, opt)
            children.append(floor_child)

            result: dict[str, Any] = {
                "source": source,
                "desktops": n,
                "series": _series(first_plain.body),
                "body_bytes": len(first_plain.body),
                "gzip_bytes": len(first_gzip.body),
                "populate_seconds": populate_s,
                "populate_calls": calls_populate,
                "violations": violations,
                "first_scrape_ms": {"plain": first_plain.seconds * 1000, "gzip": first_gzip.seconds * 1000},
            }
            for gz in (False, True):
                key = "gzip" if gz else "plain"
                fpath = "/gzip" if gz else "/plain"
                exp.get("/metrics", gz)  # warm-ups, not timed
                floor.get(fpath, gz)
                hits: list[float] = []
                floor_s: list[float] = []
                rendered = 0
                last = _renders(exp.get("/metrics", gz))
                for i in range(opt.scrapes):
                    # Alternate which server goes first, so drift on a noisy machine hits both.
                    order = (0, 1) if i % 2 == 0 else (1, 0)
                    for which in order:
                        if which == 0:
                            r = exp.get("/metrics", gz)
                            now = _renders(r)
                            if now != last:
                                rendered += 1  # the data changed meanwhile; not a cached scrape
                            else:
                                hits.append(r.seconds)
                            last = now
                        else:
                            floor_s.append(floor.get(fpath, gz).seconds)
                result[f"exporter_{key}"] = {**summary(hits), "rendered_during_block": rendered}
                result[f"floor_{key}"] = summary(floor_s)

            # The scrape right after a data change: /churn publishes a snapshot with 20 % of the
            # desktops changed and wakes the renderer; the scrape is sent at once, while it renders.
            for gz in (False, True):
                key = "gzip" if gz else "plain"
                after: list[float] = []
                previous = 0
                for _ in range(opt.misses):
                    renders = bench.json("/churn")["renders"]
                    r = exp.get("/metrics", gz)
                    after.append(r.seconds)
                    previous += _renders(r) == renders
                    deadline_loop(lambda: bench.json("/stats")["exposition_current"], 60, 0.1, "churn render")
                result[f"changed_{key}"] = {**summary(after), "served_previous_bytes": previous}

            result["peak_rss_kb"] = bench.json("/stats")["vm_hwm_kb"]

            # The usual approach: build the exposition on every scrape (bounded by time).
            for gz in (False, True):
                key = "gzip" if gz else "plain"
                base.get("/metrics", gz)  # warm-up
                build: list[float] = []
                t_end = time.monotonic() + opt.build_seconds
                while len(build) < opt.scrapes and (len(build) < 5 or time.monotonic() < t_end):
                    build.append(base.get("/metrics", gz).seconds)
                result[f"build_{key}"] = summary(build)
            result["peak_rss_with_build_kb"] = bench.json("/stats")["vm_hwm_kb"]
            result["pinned"] = bool(urls.get("pinned"))
            for client in (exp, base, floor, bench, fake_api):
                client.close()
            return result
        finally:
            for child in reversed(children):
                child.stop()


# --------------------------------------------------------------------------- phase B


@dataclass
class BudgetRun:
    name: str
    kind: str  # "independence" or "pace"
    source: str
    desktops: int
    scrape_every: float
    fake: Child | None = None
    target: Child | None = None
    urls: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    next_scrape: float = 0.0
    done: bool = False
    scrapes: list[tuple[float, float, int]] = field(default_factory=list)  # (t, seconds, renders)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (t, total upstream calls)
    monitor_samples: list[tuple[float, int]] = field(default_factory=list)  # (t, desktop_monitor calls)
    final_calls: dict[str, int] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _total(calls: dict[str, int]) -> int:
    return sum(calls.values())


def _max_per_window(samples: list[tuple[float, int]], window: float = 60.0) -> int:
    """Largest number of calls seen in any ``window`` seconds (1 s sampling)."""
    best = 0
    j = 0
    for i in range(len(samples)):
        while samples[i][0] - samples[j][0] > window:
            j += 1
        # calls in (t_j_prev, t_i]: count since the sample before j (or 0 at the start)
        base = samples[j - 1][1] if j > 0 else 0
        best = max(best, samples[i][1] - base)
    return best


def _rate_last(samples: list[tuple[float, int]], window: float) -> float | None:
    """Calls per minute over the last ``window`` seconds of ``samples`` (steady state, after start-up)."""
    if len(samples) < 2 or samples[-1][0] - samples[0][0] < window:
        return None
    t1, c1 = samples[-1]
    t0, c0 = next(s for s in samples if s[0] >= t1 - window)
    return (c1 - c0) * 60.0 / (t1 - t0) if t1 > t0 else None


def budget_runs(opt: Options) -> dict[str, Any]:
    """Run every phase-B exporter at once under the default budget; see the module docstring."""
    say = opt.progress
    small = min(opt.sizes)
    runs = [
        BudgetRun(f"{src}-{small}-every-{every:g}s", "independence", src, small, every)
        for src in SOURCES
        for every in (1.0, 60.0)
    ]
    runs += [
        BudgetRun(f"{src}-{opt.budget_size}-pace", "pace", src, opt.budget_size, 15.0) for src in SOURCES
    ]
    with tempfile.TemporaryDirectory(prefix="wsbench-b-") as tmp:
        work = Path(tmp)
        try:
            fakes = []
            for r in runs:
                r.fake, info = _start_fake(f"b-fake-{r.name}", r.desktops, None, opt.log_dir)
                fakes.append(info)
            for r, info in zip(runs, fakes, strict=True):
                r.target, r.urls, _ = _start_target(
                    f"b-exporter-{r.name}", info, r.source, False, None, work, opt.log_dir
                )
                r.urls["fake"] = info["url"]
                r.started = time.monotonic()
                r.next_scrape = r.started
            say(f"  phase B: {len(runs)} exporters running under the default budget")
            clients = {
                r.name: (Client(r.urls["exporter"]), Client(r.urls["bench"]), Client(r.urls["fake"]))
                for r in runs
            }
            hard_end = time.monotonic() + max(opt.window, opt.cloudeye_timeout) + 30
            tick = time.monotonic()
            while not all(r.done for r in runs) and time.monotonic() < hard_end:
                tick += 1.0
                for r in runs:
                    if r.done:
                        continue
                    exp, bench, fake = clients[r.name]
                    now = time.monotonic()
                    t = now - r.started
                    if now >= r.next_scrape and t < opt.window:
                        reply = exp.get("/metrics")
                        r.scrapes.append((t, reply.seconds, _renders(reply)))
                        r.next_scrape += r.scrape_every
                    calls = fake.json("/_fake/calls")
                    r.samples.append((t, _total(calls)))
                    r.monitor_samples.append((t, calls.get("desktop_monitor", 0)))
                    if r.kind == "independence" or r.source == "workspace":
                        if t >= opt.window:
                            r.final_calls = calls
                            r.result = {"stats": bench.json("/stats"), "seconds": t}
                            r.done = True
                    else:  # cloudeye pace: until the first full refresh is published
                        st = bench.json("/stats")
                        complete = st["monitoring_attempted"] and st["monitored"] >= r.desktops
                        if complete and "full_refresh_at" not in r.extra:
                            r.extra["full_refresh_at"] = t
                            r.extra["full_refresh_stats"] = st
                        if (complete and t >= opt.window) or t >= opt.cloudeye_timeout:
                            r.final_calls = calls
                            r.result = {"stats": st, "seconds": t, "timed_out": not complete}
                            r.done = True
                time.sleep(max(0.0, tick - time.monotonic()))
            for exp, bench, fake in clients.values():
                exp.close()
                bench.close()
                fake.close()
        finally:
            for r in runs:
                for c in (r.target, r.fake):
                    if c is not None:
                        c.stop()
    out: dict[str, Any] = {"window_seconds": opt.window, "runs": []}
    for r in runs:
        rendered = 0
        prev = None
        for _, _, renders in r.scrapes:
            if prev is not None and renders > prev:
                rendered += 1
            prev = renders
        seconds = r.result.get("seconds", 0.0)
        stats = r.result.get("stats", {})
        out["runs"].append(
            {
                "name": r.name,
                "kind": r.kind,
                "source": r.source,
                "desktops": r.desktops,
                "scrape_every_s": r.scrape_every,
                "scrapes": len(r.scrapes),
                "scrapes_that_rendered": rendered,
                "seconds": seconds,
                "calls": r.final_calls,
                "max_calls_per_minute": _max_per_window(r.samples),
                "desktop_monitor_per_minute_last_60s": _rate_last(r.monitor_samples, 60.0),
                "data_changes": stats.get("data_changes"),
                "data_changes_by_part": stats.get("data_changes_by_part"),
                "data_changes_per_minute": (stats.get("data_changes", 0) * 60.0 / seconds)
                if seconds
                else None,
                "monitored": stats.get("monitored"),
                "monitoring_last_duration": stats.get("monitoring_last_duration"),
                "full_refresh_at": r.extra.get("full_refresh_at"),
                "full_refresh_stats": r.extra.get("full_refresh_stats"),
                "timed_out": bool(r.result.get("timed_out")),
                "peak_rss_kb": stats.get("vm_hwm_kb"),
            }
        )
    return out


# --------------------------------------------------------------------------- computed


def _ces_upper_bound(n: int) -> int:
    """Cloud Eye v2 calls of one refresh at most: per metric, pages until an empty one."""
    return 12 * (math.ceil(n / 1000) + 1)


def computed_cost(source: str, n: int, ces_pages: int | None = None) -> dict[str, Any]:
    """Upstream calls per hour and one full refresh at the default settings, from the budget.

    Defaults: inventory every 5 min (500 desktops a page, 60/min), monitoring every 5 min
    (desktop_monitor 100/min, paced at 90/min when the fleet needs longer than 5 min, or
    ces_batch_v2 100/min with 1,000 datapoints a page),
    connections and screen-records polls every minute, token buckets of burst 5.
    ``ces_pages``: Cloud Eye calls one refresh was measured to take (the formula
    12 × (⌈N/1000⌉+1), pages until an empty one, is an upper bound: a metric only some
    desktops report needs fewer pages).
    """
    burst = 5
    pages = max(1, math.ceil(n / 500))
    per_hour: dict[str, float] = {"desktops_detail": 12 * pages, "connections": 60, "screen_records": 60}
    inventory_s = max(0, pages - burst) * 60.0 / 60.0
    if source == "workspace":
        # The first pass runs at the full budget; later passes are paced at 90 % of it
        # when the fleet is larger than the budget covers in 5 minutes (MonitoringSource.interval).
        per_hour["desktop_monitor"] = min(12 * n, 0.9 * 100 * 60)
        calls_per_refresh = n
        refresh_s = inventory_s + max(0, n - burst) * 60.0 / 100.0
        cycle_s = max(300.0, n * 60.0 / 90.0)
    else:
        calls_per_refresh = ces_pages if ces_pages else _ces_upper_bound(n)
        per_hour["ces_batch_v2"] = 12 * calls_per_refresh
        refresh_s = inventory_s + max(0, calls_per_refresh - burst) * 60.0 / 100.0
        cycle_s = 300.0
    return {
        "ces_pages_upper_bound": _ces_upper_bound(n),
        "inventory_pages": pages,
        "monitoring_calls_per_refresh": calls_per_refresh,
        "calls_per_hour": per_hour,
        "calls_per_hour_total": sum(per_hour.values()),
        "full_refresh_seconds": refresh_s,
        "refresh_every_seconds": cycle_s,
    }
