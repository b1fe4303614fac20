"""A seeded simulation of a small office that keeps the fake Workspace API alive.

:class:`Simulation` drives a :class:`~exporter.fake.state.FakeWorkspace` forward in time:
users log in and out through a compressed office day, a few percent of attempts fail
with reason codes in the documented ``"<code>:<text>"`` form, sessions drive the
monitoring values (a SHUTOFF desktop reports no datapoints), screen recordings start,
finish and upload with os-operation events of every type and level, and desktops
occasionally change status or are added and removed.

Time comes from the workspace's clock and is advanced only by :meth:`Simulation.tick`,
so a test runs a day in milliseconds; :meth:`Simulation.start` ticks in a thread for
the demo. Randomness comes from one ``random.Random(seed)``: the same seed and the
same tick times give the same office. Incidents for the shipped alerts live in
:mod:`exporter.fake.scenarios`.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque

from exporter.fake import scenarios
from exporter.fake.data import DYNAMIC_POOL, PERIOD_S, JsonDict, iso_seconds, pool_id
from exporter.fake.office import (
    CRASHES_PER_HOUR,
    DYNAMIC_POOL_SESSION_SHARE,
    EVERYDAY,
    EVERYDAY_WEIGHTS,
    FAILURE_REASONS,
    MAX_STEP_S,
    MAX_STEPS_PER_TICK,
    NIGHT_PRESENCE,
    SESSION_HISTORY,
    STORM_FAILURE_RATIO,
    STORM_RETRY_S,
    Session,
    SettledPoints,
    Upload,
    monitor_value,
)
from exporter.fake.scenarios import Incident
from exporter.fake.state import FakeWorkspace


class Simulation:
    """A seeded office around one fake workspace; see the module docstring.

    ``speed`` compresses the office day: 96 means one simulated day per 15 real minutes,
    so a demo shows mornings, lunch dips and evenings within its first hour.
    """

    def __init__(
        self,
        ws: FakeWorkspace,
        *,
        seed: int = 0,
        speed: float = 96.0,
        fleet_target: int | None = None,
        failure_ratio: float = 0.07,
    ) -> None:
        self.ws = ws
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not a secret
        self.seed = seed
        self.speed = speed
        self.failure_ratio = failure_ratio
        self.fleet_target = len(ws.desktops) if fleet_target is None else fleet_target
        self.epoch = ws.now()
        self.last = self.epoch
        self.sessions: dict[str, deque[Session]] = {}
        self.uploads: list[Upload] = []
        self.incidents: dict[str, Incident] = {}
        self.hooks: dict[str, scenarios.Hook] = {}  # exporter-side scenarios, registered by the demo
        self._settled = SettledPoints()  # finished monitoring points
        self.planned_ends: dict[str, float] = {}  # transaction id -> planned logout time
        self.failure_debt = self.rng.random()  # failures owed; an attempt fails when it reaches 1
        self.counts: dict[str, int] = {
            "attempts": 0,
            "failures": 0,
            "events": 0,
            "recordings": 0,
            "status_changes": 0,
            "added": 0,
            "removed": 0,
        }
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        ws.live = self
        self._dynamic_pool = pool_id(ws.seed, DYNAMIC_POOL)

    # ------------------------------------------------------------------ office clock

    def office_hour(self, t: float) -> float:
        """Hour of the simulated office day (0..24) at real time ``t``; the demo starts at 08:00."""
        return ((t - self.epoch) * self.speed / 3600.0 + 8.0) % 24.0

    def presence(self, t: float) -> float:
        """Share of users who want to be logged in at real time ``t`` (0.2 at night: a support
        shift and remote staff keep the counters moving; 0.9 in the late morning)."""
        hour = self.office_hour(t)
        if 7.0 <= hour < 19.0:
            peak = math.sin(math.pi * (hour - 7.0) / 12.0)
            dip = 0.25 if 12.0 <= hour < 13.0 else 0.0
            return max(NIGHT_PRESENCE, 0.9 * peak - dip)
        return NIGHT_PRESENCE

    # ------------------------------------------------------------------ driving

    def backfill(self, seconds: float) -> None:
        """Simulate the ``seconds`` before now, so a fresh demo already has a history."""
        with self._lock:
            self.epoch = self.last = self.ws.now() - seconds
        self.tick()

    def tick(self, until: float | None = None) -> int:
        """Advance the office to ``until`` (default: the workspace clock) in steps of at most
        :data:`MAX_STEP_S`; returns the steps taken."""
        target = self.ws.now() if until is None else until
        steps = 0
        with self._lock:
            while self.last < target and steps < MAX_STEPS_PER_TICK:
                t = min(target, self.last + MAX_STEP_S)
                self._step(t, t - self.last)
                self.last = t
                steps += 1
            if self.last < target:  # a pause longer than the step bound: skip the rest
                self.last = target
        return steps

    def start(self, period_s: float = 1.0) -> None:
        """Tick every ``period_s`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(period_s):
                self.tick()

        self._thread = threading.Thread(target=loop, name="fake-office", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # ------------------------------------------------------------------ one step

    def _step(self, t: float, dt: float) -> None:

        for name, incident in list(self.incidents.items()):
            if t >= incident.until:
                scenarios.end(self, incident)
                del self.incidents[name]
        scenarios.apply(self, t, dt)
        with self.ws._lock:  # shallow copies: a deep copy of the fleet every step dominates the run time
            desktops = [dict(d) for d in self.ws._desktops]
        for d in desktops:
            did = d["desktop_id"]
            open_session = self._open(did)
            if open_session is not None:
                self._in_session(d, open_session, t, dt)
            elif d.get("status") == "ACTIVE" and did not in self._held(("stuck-desktops", "silent-desktop")):
                self._maybe_login(d, t, dt)
        self._uploads(t)
        self._fleet(desktops, dt)

    def _held(self, names: tuple[str, ...] | None = None) -> set[str]:
        """Desktops held by the incidents ``names`` (default: all): the office leaves them alone."""
        out: set[str] = set()
        for incident in self.incidents.values():
            if names is None or incident.name in names:
                out.update(incident.desktops)
        return out

    def _open(self, desktop_id: str) -> Session | None:
        history = self.sessions.get(desktop_id)
        if history and history[-1].end is None:
            return history[-1]
        return None

    def _chance(self, rate_per_s: float, dt: float) -> bool:
        """True with the probability of at least one event of a Poisson process in ``dt``."""
        return self.rng.random() < 1.0 - math.exp(-rate_per_s * dt)

    def _maybe_login(self, d: JsonDict, t: float, dt: float) -> None:
        # A user who wants to work tries within about a simulated half hour.
        want = self.presence(t)
        storm = "login-failure-storm" in self.incidents
        rate = (want * self.speed / 1800.0) if not storm else 1.0 / STORM_RETRY_S
        if not self._chance(rate, dt):
            return
        if not self._failed_attempt(d, t, reconnect=False):
            self.login(d, t)

    def _failed_attempt(self, d: JsonDict, t: float, *, reconnect: bool) -> bool:
        """Count a connection attempt; record it as failed (and return True) when one is due."""
        self.counts["attempts"] += 1
        storm = "login-failure-storm" in self.incidents
        # Failures are spread evenly, not drawn per attempt: a few percent then shows as a
        # steadily moving counter instead of long droughts and bursts.
        self.failure_debt += STORM_FAILURE_RATIO if storm else self.failure_ratio
        if self.failure_debt < 1.0:
            return False
        self.failure_debt -= 1.0
        reason = FAILURE_REASONS[0] if storm else self.rng.choice(FAILURE_REASONS)
        self.ws.add_connection_record(
            desktop_id=d["desktop_id"],
            connection_start_time=math.floor(t),
            connection_failure_reason=reason,
            is_reconnect=reconnect,
        )
        self.counts["failures"] += 1
        return True

    def login(self, d: JsonDict, t: float) -> None:
        """Open a session on desktop ``d`` at ``t``: a connection record, a recording, APP_START."""
        start = math.floor(t)
        rec = self.ws.add_connection_record(
            desktop_id=d["desktop_id"],
            connection_start_time=start,
            connection_setup_time=start + self.rng.randint(2, 9),
            is_reconnect=False,
        )
        # A session lasts a simulated 1.5-4 hours (less in the dynamic pool).
        length = self.rng.uniform(1.5 * 3600.0, 4 * 3600.0) / self.speed
        if d.get("pool_id") == self._dynamic_pool:
            length *= DYNAMIC_POOL_SESSION_SHARE
        screen = self.ws.add_screen_record(d["desktop_id"], start_time=start)
        self.counts["recordings"] += 1
        session = Session(start, None, str(rec["transaction_id"]), str(screen["id"]))
        session_end = start + length
        self.sessions.setdefault(d["desktop_id"], deque(maxlen=SESSION_HISTORY)).append(session)
        self.planned_ends[session.transaction_id] = session_end
        self.ws.update_desktop(d["desktop_id"], login_status="CONNECTED")
        self.event(session, "APP", "APP_START", "INFO", t)

    def _in_session(self, d: JsonDict, s: Session, t: float, dt: float) -> None:
        if self._chance(CRASHES_PER_HOUR / 3600.0, dt):  # real time, whatever else happens
            self.event(s, "APP", "APP_CRASH", "ERROR", t)
        # About once per simulated hour the client drops and reconnects (Wi-Fi, sleep, roaming):
        # the open connection ends and a new one, marked as a reconnect, carries the session.
        settled = t - max(s.start, s.connected_at) >= 10.0  # setup finished; the drop comes after it
        if (
            settled
            and self._chance(self.speed / 3600.0, dt)
            and not self._failed_attempt(d, t, reconnect=True)
        ):
            now = math.floor(t)
            self.ws.update_connection_record(s.transaction_id, connection_end_time=now)
            rec = self.ws.add_connection_record(
                desktop_id=d["desktop_id"],
                connection_start_time=now,
                connection_setup_time=now + self.rng.randint(1, 4),
                is_reconnect=True,
            )
            planned = self.planned_ends.pop(s.transaction_id, t)
            s.transaction_id = str(rec["transaction_id"])
            s.connected_at = now
            self.planned_ends[s.transaction_id] = planned
            return  # a logout waits for the next step, so no connection ends as it starts
        # About one event per simulated half hour of work.
        if self._chance(self.speed / 1800.0, dt):
            etype, eid, level = self.rng.choices(EVERYDAY, EVERYDAY_WEIGHTS)[0]
            self.event(s, etype, eid, level, t)
        if t >= self.planned_ends.get(s.transaction_id, t) or d.get("status") != "ACTIVE":
            self._logout(d["desktop_id"], s, t)

    def _logout(self, desktop_id: str, s: Session, t: float) -> None:
        s.end = math.floor(t)
        self.planned_ends.pop(s.transaction_id, None)
        self.ws.update_connection_record(s.transaction_id, connection_end_time=s.end)
        self.event(s, "APP", "APP_STOP", "INFO", t)
        if self.rng.random() < 0.03:
            self.ws.set_record_status(s.record_id, "REC_FAILED")
        else:
            self.ws.set_record_status(s.record_id, "REC_COMPLETED")
            self.uploads.append(Upload(s.record_id, t + 30.0, "UPLOADING"))
        if self.ws.desktop(desktop_id) is not None:
            self.ws.update_desktop(desktop_id, login_status="DISCONNECTED")

    def event(self, s: Session, etype: str, eid: str, level: str, t: float) -> None:
        self.ws.add_operation(s.record_id, etype, eid, level, operation_time=t)
        self.counts["events"] += 1

    def _uploads(self, t: float) -> None:
        due = [u for u in self.uploads if u.at <= t]
        self.uploads = [u for u in self.uploads if u.at > t]
        for u in due:
            if u.next_status == "UPLOADING":
                self.ws.set_record_status(u.record_id, "UPLOADING")
                self.uploads.append(Upload(u.record_id, t + 60.0, "UPLOAD_COMPLETED"))
            else:
                final = "UPLOAD_FAILED" if self.rng.random() < 0.03 else "UPLOAD_COMPLETED"
                self.ws.set_record_status(u.record_id, final)

    def _fleet(self, desktops: list[JsonDict], dt: float) -> None:
        frozen = self._held()
        idle = [d for d in desktops if self._open(d["desktop_id"]) is None and d["desktop_id"] not in frozen]
        # Status changes about once per real 2 minutes in the whole fleet; a stopped desktop
        # is more likely to come back than a running one to stop, so about 1 in 7 rests.
        if idle and self._chance(1.0 / 120.0, dt):
            stopped = [d for d in idle if d.get("status") == "SHUTOFF"]
            running = [d for d in idle if d.get("status") == "ACTIVE"]
            if stopped and (not running or self.rng.random() < 0.85):
                d, status, login = self.rng.choice(stopped), "ACTIVE", "REGISTERED"
            else:
                d, status, login = self.rng.choice(running), "SHUTOFF", "UNREGISTER"
            self.ws.update_desktop(d["desktop_id"], status=status, login_status=login)
            self.counts["status_changes"] += 1
        # The fleet breathes by a desktop or two around its size, about every 10 minutes.
        if self._chance(1.0 / 600.0, dt):
            if len(desktops) <= self.fleet_target or not idle:
                self.ws.add_desktop()
                self.counts["added"] += 1
            else:
                victim = self.rng.choice(idle)
                self.ws.remove_desktop(victim["desktop_id"])
                self.sessions.pop(victim["desktop_id"], None)
                self.counts["removed"] += 1

    # ------------------------------------------------------------------ hooks read by the fake

    def _active_at(self, desktop_id: str, t: float) -> bool:
        sessions = self.sessions.get(desktop_id, ())
        return any(s.start <= t and (s.end is None or t < s.end) for s in sessions)

    def value(self, desktop: JsonDict, index: int, key: str, t: int, base: float) -> float | None:
        """The monitoring value the fake serves for ``key`` at ``t`` (None: no datapoint).

        The newest 5-minute point is still aggregating, so it follows the live state and
        moves between refreshes; older points are fixed by the session history.
        """

        with self._lock:
            did = str(desktop.get("desktop_id", ""))
            if desktop.get("status") != "ACTIVE":
                return None
            override = scenarios.value(self, did, key, t)
            if override is not None:
                return None if math.isnan(override) else override
            now = self.ws.now()
            live = t > now - PERIOD_S
            settled = None if live else self._settled.get(did, key, t)
            if settled is not None:
                return settled
            busy = self._active_at(did, now if live else t)
        value = monitor_value(self.seed, index, key, math.floor(now / 15.0) if live else t, busy, base)
        if not live:
            with self._lock:
                self._settled.put(did, key, t, value, now)
        return value

    def online(self, desktop_id: str) -> tuple[int, list[JsonDict]]:
        """``(online_status, user_online_info)`` of a desktop: its latest session, if any."""

        with self._lock:
            if scenarios.stuck_logging_in(self, desktop_id):
                return 1, []
            history = self.sessions.get(desktop_id)
            if not history:
                return 0, []
            s = history[-1]
        session = {
            "connection_setup_time": iso_seconds(s.start),
            "connection_end_time": None if s.end is None else iso_seconds(s.end),
            "error_code": "",
            "error_msg": "",
            "error_detail": "",
            "encoded_authorization_message": "",
        }
        return (2 if s.end is None else 0), [session]

    def trigger(self, name: str, duration: float | None = None) -> JsonDict:
        """Start scenario ``name`` now (see :data:`exporter.fake.scenarios.SCENARIOS`)."""

        with self._lock:
            return scenarios.trigger(self, name, self.ws.now(), duration)

    def scenario_status(self) -> JsonDict:
        """The running scenarios and the ones that can be started (``GET /_fake/scenario``)."""
        with self._lock:
            return scenarios.status(self, self.ws.now())
