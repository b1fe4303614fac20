"""Machine description, Markdown tables and target checks for ``benchmarks.run``."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.phases import computed_cost


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu MHz", "cache size") and key not in out:
                out[key] = value.strip()
    except OSError:
        pass
    return out


def _mem_total_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def machine() -> dict[str, Any]:
    cpu = _cpuinfo()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {
        "cpu_model": cpu.get("model name", platform.processor() or "unknown"),
        "cpu_mhz": cpu.get("cpu MHz", ""),
        "cpu_cache": cpu.get("cache size", ""),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": cpus,
        "ram_mb": _mem_total_mb(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "hostname": platform.node(),
        "python": platform.python_version(),
        "prometheus_client": metadata.version("prometheus-client"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_slug(m: dict[str, Any]) -> str:
    model = re.sub(r"\(.*?\)|\b(processor|cpu|@.*)\b", "", str(m["cpu_model"]), flags=re.IGNORECASE)
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "machine"
    return f"{slug}-{m['logical_cpus']}cpu"


# --------------------------------------------------------------------------- formatting


def _ms(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _mp(s: dict[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return "–"
    return f"{_ms(s['median_ms'])} / {_ms(s['p95_ms'])} ({s['n']})"


def _bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.0f} KiB"


def _dur(s: float | None) -> str:
    if s is None:
        return "–"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.0f} s"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _x(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def _med(s: dict[str, Any] | None) -> float | None:
    return s.get("median_ms") if s and s.get("n") else None


def latency_table(cases: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| source | desktops | series | body | encoding | exporter (cached) | static floor "
        "| exporter ÷ floor | built per scrape | built ÷ exporter | after a data change |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        for key in ("plain", "gzip"):
            size = c["body_bytes"] if key == "plain" else c["gzip_bytes"]
            e, f, b = c[f"exporter_{key}"], c[f"floor_{key}"], c[f"build_{key}"]
            rows.append(
                f"| {c['source']} | {c['desktops']:,} | {c['series']:,} | {_bytes(size)} | {key} "
                f"| {_mp(e)} | {_mp(f)} | {_x(_ratio(_med(e), _med(f)))} | {_mp(b)} "
                f"| {_x(_ratio(_med(b), _med(e)))} | {_mp(c[f'changed_{key}'])} |"
            )
    return rows


def cost_table(cases: list[dict[str, Any]], phase_b: dict[str, Any] | None) -> list[str]:
    rows = [
        "| source | desktops | inventory pages / refresh (measured) | monitoring calls / refresh (measured) "
        "| upstream calls / hour at defaults (computed) | one full refresh at the default budget (computed) "
        "| peak RSS, exporter | peak RSS incl. per-scrape builds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        calls = c["populate_calls"]
        mon = calls.get("desktop_monitor" if c["source"] == "workspace" else "ces_batch_v2", 0)
        comp = computed_cost(c["source"], c["desktops"], mon)
        formula = (
            f"formula {c['desktops']:,}"
            if c["source"] == "workspace"
            else f"formula ≤ {comp['ces_pages_upper_bound']}"
        )
        per_hour = comp["calls_per_hour"]
        detail = " + ".join(f"{int(v):,} {k}" for k, v in per_hour.items())
        rows.append(
            f"| {c['source']} | {c['desktops']:,} | {calls.get('desktops_detail', 0)} "
            f"(formula {comp['inventory_pages']}) | {mon:,} ({formula}) "
            f"| **{int(comp['calls_per_hour_total']):,}** ({detail}) | {_dur(comp['full_refresh_seconds'])} "
            f"| {c['peak_rss_kb'] / 1024:.0f} MiB | {c['peak_rss_with_build_kb'] / 1024:.0f} MiB |"
        )
    return rows


def _changes(r: dict[str, Any]) -> str:
    rate = r["data_changes_per_minute"]
    if rate is None:
        return "–"
    parts = r.get("data_changes_by_part") or {}
    detail = ", ".join(f"{k} {v}" for k, v in parts.items() if v)
    return f"{rate:.1f} ({detail})" if detail else f"{rate:.1f}"


def phase_b_table(b: dict[str, Any]) -> list[str]:
    rows = [
        f"| run | scrape every | scrapes (rendered) | upstream calls in {b['window_seconds']:.0f} s "
        "(cloudeye pace: until refreshed) | most calls in any minute | data changes / min (changes by part) "
        "| monitored | full refresh |",
        "|---|---:|---:|---|---:|---|---:|---|",
    ]
    for r in b["runs"]:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
        full = "–"
        if r["source"] == "cloudeye" and r["kind"] == "pace":
            full = (
                "not within the timeout"
                if r["timed_out"]
                else f"**{_dur(r['full_refresh_at'])}** after start (measured)"
            )
        elif r["source"] == "workspace" and r["kind"] == "independence" and r["monitoring_last_duration"]:
            full = f"pass {r['monitoring_last_duration']:.0f} s (measured)"
        elif r["source"] == "workspace" and r["kind"] == "pace":
            rate = r.get("desktop_monitor_per_minute_last_60s")
            if rate:
                full = (
                    f"{rate:.0f} desktop-monitor calls/min over the last 60 s → pass ≈ "
                    f"**{_dur(r['desktops'] / rate * 60)}** (extrapolated)"
                )
        rows.append(
            f"| {r['name']} | {r['scrape_every_s']:g} s | {r['scrapes']} ({r['scrapes_that_rendered']}) "
            f"| {calls} | {r['max_calls_per_minute']} | {_changes(r)} "
            f"| {r['monitored']:,} / {r['desktops']:,} | {full} |"
        )
    return rows


# --------------------------------------------------------------------------- targets


def targets(cases: list[dict[str, Any]], b: dict[str, Any] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    big = max((c["desktops"] for c in cases), default=0)
    note = "" if big == 10000 else f" (measured at {big:,}, not 10,000)"
    for c in (c for c in cases if c["desktops"] == big):
        for key in ("plain", "gzip"):
            e, f, bld = _med(c[f"exporter_{key}"]), _med(c[f"floor_{key}"]), _med(c[f"build_{key}"])
            r = _ratio(e, f)
            out.append(
                {
                    "target": f"{c['source']} {key}: median within 2× of the static floor{note}",
                    "measured": f"{_x(r)} ({_ms(e)} vs {_ms(f)} ms)",
                    "ok": r is not None and r <= 2.0,
                }
            )
            s = _ratio(bld, e)
            out.append(
                {
                    "target": f"{c['source']} {key}: ≥ 10× faster than building per scrape{note}",
                    "measured": f"{_x(s)} ({_ms(bld)} vs {_ms(e)} ms)",
                    "ok": s is not None and s >= 10.0,
                }
            )
        broken = c.get("violations", [])
        out.append(
            {
                "target": f"{c['source']}: no request breaks the constraint table (docs/api-constraints.md)",
                "measured": f"{len(broken)} refused or adjusted"
                + (f": {sorted({v['rule'] for v in broken})}" if broken else ""),
                "ok": not broken,
            }
        )
        mb = c["peak_rss_kb"] / 1024
        out.append(
            {
                "target": f"{c['source']}: peak RSS under 300 MB{note}",
                "measured": f"{mb:.0f} MiB ({c['peak_rss_kb'] * 1024 / 1e6:.0f} MB)",
                "ok": c["peak_rss_kb"] * 1024 < 300e6,
            }
        )
    if b:
        pace = [r for r in b["runs"] if r["kind"] == "pace" and r["source"] == "cloudeye"]
        for r in pace:
            n = r["desktops"]
            note = "" if n == 10000 else f" (measured at {n:,}, not 10,000)"
            ok = not r["timed_out"] and r["full_refresh_at"] is not None and r["full_refresh_at"] <= 300
            out.append(
                {
                    "target": f"cloudeye: full refresh of {n:,} desktops within one 5-minute cycle{note}",
                    "measured": "timed out"
                    if r["timed_out"]
                    else f"{r['full_refresh_at']:.0f} s after start",
                    "ok": ok,
                }
            )
            out.append(
                {
                    "target": f"cloudeye: under 200 upstream calls per minute{note}",
                    "measured": f"at most {r['max_calls_per_minute']} in any minute",
                    "ok": r["max_calls_per_minute"] < 200,
                }
            )
        for src in ("workspace", "cloudeye"):
            pair = [r for r in b["runs"] if r["kind"] == "independence" and r["source"] == src]
            if len(pair) == 2:
                same = pair[0]["calls"] == pair[1]["calls"]
                out.append(
                    {
                        "target": f"{src}: upstream calls independent of the scrape interval (1 s vs 60 s)",
                        "measured": f"{_total(pair[0]['calls'])} vs {_total(pair[1]['calls'])} calls "
                        f"({pair[0]['scrapes']} vs {pair[1]['scrapes']} scrapes), per API "
                        + ("identical" if same else "different"),
                        "ok": same,
                    }
                )
    return out


def _total(calls: dict[str, int]) -> int:
    return sum(calls.values())


def targets_table(checks: list[dict[str, Any]]) -> list[str]:
    rows = ["| target | measured | holds |", "|---|---|---|"]
    for t in checks:
        rows.append(f"| {t['target']} | {t['measured']} | {'yes' if t['ok'] else '**no**'} |")
    return rows


def machine_lines(m: dict[str, Any]) -> list[str]:
    load = ", ".join(f"{x:g}" for x in m["load_average_at_start"])
    return [
        f"- CPU: {m['cpu_model']} ({m['logical_cpus']} logical CPUs; {m['cpu_mhz']} MHz; "
        f"cache {m['cpu_cache']})",
        f"- RAM: {m['ram_mb']:,} MiB; kernel {m['kernel']}; host `{m['hostname']}`",
        f"- Python {m['python']}, prometheus-client {m['prometheus_client']}",
        f"- Load average at start: {load}",
    ]
