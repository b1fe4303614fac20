"""The start-up guard has no gap: counted events never drop out after a start, restart or reload.

``instance:huaweicloud_workspace_build_info:covers15m`` (and ``covers1h``) say that this
Prometheus can tell a counter born within the window from one it merely never saw: the
exporter was scraped before the window, or it started within it. Between "the window after
the start" and "the window after the first scrape" neither branch used to hold, so a counter
born at the first scrape dropped out of ``instance:...:increase15m`` for up to one scrape
interval, the event alerts' values fell and Alertmanager sent false resolves.

The promtool cases here are generated: the first scrape 0 s, 30 s, 60 s and 120 s after the
start, scrape intervals of 15 s, 60 s and 120 s, and an evaluation at every minute from the
first scrape to well past the window's edge, for both windows; plus a reload and a restart
of a long-running exporter. A counter born at the first scrape with 12 events (and no more)
must count 12 at every minute until the window has passed its first scrape, then 0, and the
guard must be 1 throughout.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "workspace-exporter" / "rules" / "alerts.yaml"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)"
)

GRID = 15  # seconds between input samples: every offset and interval below is a multiple
JOB, INSTANCE = "workspace-exporter", "a:10187"
BORN = 12  # events counted before the first scrape; nothing happens afterwards
WINDOWS = {  # window seconds -> (guard record, increase record, event selector)
    900: (
        "instance:huaweicloud_workspace_build_info:covers15m",
        "instance:huaweicloud_workspace_desktop_events:increase15m",
    ),
    3600: (
        "instance:huaweicloud_workspace_build_info:covers1h",
        "instance:huaweicloud_workspace_desktop_events:increase1h",
    ),
}
EVENT_LABELS = 'desktop_id="d-1", event_type="APP", event_id="APP_CRASH", event_level="error"'


def _labels(extra: str = "") -> str:
    base = f'job="{JOB}", instance="{INSTANCE}"'
    return f"{{{base}, {extra}}}" if extra else f"{{{base}}}"


def _values(samples: Mapping[int, float], end: int) -> str:
    """promtool values on the GRID from 0 to ``end`` seconds: ``_`` where there is no sample."""
    out = []
    for i in range(end // GRID + 1):
        v = samples.get(i * GRID)
        out.append("_" if v is None else f"{v:g}")
    return " ".join(out)


def _scrapes(first: int, every: int, end: int, down: tuple[int, int] | None = None) -> list[int]:
    times = list(range(first, end + 1, every))
    return [t for t in times if down is None or not down[0] <= t < down[1]]


def _sample(record: str, value: float, extra: str = "") -> dict[str, Any]:
    return {"labels": record + _labels(extra), "value": value}


def _case(start_delay: int, every: int, window: int) -> dict[str, Any]:
    """A fresh exporter started at 0 and first scraped ``start_delay`` s later, every ``every`` s."""
    guard, increase = WINDOWS[window]
    end = start_delay + window + 10 * 60
    scrapes = _scrapes(start_delay, every, end)
    first = scrapes[0]
    tests: list[dict[str, Any]] = []
    for minute in range(math.ceil(first / 60), end // 60 - 1):
        t = minute * 60
        tests.append({"expr": guard, "eval_time": f"{minute}m", "exp_samples": [_sample(guard, 1)]})
        # Born at the first scrape: the whole value counts until the window has passed it.
        expected = BORN if t < first + window else 0
        tests.append(
            {
                "expr": increase,
                "eval_time": f"{minute}m",
                "exp_samples": [_sample(increase, expected, EVENT_LABELS)],
            }
        )
    return {
        "name": f"window {window}s: first scrape {start_delay}s after the start, every {every}s",
        "interval": f"{GRID}s",
        "input_series": [
            {
                "series": "huaweicloud_workspace_build_info" + _labels(),
                "values": _values(dict.fromkeys(scrapes, 1), end),
            },
            {
                "series": "huaweicloud_workspace_config_last_reload_success_timestamp_seconds" + _labels(),
                "values": _values(dict.fromkeys(scrapes, 0), end),
            },
            {
                "series": "huaweicloud_workspace_desktop_events_total" + _labels(EVENT_LABELS),
                "values": _values(dict.fromkeys(scrapes, BORN), end),
            },
        ],
        "promql_expr_test": tests,
    }


def _long_running(window: int, restart: bool) -> dict[str, Any]:
    """An exporter scraped every 60 s for two windows, then reloaded (or restarted: 2 minutes
    down, counters reset) at ``event``; a counter is born 5 minutes after that with 12."""
    guard, increase = WINDOWS[window]
    event = 2 * window
    end = event + window + 15 * 60
    down = (event, event + 120) if restart else None
    scrapes = _scrapes(0, 60, end, down)
    back = event + 120 if restart else event
    reload_ts = {t: (back if t >= back else 0) for t in scrapes}
    born_at = event + 300
    tests: list[dict[str, Any]] = []
    for minute in range((event - 5 * 60) // 60, end // 60 - 1):
        t = minute * 60
        tests.append({"expr": guard, "eval_time": f"{minute}m", "exp_samples": [_sample(guard, 1)]})
        if t >= born_at:
            expected = BORN if t < born_at + window else 0
            tests.append(
                {
                    "expr": increase,
                    "eval_time": f"{minute}m",
                    "exp_samples": [_sample(increase, expected, EVENT_LABELS)],
                }
            )
    return {
        "name": f"window {window}s: a long-running exporter {'restarted' if restart else 'reloaded'}",
        "interval": f"{GRID}s",
        "input_series": [
            {
                "series": "huaweicloud_workspace_build_info" + _labels(),
                "values": _values(dict.fromkeys(scrapes, 1), end),
            },
            {
                "series": "huaweicloud_workspace_config_last_reload_success_timestamp_seconds" + _labels(),
                "values": _values(reload_ts, end),
            },
            {
                "series": "huaweicloud_workspace_desktop_events_total" + _labels(EVENT_LABELS),
                "values": _values({t: BORN for t in scrapes if t >= born_at}, end),
            },
        ],
        "promql_expr_test": tests,
    }


def _suite() -> dict[str, Any]:
    tests = [
        _case(delay, every, window)
        for window in WINDOWS
        for delay in (0, 30, 60, 120)
        for every in (15, 60, 120)
    ]
    tests += [_long_running(window, restart) for window in WINDOWS for restart in (False, True)]
    return {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}


def test_the_guard_and_a_counter_born_at_the_first_scrape_have_no_gap(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    path = tmp_path / "startup-guard-test.yaml"
    path.write_text(yaml.safe_dump(_suite(), sort_keys=False), "utf-8")
    r = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]


def test_the_generated_cases_cover_the_old_gap() -> None:
    """The matrix evaluates the minutes between "window after the start" and "window after
    the first scrape", where the guard used to be absent."""
    case = _case(120, 60, 900)
    times = {t["eval_time"] for t in case["promql_expr_test"]}
    assert {"15m", "16m"} <= times
    counted = [
        t["exp_samples"][0]["value"]
        for t in case["promql_expr_test"]
        if t["expr"].endswith("increase15m") and t["eval_time"] == "16m"
    ]
    assert counted == [BORN]
