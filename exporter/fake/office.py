"""The simulated office's parts: its numbers (who fails to log in and why, which events a
session records and how often, how long sessions last, the bounds of a tick), its records
(a session, an upload), the monitoring value a desktop reports and the finished points kept.

:mod:`exporter.fake.sim` runs the office with them; the rates are real-time rates (the
office day is compressed, the shipped alerts' windows are not), so a normal day pages no one.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.fake.data import PERCENT_KEYS, unit

#: Failure reasons in the ``"<numeric code>:<message>"`` form of v1.0 login records.
#: 400200 is the documented example; the others are plausible fakes in the same form.
FAILURE_REASONS: tuple[str, ...] = (
    "400200:The desktop is being prepared.",
    "400301:The user name or password is incorrect.",
    "400509:The desktop is not assigned to the user.",
    "500103:The connection to the desktop timed out.",
)
#: Every documented event id with its type, a plausible level and how common it is among a
#: session's events. APP_CRASH (the only ERROR) is not drawn from this mix: see CRASHES_PER_HOUR.
EVENTS: tuple[tuple[str, str, str], ...] = (
    ("APP", "APP_START", "INFO"),
    ("APP", "APP_STOP", "INFO"),
    ("APP", "APP_CRASH", "ERROR"),
    ("APP", "APP_HANG", "ALARM"),
    ("APP", "APP_INSTALL", "INFO"),
    ("APP", "APP_UNINSTALL", "ALARM"),
    ("FILE", "FILE_CREATE", "INFO"),
    ("FILE", "FILE_DELETE", "ALARM"),
    ("FILE", "FILE_RENAME", "INFO"),
    ("REG", "REG_MODIFY", "ALARM"),
    ("HDP", "HDP_FILE", "INFO"),
    ("HDP", "HDP_USB", "ALARM"),
    ("HDP", "HDP_CLIPBOARD", "INFO"),
    ("HDP", "HDP_INPUTIDLE", "INFO"),
    ("HDP", "HDP_PRINT", "INFO"),
)
_WEIGHTS = {"INFO": 10, "ALARM": 3}
#: The everyday mix: informational events common, alarms less so, no errors.
EVERYDAY: tuple[tuple[str, str, str], ...] = tuple(e for e in EVENTS if e[2] != "ERROR")
EVERYDAY_WEIGHTS: tuple[int, ...] = tuple(_WEIGHTS[e[2]] for e in EVERYDAY)
#: Application crashes per hour of a desktop's sessions, in real time. The office day is
#: compressed (SPEED), an alert's window is not: rates the shipped alerts count per desktop
#: must be real-time rates of a normal office, else a normal day pages. One crash per 20 hours
#: of work makes 3 crashes on one desktop within an hour (WorkspaceDesktopAppCrashing) a
#: once-in-years event, while a 20-desktop demo still shows a crash every couple of hours.
CRASHES_PER_HOUR = 0.05
NIGHT_PRESENCE = 0.2
#: The dynamic pool's users (sales, on the road) keep their sessions about two thirds as
#: long, so the pool fills to at most 90% at the late-morning peak, for a minute or two, and
#: never stays nearly full (WorkspaceDesktopPoolNearlyFull is for the pool-nearly-full
#: scenario, not a normal day).
DYNAMIC_POOL_SESSION_SHARE = 0.65
# login-failure-storm: users locked out retry every ~10 s and 3 attempts in 4 fail, enough to
# outweigh a quarter hour of normal attempts in WorkspaceLoginFailuresHigh's 15-minute ratio
# within a couple of minutes.
STORM_RETRY_S = 10.0
STORM_FAILURE_RATIO = 0.75
MAX_STEP_S = 10.0  # one tick never simulates more than this in one go
MAX_STEPS_PER_TICK = 1000  # bounds a tick after a long pause (about 2.8 hours of steps)
SESSION_HISTORY = 16  # sessions remembered per desktop for monitoring values
SETTLED_MAX = 200_000  # finished monitoring points remembered (about 40 MB at most) ...
SETTLED_KEEP_S = 2 * 3600.0  # ... pruned to the last two hours (the exporter's window is 1 h)


def monitor_value(seed: int, index: int, key: str, tick: float, busy: bool, base: float) -> float:
    """A desktop's monitoring value for ``key``: high while a session keeps it busy, low when
    idle, wobbling by a hash of (seed, desktop, key, ``tick``); percentages stay in range and
    memory and disk never read empty."""
    wobble = unit(seed, index, key, tick)
    level = (0.45 + 0.5 * wobble) if busy else (0.04 + 0.08 * wobble)
    if key in PERCENT_KEYS:
        floor_pct = 35.0 if key != "cpu_info" else 1.0
        return round(min(97.0, floor_pct + (100.0 - floor_pct) * 0.8 * level), 2)
    if key == "network_vm_connections":
        return float(int(1 + 30 * level))
    return round(base * (0.2 + 1.6 * level), 2)


class SettledPoints:
    """Finished 5-minute points: they never change again (also once the session that made
    one busy has left the bounded history), and a query window re-reads them often. Bounded
    by :data:`SETTLED_MAX`, pruned to the last :data:`SETTLED_KEEP_S`. Not thread-safe: the
    simulation holds its lock around each use."""

    def __init__(self) -> None:
        self._points: dict[tuple[str, str, int], float] = {}

    def get(self, did: str, key: str, t: int) -> float | None:
        return self._points.get((did, key, t))

    def put(self, did: str, key: str, t: int, value: float, now: float) -> None:
        self._points[did, key, t] = value
        if len(self._points) > SETTLED_MAX:
            oldest = now - SETTLED_KEEP_S
            self._points = {k: v for k, v in self._points.items() if k[2] >= oldest}


@dataclass
class Session:
    """One user session on a desktop (a reconnect keeps it, with a new connection)."""

    start: float
    end: float | None = None
    transaction_id: str = ""
    record_id: str = ""
    connected_at: float = 0.0  # start of the current connection (a reconnect starts a new one)


@dataclass
class Upload:
    """A screen recording's next upload status and when it comes."""

    record_id: str
    at: float
    next_status: str
