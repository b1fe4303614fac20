"""Phase ``steady`` of ``benchmarks.run`` (what a user of a big fleet sees), and the targets.

Subprocesses, as phase A: the exporter with the default configuration (so data change at
the real pace) against the fake API, scraped once every ``interval`` seconds for
``seconds``, plain and gzip, next to the static floor serving the same bytes, each scrape
timed; then scrapes timed while a render runs; the exporter's CPU seconds over the window
split into render, compression, serving and the rest (upstream refreshes), and peak RSS.
:func:`targets` checks these and the ``render`` phase (:mod:`benchmarks.render`) against
the issue's targets.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Child, deadline_loop
from benchmarks.measure import Client, distribution
from benchmarks.phases import Options, _start_fake, _start_floor, _start_target, _wait_populated
from exporter.sources.monitoring import FIELDS

KEYS = [key for key, _ in FIELDS.values()]
LEVELS = (1, 3, 6, 9)


def _cpu(st: dict[str, Any]) -> dict[str, float]:
    render = st["render"]["render_cpu"]
    compress = st["render"]["compress_cpu"]
    serving = st["serving_cpu"]
    return {
        "total": st["process_cpu"],
        "render": render,
        "compression": compress,
        "serving": serving,
        "upstream_and_rest": st["process_cpu"] - render - compress - serving,
    }


def _during_renders(
    bench: Client, exp: Client, floor: Client, rounds: int
) -> tuple[dict[str, list[float]], int]:
    """Scrapes timed while the exporter renders: each round publishes a changed snapshot
    (``/churn``), then scrapes the exporter and the floor at once (order alternating), then
    waits for the render to finish. Returns the timings and how many exporter scrapes were
    answered with the previous bytes (the render was still running when they were served)."""
    times: dict[str, list[float]] = {k: [] for k in ("exp_plain", "exp_gzip", "floor_plain", "floor_gzip")}
    stale = 0
    for j in range(rounds):
        gz = bool(j % 2)
        kind = "gzip" if gz else "plain"
        renders = bench.json("/churn")["renders"]
        order = ["exp", "floor"] if j % 4 < 2 else ["floor", "exp"]
        for who in order:
            if who == "exp":
                reply = exp.get("/metrics", gz)
                times[f"exp_{kind}"].append(reply.seconds)
                stale += int(reply.headers.get("x-bench-renders", "-1")) == renders
            else:
                times[f"floor_{kind}"].append(floor.get(f"/{kind}", gz).seconds)
        deadline_loop(lambda: bench.json("/stats")["exposition_current"], 30, 0.1, "render after churn")
    return times, stale


def steady_case(source: str, n: int, seconds: float, interval: float, opt: Options) -> dict[str, Any]:
    """One steady scraper against the exporter (default config) and the floor, same run."""
    say = opt.progress
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="wsbench-") as tmp:
        work = Path(tmp)
        try:
            fake_child, fake = _start_fake(f"fake-steady-{n}", n, opt.client_cpu, opt.log_dir)
            children.append(fake_child)
            target, urls, _ = _start_target(
                f"exporter-steady-{n}", fake, source, False, opt.server_cpu, work, opt.log_dir
            )
            children.append(target)
            bench = Client(urls["bench"])

            t0 = time.monotonic()
            _wait_populated(bench, n, 1800, 1.0, f"steady {source}/{n}: every desktop monitored")
            say(f"  steady {source} {n}: populated in {time.monotonic() - t0:.0f}s (default budget)")
            exp = Client(urls["exporter"])
            first_plain, first_gzip = exp.get("/metrics"), exp.get("/metrics", gzip=True)
            floor_child, floor = _start_floor(f"floor-steady-{n}", first_plain, first_gzip, work, opt)
            children.append(floor_child)

            times: dict[str, list[float]] = {
                k: [] for k in ("exp_plain", "exp_gzip", "floor_plain", "floor_gzip")
            }
            sizes: list[int] = []  # plain bodies served in the window (the floor serves the first)
            st0 = bench.json("/stats")
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < seconds:
                tick = start + i * interval
                time.sleep(max(0.0, tick - time.monotonic()))
                order = ["exp_plain", "floor_plain", "exp_gzip", "floor_gzip"]
                if i % 2:
                    order.reverse()
                for key in order:
                    gz = key.endswith("gzip")
                    if key.startswith("exp"):
                        reply = exp.get("/metrics", gz)
                        times[key].append(reply.seconds)
                        if not gz:
                            sizes.append(len(reply.body))
                    else:
                        times[key].append(floor.get("/gzip" if gz else "/plain", gz).seconds)
                i += 1
            window = time.monotonic() - start
            st1 = bench.json("/stats")
            during, stale = _during_renders(bench, exp, floor, rounds=40)
            c0, c1 = _cpu(st0), _cpu(st1)
            per_hour = {k: (c1[k] - c0[k]) * 3600 / window for k in c0}
            result = {
                "source": source,
                "desktops": n,
                "seconds": window,
                "interval": interval,
                "body_bytes": len(first_plain.body),
                "gzip_bytes": len(first_gzip.body),
                "body_bytes_min": min(sizes, default=0),
                "body_bytes_max": max(sizes, default=0),
                "latency": {k: distribution(v) for k, v in times.items()},
                "cpu_seconds_per_hour": per_hour,
                "cpu_percent_of_one_core": per_hour["total"] / 36,
                "renders": st1["render"]["renders"] - st0["render"]["renders"],
                "render_errors": st1["render"]["errors"],
                "last_render_seconds": st1["render"]["last_render_seconds"],
                "last_compress_seconds": st1["render"]["last_compress_seconds"],
                "data_changes": st1["data_changes"] - st0["data_changes"],
                # Scrapes issued at once after a snapshot with 20 % of the desktops changed was
                # published, i.e. while the renderer ran (next to the floor at the same moment).
                "during_render": {k: distribution(v) for k, v in during.items()},
                "during_render_served_previous": stale,
                "vm_hwm_mb": st1["vm_hwm_kb"] / 1024,
            }
            say(f"  steady {source} {n}: {i} scrapes per series in {window:.0f}s")
            return result
        finally:
            for c in reversed(children):
                c.stop()


def _table(title: str, dists: dict[str, dict[str, Any]]) -> list[str]:
    """A markdown table of the four latency distributions (series without scrapes left out)."""
    first = f"| {title} |" if title else "| |"
    rows = [f"{first} p50 | p90 | p99 | max | scrapes > 1 s |", "|---|---|---|---|---|---|"]
    for key, label in (
        ("exp_plain", "exporter, plain"),
        ("floor_plain", "floor, plain"),
        ("exp_gzip", "exporter, gzip"),
        ("floor_gzip", "floor, gzip"),
    ):
        d = dists[key]
        if d["n"]:
            rows.append(
                f"| {label} | {d['p50_ms']:.1f} ms | {d['p90_ms']:.1f} ms | {d['p99_ms']:.1f} ms | "
                f"{d['max_ms']:.1f} ms | {d['over_1s']} of {d['n']} |"
            )
    return rows


def steady_lines(r: dict[str, Any]) -> list[str]:
    lat = r["latency"]
    rows = [
        f"{r['desktops']:,} desktops, `{r['source']}` source, default configuration, one scrape every "
        f"{r['interval']:g} s for {r['seconds'] / 60:.1f} min; {r['data_changes']} data changes, "
        f"{r['renders']} renders (last {r['last_render_seconds']:.3f} s, its gzip "
        f"{r['last_compress_seconds']:.3f} s), {r['render_errors']} render errors.",
        "",
        *_table("", lat),
    ]
    dr = r.get("during_render")
    if dr:
        rows += [
            "",
            f"Scrapes while a render runs: {dr['exp_plain']['n'] + dr['exp_gzip']['n']} rounds, each "
            "publishing a snapshot with 20 % of the desktops changed, then scraping the exporter and "
            f"the floor at once; {r['during_render_served_previous']} exporter scrapes were answered "
            "before that render finished (with the previous bytes).",
            "",
            *_table("during a render", dr),
        ]
    cpu = r["cpu_seconds_per_hour"]
    rows += [
        "",
        "| exporter CPU, s per hour | total | upstream and rest | render | compression | serving |",
        "|---|---|---|---|---|---|",
        f"| | {cpu['total']:.1f} ({r['cpu_percent_of_one_core']:.2f} % of a core) | "
        f"{cpu['upstream_and_rest']:.1f} | {cpu['render']:.1f} | {cpu['compression']:.1f} | "
        f"{cpu['serving']:.1f} |",
        "",
        f"Peak RSS {r['vm_hwm_mb']:.0f} MB; body {r['body_bytes'] / 1e6:.1f} MB "
        f"({r['body_bytes_min'] / 1e6:.1f}–{r['body_bytes_max'] / 1e6:.1f} MB over the window), "
        f"gzip {r['gzip_bytes'] / 1e6:.2f} MB.",
    ]
    return rows


def targets(render: dict[str, Any] | None, steady: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 12's targets that the figures above can check."""
    out: list[dict[str, Any]] = []

    def check(name: str, value: str, ok: bool) -> None:
        out.append({"target": name, "measured": value, "ok": ok})

    if render is not None:
        gl = render["generate_latest_seconds"]
        check("full render <= 0.5 s", f"{render['full_seconds']:.3f} s", render["full_seconds"] <= 0.5)
        check(
            "20 %-changed render <= 0.25 s",
            f"{render['changed_20pct_seconds']:.3f} s",
            render["changed_20pct_seconds"] <= 0.25,
        )
        same_data = (
            ("cold_seconds", "cold", gl),
            ("full_seconds", "full", gl),
            ("changed_20pct_seconds", "20 %-changed", render["generate_latest_changed_seconds"]),
        )
        for key, label, reference in same_data:
            ratio = reference / render[key]
            check(f"{label} render >= 5x faster than generate_latest", f"{ratio:.1f}×", ratio >= 5)
    if steady is not None:
        lat = steady["latency"]
        for kind in ("plain", "gzip"):
            e, f = lat[f"exp_{kind}"], lat[f"floor_{kind}"]
            if e["n"] and f["n"]:
                ratio = e["p99_ms"] / f["p99_ms"]
                check(f"p99 {kind} <= 2x floor p99", f"{ratio:.2f}×", ratio <= 2)
                check(f"no {kind} scrape > 1 s", str(e["over_1s"]), e["over_1s"] == 0)
        if steady["source"] == "cloudeye":
            pct = steady["cpu_percent_of_one_core"]
            check("CPU <= 3 % of one core (cloudeye)", f"{pct:.2f} %", pct <= 3)
        check("peak RSS < 300 MB", f"{steady['vm_hwm_mb']:.0f} MB", steady["vm_hwm_mb"] < 300)
    return out
