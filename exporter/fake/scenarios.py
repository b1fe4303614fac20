"""Incidents the demo can stage, one or more per shipped alert.

Each scenario changes the simulated office (:mod:`exporter.fake.sim`), injects faults
into the fake API, or (``exporter_side``) acts on the exporter or the Prometheus watching
it through a :class:`Hook` that ``workspace-exporter demo`` registers, for ``duration``
seconds: long enough for its alerts to go pending and fire under the shipped rules, then it
ends and they resolve within ``resolves_within`` seconds. ``calm`` ends every running
scenario at once. tests/rules/test_office.py holds every scenario to exactly its alerts and
to its resolve time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.fake import fleet_scenarios
from exporter.fake.data import PERCENT_KEYS, PERIOD_S, JsonDict, is_linux, unit
from exporter.fake.state import FakeWorkspace


@dataclass
class Incident:
    """A running scenario: which desktops it hits and until when."""

    name: str
    since: float
    until: float
    desktops: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Hook(Protocol):
    """How the demo stages a scenario that acts on the exporter or its Prometheus."""

    def start(self) -> None: ...
    def end(self) -> None: ...


class Simulation(Protocol):
    """What a scenario uses of :class:`exporter.fake.sim.Simulation` (which imports this
    module, so the dependency runs one way)."""

    ws: FakeWorkspace
    rng: random.Random
    seed: int
    incidents: dict[str, Incident]
    hooks: dict[str, Hook]

    def login(self, d: JsonDict, t: float) -> None: ...
    def event(self, s: Any, etype: str, eid: str, level: str, t: float) -> None: ...
    def _held(self, names: tuple[str, ...] | None = None) -> set[str]: ...
    def _open(self, desktop_id: str) -> Any: ...
    def _logout(self, desktop_id: str, s: Any, t: float) -> None: ...


@dataclass(frozen=True)
class Scenario:
    description: str
    alerts: tuple[str, ...]  # the alert names in helm/workspace-exporter/rules/alerts.yaml
    duration: float  # seconds; longer than the alerts' `for` plus their range windows
    resolves_within: float  # seconds after the end by which every one of its alerts has resolved
    exporter_side: bool = False  # staged on the exporter or its Prometheus by the demo (a Hook)
    needs: str = ""  # what the demo must run with for the hook to exist


MINUTE = 60.0
SCENARIOS: dict[str, Scenario] = {
    "login-failure-storm": Scenario(
        "users retry every ~10 s and 75% of the attempts fail with reason 400200",
        ("WorkspaceLoginFailuresHigh", "WorkspaceLoginFailuresByReasonHigh"),
        30 * MINUTE,
        18 * MINUTE,  # the 15-minute window empties of the storm's attempts
    ),
    "throttling": Scenario(
        "another client eats the desktop-monitor quota: beyond 12 calls a minute the API answers "
        "HTTP 429 (APIGW.0308)",
        ("WorkspaceApiThrottled",),
        40 * MINUTE,
        12 * MINUTE,  # the 10-minute rate window
    ),
    "upstream-outage": Scenario(
        "every API answers HTTP 503; the exporter keeps serving the last good data",
        ("WorkspaceSourceFailing",),
        30 * MINUTE,
        4 * MINUTE,  # the next refresh of every source (backoff is capped at its interval)
    ),
    "stuck-desktops": Scenario(
        "one desktop stays 'logging in' and another goes to status ERROR",
        ("WorkspaceDesktopStuckLoggingIn", "WorkspaceDesktopStatusError"),
        30 * MINUTE,
        4 * MINUTE,  # the next inventory and monitoring refresh
    ),
    "silent-desktop": Scenario(
        "an ACTIVE desktop stops reporting monitoring datapoints",
        ("WorkspaceDesktopUnreachable",),
        30 * MINUTE,
        4 * MINUTE,
    ),
    "error-events": Scenario(
        "one desktop records an APP_CRASH (level ERROR) every 30 s",
        ("WorkspaceDesktopErrorEventsBurst", "WorkspaceDesktopAppCrashing"),
        20 * MINUTE,
        18 * MINUTE,  # no crash for 15 minutes; fewer than 10 errors in 15 minutes
    ),
    "hot-desktops": Scenario(
        "two Windows desktops run at 96-99% CPU, memory and disk",
        ("WorkspaceDesktopCpuUsageHigh", "WorkspaceDesktopMemoryUsageHigh", "WorkspaceDesktopDiskUsageHigh"),
        45 * MINUTE,
        4 * MINUTE,
    ),
    "data-stale": Scenario(
        "the exporter is reloaded with events.interval 1h: its events data grows old, still 'up'",
        ("WorkspaceDataStale",),
        30 * MINUTE,
        4 * MINUTE,  # the end reloads the demo's config and refreshes the events at once
        exporter_side=True,
    ),
    "config-reload-failed": Scenario(
        "the demo's config file is broken and reloaded: the exporter keeps the running config",
        ("WorkspaceConfigReloadFailed",),
        10 * MINUTE,
        2 * MINUTE,  # the end restores the file and reloads it
        exporter_side=True,
    ),
    "exporter-down": Scenario(
        "the demo's Prometheus scrapes the exporter on a closed port: up is 0",
        ("WorkspaceExporterDown",),
        10 * MINUTE,
        2 * MINUTE,
        exporter_side=True,
        needs="--with-prometheus",
    ),
    "exporter-absent": Scenario(
        "the demo's Prometheus loses the exporter's target: no up, no exporter series",
        ("WorkspaceExporterAbsent",),
        20 * MINUTE,
        2 * MINUTE,
        exporter_side=True,
        needs="--with-prometheus",
    ),
    # Fleet incidents (exporter/fake/fleet_scenarios.py). The demo's fleet sources refresh
    # every minute; each resolves within the next refresh plus an evaluation.
    "pool-nearly-full": Scenario(
        "all but about a tenth of the dynamic pool's desktops are bound to users",
        ("WorkspaceDesktopPoolNearlyFull",),
        25 * MINUTE,
        3 * MINUTE,
    ),
    "pool-exhausted": Scenario(
        "every desktop of the dynamic pool is bound to a user",
        ("WorkspaceDesktopPoolExhausted",),
        20 * MINUTE,
        3 * MINUTE,
    ),
    "quota-nearly-full": Scenario(
        "the desktop quota (general_instances) is 95% used",
        ("WorkspaceQuotaNearlyExhausted",),
        25 * MINUTE,
        3 * MINUTE,
    ),
    "quota-exhausted": Scenario(
        "the desktop quota (general_instances) is used up",
        ("WorkspaceQuotaExhausted",),
        25 * MINUTE,
        3 * MINUTE,
    ),
    "nightly-task-fails": Scenario(
        "the nightly reboot task fails on 3 desktops; at the end it is rerun cleanly",
        ("WorkspaceScheduledTaskFailed",),
        20 * MINUTE,
        3 * MINUTE,
    ),
    "agents-outdated": Scenario(
        "the agent upgrade task fails and half of the Windows desktops keep an old agent",
        ("WorkspaceUpgradeTaskFailed", "WorkspaceAgentsOutdated"),
        70 * MINUTE,  # WorkspaceAgentsOutdated holds for an hour
        3 * MINUTE,
    ),
    "cloud-alarm": Scenario(
        "Workspace raises a critical alarm; at the end Cloud Eye sets it back to ok",
        ("WorkspaceCloudAlarmActive",),
        20 * MINUTE,
        3 * MINUTE,
    ),
    "permission-missing": Scenario(
        f"the exporter's IAM policy lacks the quotas action ({fleet_scenarios.DENIED_API} answers 403)",
        ("WorkspaceSourcePermissionMissing",),
        25 * MINUTE,
        3 * MINUTE,
    ),
    "calm": Scenario("end every running scenario now", (), 0, 0),
}
THROTTLED_API = "desktop_monitor"
# What is left of the API's per-user quota for the exporter: a real limit throttles the calls
# beyond a rate (so backing off helps), not a fixed number of calls whatever the rate. The
# demo's 20 desktops at a 60 s interval need 20 calls a minute.
THROTTLE_PER_MINUTE = 12
CRASH_EVERY_S = 30.0
NO_DATAPOINT = math.nan


def _pick(sim: Simulation, n: int, *, windows: bool = False) -> tuple[str, ...]:
    """``n`` ACTIVE desktops no other incident holds (Windows ones when asked), seeded choice."""
    held = sim._held()
    pool = [
        d
        for d in sim.ws.desktops
        if d.get("status") == "ACTIVE" and d["desktop_id"] not in held and not (windows and is_linux(d))
    ]
    if len(pool) < n:
        raise ValueError(f"the fake has too few free ACTIVE desktops for this scenario (need {n})")
    return tuple(d["desktop_id"] for d in sim.rng.sample(pool, n))


def trigger(sim: Simulation, name: str, now: float, duration: float | None) -> JsonDict:
    """Start scenario ``name`` at ``now``; a running one of the same name is restarted."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ValueError(f"unknown scenario {name!r}; expected one of {sorted(SCENARIOS)}")
    if name == "calm":
        ended = sorted(sim.incidents)
        for incident in list(sim.incidents.values()):
            end(sim, incident)
        sim.incidents.clear()
        return {"scenario": name, "ended": ended}
    length = scenario.duration if duration is None else float(duration)
    if not 0 < length <= 86400:
        raise ValueError("duration must be between 0 and 86400 seconds")
    if scenario.exporter_side and name not in sim.hooks:
        needs = f" {scenario.needs}" if scenario.needs else ""
        raise ValueError(
            f"{name} acts on the exporter, not the fake API: run `workspace-exporter demo{needs}`"
        )
    if name in sim.incidents:
        end(sim, sim.incidents.pop(name))
    desktops: tuple[str, ...] = ()
    if scenario.exporter_side:
        sim.hooks[name].start()
    if name == "stuck-desktops":
        desktops = _pick(sim, 2)
        _logout_all(sim, desktops, now)
        sim.ws.update_desktop(desktops[0], login_status="REGISTERED")
        sim.ws.update_desktop(desktops[1], status="ERROR", login_status="UNREGISTER")
    elif name == "silent-desktop":
        desktops = _pick(sim, 1)
        _logout_all(sim, desktops, now)
        sim.ws.update_desktop(desktops[0], login_status="REGISTERED")
    elif name == "error-events":
        desktops = _pick(sim, 1)
        _crash(sim, desktops, now)  # the first at once, then every CRASH_EVERY_S
    elif name == "hot-desktops":
        desktops = _pick(sim, 2, windows=True)
    elif name == "upstream-outage":
        sim.ws.fail("*", 503, None, "APIGW.0202")
    elif name == "throttling":
        sim.ws.set_rate_limit(THROTTLED_API, THROTTLE_PER_MINUTE)
    extra: dict[str, Any] = {}
    if name in fleet_scenarios.FLEET_SCENARIOS:
        extra = fleet_scenarios.start(sim.ws, name, now)
    incident = Incident(name, now, now + length, desktops, extra)
    sim.incidents[name] = incident
    return {
        "scenario": name,
        "alerts": list(scenario.alerts),
        "since": now,
        "until": incident.until,
        "desktops": list(desktops),
    }


def _logout_all(sim: Simulation, desktops: tuple[str, ...], now: float) -> None:
    for did in desktops:
        session = sim._open(did)
        if session is not None:
            sim._logout(did, session, now)


def end(sim: Simulation, incident: Incident) -> None:
    """Undo what ``incident`` changed (its desktops go back to a normal idle state)."""
    if incident.name in sim.hooks and SCENARIOS[incident.name].exporter_side:
        sim.hooks[incident.name].end()
    elif incident.name == "upstream-outage":
        sim.ws.fail("*", 503, 0)
    elif incident.name == "throttling":
        sim.ws.set_rate_limit(THROTTLED_API, None)
    elif incident.name in fleet_scenarios.FLEET_SCENARIOS:
        fleet_scenarios.end(sim.ws, incident.name, sim.ws.now(), incident.extra)
    elif incident.name in ("stuck-desktops", "silent-desktop"):
        for did in incident.desktops:
            if sim.ws.desktop(did) is not None:
                sim.ws.update_desktop(did, status="ACTIVE", login_status="REGISTERED")


def apply(sim: Simulation, t: float, dt: float) -> None:
    """Per-step effects of the running incidents."""
    for incident in sim.incidents.values():
        if incident.name in fleet_scenarios.FLEET_SCENARIOS:
            fleet_scenarios.step(sim.ws, incident.name)
    burst = sim.incidents.get("error-events")
    if burst is not None and _crossed(burst.since, t, dt, CRASH_EVERY_S):
        _crash(sim, burst.desktops, t)


def _crash(sim: Simulation, desktops: tuple[str, ...], t: float) -> None:
    """An application crash on each desktop (logged in first: crashes need a session)."""
    for did in desktops:
        desktop = sim.ws.desktop(did)
        if desktop is None:
            continue
        session = sim._open(did)
        if session is None:
            sim.login(desktop, t)
            session = sim._open(did)
        if session is not None:
            sim.event(session, "APP", "APP_CRASH", "ERROR", t)


def _crossed(since: float, t: float, dt: float, every: float) -> bool:
    """True when a multiple of ``every`` after ``since`` falls in (t - dt, t]."""
    return math.floor((t - since) / every) > math.floor((t - dt - since) / every)


def value(sim: Simulation, desktop_id: str, key: str, t: float) -> float | None:
    """A monitoring value an incident imposes (NaN: no datapoint), or None."""
    for incident in sim.incidents.values():
        if desktop_id not in incident.desktops:
            continue
        if incident.name == "silent-desktop":
            return NO_DATAPOINT
        if incident.name == "hot-desktops" and key in PERCENT_KEYS and t > incident.since - PERIOD_S:
            return round(96.0 + 3.0 * unit(sim.seed, desktop_id, key, t), 2)
    return None


def stuck_logging_in(sim: Simulation, desktop_id: str) -> bool:
    """True for the desktop the stuck-desktops incident holds at the login screen."""
    stuck = sim.incidents.get("stuck-desktops")
    return stuck is not None and stuck.desktops[:1] == (desktop_id,)


def status(sim: Simulation, now: float) -> JsonDict:
    """What runs (``GET /_fake/scenario``): each running scenario with its alerts and end, and
    every scenario that can be started here."""
    running = []
    for incident in sorted(sim.incidents.values(), key=lambda i: i.since):
        scenario = SCENARIOS[incident.name]
        running.append(
            {
                "name": incident.name,
                "description": scenario.description,
                "alerts": list(scenario.alerts),
                "desktops": list(incident.desktops),
                "since": incident.since,
                "until": incident.until,
                "ends_in_seconds": max(0.0, round(incident.until - now, 1)),
                "alerts_resolve_within_seconds": scenario.resolves_within,
            }
        )
    available = {
        name: {
            "description": s.description,
            "alerts": list(s.alerts),
            "duration_seconds": s.duration,
            "alerts_resolve_within_seconds": s.resolves_within,
        }
        for name, s in SCENARIOS.items()
        if not s.exporter_side or name in sim.hooks
    }
    unavailable = {
        name: f"needs `workspace-exporter demo{(' ' + s.needs) if s.needs else ''}`"
        for name, s in SCENARIOS.items()
        if s.exporter_side and name not in sim.hooks
    }
    return {"running": running, "available": available, "unavailable": unavailable}
