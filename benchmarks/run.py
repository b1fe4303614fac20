"""Scale benchmark of the exporter against the fake Workspace API on loopback (not a test).

    .venv/bin/python -m benchmarks.run                      # 100, 1,000, 10,000 desktops (~10 min)
    .venv/bin/python -m benchmarks.run --quick              # 100 and 1,000, fewer scrapes (~3 min)
    .venv/bin/python -m benchmarks.run --sizes 100,1000 --scrapes 100 --no-write

Prints Markdown tables and writes ``benchmarks/results/<date>-<machine>.md`` and ``.json``.
See benchmarks/README.md for what each number is and what is measured vs computed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import render as render_phase
from benchmarks import report, steady
from benchmarks.common import pin, usable_cpus
from benchmarks.phases import SOURCES, Options, budget_runs, computed_cost, latency_case

RESULTS = Path(__file__).resolve().parent / "results"


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from e
    if not sizes or sizes[0] < 1 or sizes[-1] > 100_000:
        raise argparse.ArgumentTypeError("sizes must be between 1 and 100000")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=_sizes, default=None, help="fleet sizes (default 100,1000,10000)")
    p.add_argument("--sources", default=",".join(SOURCES), help="monitoring sources (default both)")
    p.add_argument("--scrapes", type=int, default=None, help="timed scrapes per series (default 200)")
    p.add_argument("--misses", type=int, default=None, help="timed scrapes after a data change (default 5)")
    p.add_argument(
        "--build-seconds", type=float, default=None, help="time cap per per-scrape-build series (default 15)"
    )
    p.add_argument("--window", type=float, default=None, help="phase-B window in seconds (default 90)")
    p.add_argument(
        "--budget-size", type=int, default=None, help="phase-B pace runs' fleet (default: largest)"
    )
    p.add_argument(
        "--cloudeye-timeout",
        type=float,
        default=360.0,
        help="phase-B cloudeye refresh limit in s (default 360)",
    )
    p.add_argument(
        "--quick", action="store_true", help="100 and 1,000 desktops, fewer scrapes, short phase B"
    )
    p.add_argument("--skip-phase-b", action="store_true", help="latency only (no default-budget runs)")
    p.add_argument("--no-write", action="store_true", help="print only; write nothing under results/")
    p.add_argument("--name", default=None, help="machine name in the result file name")
    p.add_argument(
        "--phase",
        choices=("ab", "steady", "render"),
        default="ab",
        help="ab: phases A and B (default); steady: the render phase plus a steady scraper; render: only it",
    )
    p.add_argument("--steady-seconds", type=float, default=600.0, help="steady scraper window (default 600)")
    p.add_argument(
        "--steady-interval", type=float, default=5.0, help="seconds between steady scrapes (default 5)"
    )
    p.add_argument(
        "--steady-size", type=int, default=10000, help="desktops for steady and render (default 10000)"
    )
    p.add_argument(
        "--steady-source", default="cloudeye", choices=SOURCES, help="monitoring source (default cloudeye)"
    )
    args = p.parse_args(argv)
    q = args.quick
    args.sizes = args.sizes or ([100, 1000] if q else [100, 1000, 10000])
    args.scrapes = args.scrapes or (50 if q else 200)
    args.misses = args.misses or (3 if q else 5)
    args.build_seconds = args.build_seconds or (5.0 if q else 15.0)
    args.window = args.window or (75.0 if q else 90.0)
    args.budget_size = args.budget_size or max(args.sizes)
    args.sources = [s for s in args.sources.split(",") if s]
    for s in args.sources:
        if s not in SOURCES:
            p.error(f"--sources: unknown source {s!r}")
    if args.window < 70:
        p.error("--window must be at least 70 s (a connections poll lands at 60 s)")
    return args


def method_lines(opt: Options, args: argparse.Namespace) -> list[str]:
    pinning = (
        f"the exporter process, and the static server, pinned to CPU {opt.server_cpu}; the client and the "
        f"fake API on CPU {opt.client_cpu}"
        if opt.server_cpu is not None
        else "no CPU pinning (fewer than 2 usable CPUs)"
    )
    return [
        "How it was measured (details in benchmarks/README.md):",
        "",
        f"- Every server is a separate process on 127.0.0.1: {pinning}. Latency is measured by the "
        "client, request sent to last body byte, sequential scrapes; the exporter's wsgiref server and the "
        "static server both answer HTTP/1.0, so every scrape opens a TCP connection. Cells are "
        "`median / p95 (n)` in ms; p95 is nearest-rank.",
        "- **exporter (cached)**: `make_app(...)` with `MultiExporter.exposition`, as `workspace-exporter` "
        "serves it, populated first (every desktop monitored) with a raised budget (`budget.per_api` "
        "100000/min, `burst` 1000, `max_concurrency` 8) so 10,000 desktops take about a minute, not 100; "
        f"all other settings are the defaults. {args.scrapes} scrapes per series, alternating with the "
        "floor; a scrape during which the data changed (a background refresh) is counted apart, not in "
        "these numbers.",
        "- **static floor**: the exporter's own body (and its gzip body) served by `http.server` from "
        "memory.",
        "- **built per scrape**: prometheus_client's `make_wsgi_app` over a registry of the same families "
        "(`generate_latest` plus `gzip.compress` on every scrape), served by the same server class in the "
        f"same process; at most {args.build_seconds:g} s per series (at least 5 scrapes).",
        "- **after a data change**: the first scrape after the data got a new version (forced with a "
        "no-op `POST /-/reload`, checked with the exposition's render counter): it renders, and for gzip "
        "compresses.",
        "- **peak RSS**: VmHWM of the exporter process (populating and cached scrapes), then again after "
        "the per-scrape builds.",
        "- **computed**: calls/hour and one full refresh at the default budget follow from the budget "
        "(token buckets, burst 5): inventory ⌈N/500⌉ pages per 5 min at 60/min; desktop-monitor one call "
        "per desktop at 100/min for the first pass, paced at 90/min after when a pass needs more than "
        "5 min; Cloud Eye at most 12 × (⌊N/1000⌋+1) pages per 5 min at 100/min (the "
        "measured count is used); connections and screen-records one call per minute each (no recordings, "
        "so no os-operations calls). The page counts measured while populating validate the formulas.",
        "- **phase B (measured, real time, default budget, no pinning, all runs at once)**: the exporter "
        f"at {min(opt.sizes):,} desktops scraped every 1 s and every 60 s for {opt.window:g} s (upstream "
        f"calls per API must be identical), and at {opt.budget_size:,} desktops scraped every 15 s: the "
        "workspace source's call rate (its full pass is extrapolated), the cloudeye source's first full "
        "refresh (measured to the end), the most calls in any minute, and how often the data version "
        "changed (each change makes the next scrape render).",
    ]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mach = report.machine()
    cpus = usable_cpus()
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    pin(client_cpu)
    log_dir = Path(tempfile.mkdtemp(prefix="wsbench-logs-"))
    opt = Options(
        sizes=args.sizes,
        scrapes=args.scrapes,
        misses=args.misses,
        build_seconds=args.build_seconds,
        window=args.window,
        budget_size=args.budget_size,
        cloudeye_timeout=args.cloudeye_timeout,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        log_dir=log_dir,
        progress=say,
    )
    started = time.time()
    if args.phase != "ab":
        return steady_main(args, opt, mach, started, argv)
    say(f"workspace-exporter benchmark: sizes {args.sizes}, sources {args.sources}, logs in {log_dir}")
    cases: list[dict[str, Any]] = []
    for n in args.sizes:
        for source in args.sources:
            say(f"phase A: {source}, {n:,} desktops")
            cases.append(latency_case(source, n, opt))
    phase_b = None
    if not args.skip_phase_b:
        say("phase B: default budget, real time")
        phase_b = budget_runs(opt)
    checks = report.targets(cases, phase_b)
    elapsed = time.time() - started

    date = time.strftime("%Y-%m-%d", time.localtime(started))
    name = args.name or report.machine_slug(mach)
    cmd = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# workspace-exporter benchmark, {date}, {name}",
        "",
        f"`{cmd.strip()}`, {elapsed / 60:.1f} min.",
        "",
        *report.machine_lines(mach),
        "",
        "## `/metrics` latency (ms: median / p95 (n))",
        "",
        *report.latency_table(cases),
        "",
        "## Upstream cost, refresh time and memory",
        "",
        *report.cost_table(cases, phase_b),
        "",
    ]
    if phase_b:
        lines += ["## Default budget, real time (phase B)", "", *report.phase_b_table(phase_b), ""]
    lines += ["## Targets", "", *report.targets_table(checks), "", *method_lines(opt, args), ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        base = RESULTS / f"{date}-{name}"
        doc = {
            "date": date,
            "command": cmd.strip(),
            "elapsed_seconds": elapsed,
            "machine": mach,
            "options": {k: v for k, v in vars(args).items()},
            "pinning": {"server_cpu": server_cpu, "client_cpu": client_cpu},
            "latency": cases,
            "phase_b": phase_b,
            "computed": {
                f"{c['source']}-{c['desktops']}": computed_cost(
                    c["source"],
                    c["desktops"],
                    c["populate_calls"].get("ces_batch_v2") if c["source"] == "cloudeye" else None,
                )
                for c in cases
            },
            "targets": checks,
        }
        _write(base, text, doc)
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0 if all(t["ok"] for t in checks) else 1


def _write(base: Path, text: str, doc: dict[str, Any]) -> None:
    """The result as ``<base>.md`` (the report) and ``<base>.json`` (every figure)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".md").write_text(text)
    base.with_suffix(".json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    say(f"wrote {base}.md and {base}.json")


def steady_main(
    args: argparse.Namespace, opt: Options, mach: dict[str, Any], started: float, argv: list[str] | None
) -> int:
    """``--phase render`` / ``--phase steady``: the figures of a steady scraper on a big fleet."""
    n = args.steady_size
    say(f"render phase: {n:,} desktops, in-process")
    render = render_phase.render_case(n)
    result: dict[str, Any] | None = None
    if args.phase == "steady":
        say(f"steady phase: {n:,} desktops, {args.steady_source}, {args.steady_seconds:g} s")
        result = steady.steady_case(args.steady_source, n, args.steady_seconds, args.steady_interval, opt)
    checks = steady.targets(render, result)
    elapsed = time.time() - started
    date = time.strftime("%Y-%m-%d", time.localtime(started))
    name = args.name or report.machine_slug(mach)
    cmd = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# workspace-exporter benchmark ({args.phase}), {date}, {name}",
        "",
        f"`{cmd.strip()}`, {elapsed / 60:.1f} min.",
        "",
        *report.machine_lines(mach),
        "",
        "## Render (in-process, same data)",
        "",
        *render_phase.render_lines(render),
        "",
    ]
    if result is not None:
        lines += ["## Steady scraper", "", *steady.steady_lines(result), ""]
    lines += ["## Targets", "", *report.targets_table(checks), ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        base = RESULTS / f"{date}-{name}-{args.phase}"
        doc = {
            "date": date,
            "command": cmd.strip(),
            "elapsed_seconds": elapsed,
            "machine": mach,
            "options": dict(vars(args)),
            "render": render,
            "steady": result,
            "targets": checks,
        }
        _write(base, text, doc)
    return 0 if all(t["ok"] for t in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
