"""Alert quality as a tested property: the demo's office under the shipped rules.

The office of ``workspace-exporter demo`` runs on a fake clock (tests/rules/office.py: the
fake API over HTTP, the simulated office, the exporter's own sources, runners and
exposition), is scraped every minute as the chart's ServiceMonitor would, and promtool
evaluates the shipped rules (helm/workspace-exporter/rules/alerts.yaml) over what was
scraped:

* a normal day fires nothing: three seeds, 40 minutes each (2.7 compressed office days);
* every scenario of the demo fires exactly its alerts (for its desktops) while it runs,
  and they have resolved, not even pending, ``resolves_within`` after it ends
  (exporter/fake/scenarios.py states it per scenario); nothing else fires in the run.
  Scenarios that touch different desktops and alerts run side by side in one office;
* under the throttling scenario the monitoring path never switches and no desktop's
  datapoint timestamp ever goes backwards;
* the log has one line per state change over a start, an outage and a throttling episode.

The runs are independent and run in parallel worker processes (about a minute of CPU in
all; ``OFFICE_WORKERS`` overrides the worker count).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from exporter.cli.rules import demo_rules
from exporter.fake.scenarios import SCENARIOS
from tests.rules.office import Incident, Plan, Result, run_plan, suite, write_suite

CHART = Path(__file__).resolve().parents[2] / "helm" / "workspace-exporter"

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)"
)

QUIET = [Plan(f"quiet-seed-{seed}", seed, 40) for seed in (1, 2, 3)]
INCIDENTS = Plan(
    "office-incidents",
    4,
    57,
    tuple(
        (name, 5)
        for name in (
            "login-failure-storm",
            "stuck-desktops",
            "silent-desktop",
            "error-events",
            "hot-desktops",
            "config-reload-failed",
            "permission-missing",  # denies the quotas source: apart from the quota scenarios
        )
    ),
)
THROTTLING = Plan("throttling", 5, 60, (("throttling", 5), ("data-stale", 5)))
# The fleet incidents; the nearly-full and the full state of one pool or quota one after the other.
FLEET = Plan(
    "fleet",
    8,
    80,
    (
        ("pool-nearly-full", 5),
        ("quota-nearly-full", 5),
        ("nightly-task-fails", 5),
        ("agents-outdated", 5),
        ("cloud-alarm", 5),
        ("pool-exhausted", 40),
        ("quota-exhausted", 40),
    ),
)
LOST = Plan(
    "outage-and-lost-exporter",
    6,
    78,
    (("upstream-outage", 5), ("exporter-down", 40), ("exporter-absent", 53)),
)
# The demo's rules (`demo --with-prometheus`: every for: 30 s, scraped and evaluated every 15 s):
# every scenario staged at the demo's start fires its alerts within WATCH minutes. Scenarios
# that slow the upstream down for everyone run alone.
WATCH = 5
_WATCH_TOGETHER = (
    "login-failure-storm",
    "stuck-desktops",
    "silent-desktop",
    "error-events",
    "hot-desktops",
    "config-reload-failed",
)
_WATCH_FLEET = (
    "pool-nearly-full",
    "quota-nearly-full",
    "nightly-task-fails",
    "agents-outdated",
    "cloud-alarm",
)
DEMO_WATCH = [
    Plan("watch-office", 7, WATCH + 1, tuple((n, 0) for n in _WATCH_TOGETHER), scrape_s=15),
    Plan("watch-fleet", 7, WATCH + 1, tuple((n, 0) for n in _WATCH_FLEET), scrape_s=15),
    Plan("watch-fleet-full", 7, WATCH + 1, (("pool-exhausted", 0), ("quota-exhausted", 0)), scrape_s=15),
    *(
        Plan(f"watch-{n}", 7, WATCH + 1, ((n, 0),), scrape_s=15)
        # data-stale stops the events refreshes the error-events scenario needs
        # permission-missing denies the quotas source quota-nearly-full needs
        for n in (
            "throttling",
            "data-stale",
            "upstream-outage",
            "exporter-down",
            "exporter-absent",
            "permission-missing",
        )
    ),
]
PLANS = [*QUIET, INCIDENTS, THROTTLING, LOST, FLEET, *DEMO_WATCH]
SCENARIO_PLANS = [INCIDENTS, THROTTLING, LOST, FLEET]
# Every source the demo runs: the per-desktop view's, then the fleet's.
SOURCES = ("inventory", "monitoring", "connections", "events")
SOURCES += ("pools", "quotas", "tasks", "agents", "alarms", "user_events")
# Alerts that go pending (never firing) on a normal day, and why: after their scenario only
# firing counts for them.
PEND_ON_A_NORMAL_DAY = {
    "WorkspaceDesktopUnreachable": "a desktop that has just started has no datapoint for a minute",
    "WorkspaceDesktopPoolNearlyFull": "the dynamic pool touches 90% for a minute or two at the peak",
    "WorkspaceDesktopPoolExhausted": "a busy minute at the peak can bind the dynamic pool's last desktop",
}
# Desktop alerts of a scenario that hit one of its desktops only (index into its desktops).
ONE_DESKTOP = {"WorkspaceDesktopStuckLoggingIn": 0, "WorkspaceDesktopStatusError": 1}


def test_every_scenario_of_the_demo_is_run() -> None:
    everything = set(SCENARIOS) - {"calm"}
    assert {name for plan in SCENARIO_PLANS for name, _ in plan.scenarios} == everything
    assert {name for plan in DEMO_WATCH for name, _ in plan.scenarios} == everything


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, Result]]:
    workers = int(os.environ.get("OFFICE_WORKERS", "0")) or min(len(PLANS), max(2, os.cpu_count() or 2))
    with tempfile.TemporaryDirectory(prefix="office-") as tmp:
        context = multiprocessing.get_context("spawn")  # the test process runs threads: no fork
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {p.name: pool.submit(run_plan, p, Path(tmp) / p.name) for p in PLANS}
            yield {name: f.result(timeout=600) for name, f in futures.items()}


def _labels(alertname: str, desktop: str | None) -> str:
    return (
        f'{{alertname="{alertname}", desktop_id="{desktop}"}}' if desktop else f'{{alertname="{alertname}"}}'
    )


def _expected(incident: Incident) -> list[str]:
    """The (alertname, desktop_id) groups the incident fires, as promtool labels."""
    out = []
    for alert in SCENARIOS[incident.name].alerts:
        if not incident.desktops:  # a fleet or exporter incident: one alert, no desktop
            out.append(_labels(alert, None))
        elif alert in ONE_DESKTOP:
            out.append(_labels(alert, incident.desktops[ONE_DESKTOP[alert]]))
        else:
            out.extend(_labels(alert, d) for d in incident.desktops)
    return out


def _samples(groups: list[str]) -> list[dict[str, Any]]:
    return [{"labels": g, "value": 1} for g in sorted(set(groups))]


def _at(seconds: float) -> str:
    return f"{int(seconds)}s"


def _checks(result: Result) -> list[dict[str, Any]]:
    end = result.plan.minutes * 60
    everything = f"{end}s"
    firing_ever = 'group by (alertname, desktop_id) (max_over_time(ALERTS{{alertstate="firing"}}[{}]))'
    checks = []
    expected_all: list[str] = []
    for incident in result.incidents:
        scenario = SCENARIOS[incident.name]
        names = "|".join(scenario.alerts)
        expected = _expected(incident)
        expected_all += expected
        # Every alert of the scenario fires, for its desktops, before the scenario ends.
        checks.append(
            {
                "expr": 'group by (alertname, desktop_id) (max_over_time(ALERTS{alertstate="firing", '
                f'alertname=~"{names}"}}[{_at(incident.end - incident.start)}]))',
                "eval_time": _at(incident.end),
                "exp_samples": _samples(expected),
            }
        )
        # ... and none of them fires, nor even pends, from resolves_within after its end on.
        resolved = incident.end + scenario.resolves_within
        assert resolved < end, f"{result.plan.name}: the run ends before {incident.name} has to resolve"
        desktops = f', desktop_id=~"{"|".join(incident.desktops)}"' if incident.desktops else ""
        states = "firing" if set(scenario.alerts) & set(PEND_ON_A_NORMAL_DAY) else "firing|pending"
        checks.append(
            {
                "expr": f'group by (alertname, desktop_id) (max_over_time(ALERTS{{alertname=~"{names}"'
                f'{desktops}, alertstate=~"{states}"}}[{_at(end - resolved - 1)}]))',
                "eval_time": everything,
                "exp_samples": [],
            }
        )
    # Nothing else fires in the whole run (a normal day: nothing at all).
    checks.append(
        {
            "expr": firing_ever.format(everything),
            "eval_time": everything,
            "exp_samples": _samples(expected_all),
        }
    )
    return checks


def _promtool(path: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("plan", DEMO_WATCH, ids=[p.name for p in DEMO_WATCH])
def test_with_the_demo_rules_every_alert_fires_within_five_minutes_of_the_start(
    results: dict[str, Result], plan: Plan, tmp_path: Path
) -> None:
    """What the README promises: `demo --with-prometheus --scenario NAME` shows each of the
    scenario's alerts firing in Prometheus within five minutes."""
    result = results[plan.name]
    rules = tmp_path / "alerts-demo.yaml"
    rules.write_text(demo_rules(CHART), "utf-8")
    checks = []
    for incident in result.incidents:
        names = "|".join(SCENARIOS[incident.name].alerts)
        # With 30 s `for:` the demo's Prometheus also shows a normal day's short-lived alerts
        # (a desktop that has just started has no datapoint for a minute): only the scenario's
        # desktops count here.
        desktops = f', desktop_id=~"{"|".join(incident.desktops)}"' if incident.desktops else ""
        checks.append(
            {
                "expr": 'group by (alertname, desktop_id) (max_over_time(ALERTS{alertstate="firing", '
                f'alertname=~"{names}"{desktops}}}[{WATCH}m]))',
                "eval_time": f"{WATCH}m",
                "exp_samples": _samples(_expected(incident)),
            }
        )
    doc = suite(result.input_series, checks, scrape_s=plan.scrape_s, rules=rules)
    path = write_suite(tmp_path / f"{plan.name}-test.yaml", doc)
    r = _promtool(path)
    assert r.returncode == 0, f"promtool test rules {path}:\n" + (r.stdout + r.stderr)[-8000:]


@pytest.mark.parametrize("plan", PLANS[: -len(DEMO_WATCH)], ids=[p.name for p in PLANS[: -len(DEMO_WATCH)]])
def test_the_office_fires_exactly_the_alerts_of_its_scenarios(
    results: dict[str, Result], plan: Plan, tmp_path: Path
) -> None:
    """A normal day fires nothing; each scenario exactly its alerts, resolved in its stated time."""
    result = results[plan.name]
    assert [i.name for i in result.incidents] == [
        name for name, _ in sorted(plan.scenarios, key=lambda s: s[1])
    ]
    path = write_suite(tmp_path / f"{plan.name}-test.yaml", suite(result.input_series, _checks(result)))
    r = _promtool(path)
    assert r.returncode == 0, f"promtool test rules {path}:\n" + (r.stdout + r.stderr)[-8000:]


def _during(result: Result, name: str) -> tuple[float, float]:
    (incident,) = [i for i in result.incidents if i.name == name]
    return incident.start, incident.end


def test_throttling_keeps_the_monitoring_path_and_its_data_never_goes_back(
    results: dict[str, Result],
) -> None:
    result = results[THROTTLING.name]
    assert {path for _, path in result.paths} == {"workspace"}
    chosen = [m for _, logger, m in result.lines if "monitoring: path chosen" in m]
    assert len(chosen) == 1, chosen  # the first choice, and no switch
    assert result.timestamps, "no desktop monitoring timestamps were scraped"
    for series, points in result.timestamps.items():
        values = [v for _, v in points]
        assert values == sorted(values), f"{series} went backwards: {points}"


def _source_lines(result: Result, start: float, end: float) -> Counter[str]:
    """State lines of exporter.sources.base between two times, by source and event."""
    out: Counter[str] = Counter()
    for t, logger, message in result.lines:
        if logger == "exporter.sources.base" and start <= t < end:
            out[_kind(message)] += 1
    return out


def _kind(message: str) -> str:
    source = re.search(r"source=(\w+)", message)
    return f"{source.group(1) if source else '?'}: {message.split(' source=')[0]}"


def _timeline(result: Result) -> str:
    return "\n".join(f"{t:8.1f} {m}" for t, lg, m in result.lines if lg == "exporter.sources.base")


def test_one_log_line_per_state_change_over_a_start_an_outage_and_throttling(
    results: dict[str, Result],
) -> None:
    lost = results[LOST.name]
    start = _source_lines(lost, 0, 60)
    assert start == Counter(f"{s}: source first refresh ok" for s in SOURCES), _timeline(lost)
    # An outage: one line into it and one out, per source; no overdue/failed turns.
    began, ended = _during(lost, "upstream-outage")
    outage = _source_lines(lost, began, ended + SCENARIOS["upstream-outage"].resolves_within)
    assert outage == Counter(
        f"{s}: source {event}"
        for s in SOURCES
        for event in ("refresh failed, serving last good data", "recovered")
    ), _timeline(lost)
    # A throttling episode: the per-desktop calls fail and succeed by turns for 40 minutes;
    # the log follows passes, at most a line per 10 minutes of it.
    throttling = results[THROTTLING.name]
    began, ended = _during(throttling, "throttling")
    until = ended + SCENARIOS["throttling"].resolves_within
    episode = _source_lines(throttling, began, until)
    assert sum(episode.values()) <= (until - began) / 600 + 1, _timeline(throttling)
    # Anywhere: a line is a change of state (never the state of the line before it), and a
    # source never flips to a state and back within 30 s (failed/overdue alternating,
    # "overdue" right after "completed after its deadline").
    for result in results.values():
        seen: dict[str, list[tuple[float, str]]] = {}
        for t, logger, message in result.lines:
            if logger == "exporter.sources.base":
                source, kind = _kind(message).split(": ", 1)
                seen.setdefault(source, []).append((t, kind))
        why = (result.plan.name, _timeline(result))
        for lines in seen.values():
            for (_, a), (_, b) in itertools.pairwise(lines):
                assert a != b or b == "source still failing", why
            for (_, a), (t1, b), (t2, c) in zip(lines, lines[1:], lines[2:], strict=False):
                assert not (_state(a) == _state(c) != _state(b) and t2 - t1 < 30), why


def _state(kind: str) -> str:
    if kind.endswith(("first refresh ok", "completed after its deadline", "recovered")):
        return "ok"
    return "overdue" if "overdue" in kind else "failing"
