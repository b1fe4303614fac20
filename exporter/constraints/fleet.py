"""The constraint table's rows for the fleet APIs: pools, desktop statistics, scheduled and
upgrade tasks, agents, alarms and user events.

Each row cites every source that states the constraint; where they disagree or say nothing
the row takes the strictest plausible reading and ``choice`` says so (docs/api-constraints.md).
"""

from __future__ import annotations

from exporter.constraints.kinds import Format, IntRange, OneOf, Required
from exporter.constraints.rules import SECOND, Cite, Rule
from exporter.constraints.windows import Recent
from exporter.constraints.workspace import en, sdk, zh

USER_EVENTS_MAX_AGE = 30 * 86400.0  # only the last 30 days can be queried
NO_MAXIMUM = "No maximum is published: the fake takes the default as the largest page, the strictest reading."
REPEATED = (
    "A list parameter (collection format csv): the SDK sends every value as a repeated key, so a "
    "comma-joined value is not one of the values and is refused."
)


def _offset(api: str, model: str) -> IntRange:
    return IntRange(
        api=api, name="offset", param="offset", lo=0, default=0, cites=(sdk(f"{model}.offset", "from 0"),)
    )


def _limit(api: str, hi: int, default: int | None, *cites: Cite, choice: str = "") -> IntRange:
    return IntRange(
        api=api, name="limit", param="limit", lo=0, hi=hi, default=default, cites=cites, choice=choice
    )


def _one_of(api: str, model: str, param: str, allowed: tuple[str, ...], choice: str = "") -> OneOf:
    return OneOf(
        api=api,
        name=param,
        param=param,
        allowed=allowed,
        cites=(sdk(f"{model}.{param}", ", ".join(allowed)),),
        choice=choice,
    )


_POOLS = "ListDesktopPoolsRequest"
_STATS = "ListDesktopsStatisticsRequest"
_TASKS = "ListScheduledTasksRequest"
_RECORDS = "ListScheduledTasksRecordsRequest"
_UPGRADES = "ListUpgradeTasksRequest"
_AGENTS = "ListAgentsInstallConditionRequest"
_ALARMS = "ListAlarmsRequest"
_EVENTS = "ListUserEventsRequest"
TASK_TYPES = ("START", "STOP", "REBOOT", "HIBERNATE", "REBUILD", "EXECUTE_SCRIPT", "CREATE_SNAPSHOT")
SCHEDULED_TYPES = ("FIXED_TIME", "DAY", "WEEK", "MONTH", "LIFE_CYCLE")

FLEET: list[Rule] = [
    # ------------------------------------------------------------------ pools
    _limit(
        "desktop_pools",
        1000,
        1000,
        sdk(f"{_POOLS}.limit", "0–1000, default 1000"),
        en("ListDesktopPools", "0 to 1000, default 1000"),
    ),
    _offset("desktop_pools", _POOLS),
    _one_of("desktop_pools", _POOLS, "type", ("DYNAMIC", "STATIC")),
    _one_of("desktops_statistics", _STATS, "desktop_type", ("DEDICATED", "POOLED"), REPEATED),
    _one_of(
        "desktops_statistics",
        _STATS,
        "statistics_type",
        ("attach-state", "login-state", "run-state"),
        REPEATED,
    ),
    # ------------------------------------------------------------------ scheduled tasks
    Required(
        api="scheduled_tasks",
        name="required",
        params=("offset", "limit"),
        cites=(zh("ListScheduledTasks", "offset and limit: mandatory"),),
        choice="The SDK leaves both optional; the reference marks them mandatory, the stricter reading.",
    ),
    _limit(
        "scheduled_tasks",
        50,
        None,
        sdk(f"{_TASKS}.limit", "0–50"),
        zh("ListScheduledTasks", "limit 0–50"),
    ),
    _offset("scheduled_tasks", _TASKS),
    _one_of("scheduled_tasks", _TASKS, "task_type", TASK_TYPES),
    _one_of("scheduled_tasks", _TASKS, "scheduled_type", SCHEDULED_TYPES),
    _one_of("scheduled_tasks", _TASKS, "last_status", ("SUCCESS", "SKIP", "FAIL")),
    _limit(
        "scheduled_task_records",
        100,
        10,
        sdk(f"{_RECORDS}.limit", "0–100, default 10"),
    ),
    _offset("scheduled_task_records", _RECORDS),
    # ------------------------------------------------------------------ agents
    _limit(
        "upgrade_tasks",
        100,
        10,
        sdk(f"{_UPGRADES}.limit", "default 10, at most 100"),
        zh("ListUpgradeTasks", "limit default 10, at most 100"),
    ),
    _offset("upgrade_tasks", _UPGRADES),
    IntRange(
        api="upgrade_tasks",
        name="task_type",
        param="task_type",
        lo=0,
        hi=2,
        cites=(sdk(f"{_UPGRADES}.task_type", "0 desktop, 1 app server, 2 image"),),
    ),
    _limit(
        "agents_install",
        100,
        100,
        Cite("none", "-", "neither the SDK nor the reference page gives a range or a default"),
        choice="Not documented: the fake takes 0–100, the page size of the other Workspace lists; "
        "the exporter pages within it and a server answering fewer pages on.",
    ),
    _offset("agents_install", _AGENTS),
    # ------------------------------------------------------------------ alarms
    _limit(
        "alarms",
        100,
        100,
        sdk(f"{_ALARMS}.limit", "default 100"),
        choice=NO_MAXIMUM,
    ),
    _offset("alarms", _ALARMS),
    IntRange(
        api="alarms",
        name="level",
        param="level",
        lo=1,
        hi=4,
        cites=(sdk(f"{_ALARMS}.level", "1 critical, 2 major, 3 minor, 4 info"),),
    ),
    # ------------------------------------------------------------------ user events
    Required(
        api="user_events",
        name="required",
        params=("start_time", "end_time"),
        cites=(zh("ListUserEvents", "start_time and end_time: mandatory"),),
        choice="The SDK leaves both optional; the reference marks them mandatory, the stricter reading.",
    ),
    Format(
        api="user_events",
        name="time_format",
        params=("start_time", "end_time"),
        fmt=SECOND,
        cites=(sdk(f"{_EVENTS}.start_time", "UTC, e.g. 1970-01-01T00:00:00Z"),),
    ),
    Recent(
        api="user_events",
        name="last_30_days",
        params=("start_time", "end_time"),
        fmt=SECOND,
        max_age=USER_EVENTS_MAX_AGE,
        cites=(
            sdk(f"{_EVENTS}.start_time", "only the last 30 days can be queried"),
            sdk(f"{_EVENTS}.start_time/end_time", "at most 30 days apart (implied by the above)"),
        ),
        choice="Read strictly: a time exactly 30 days old, or later than now, is refused.",
    ),
    _limit(
        "user_events",
        1000,
        100,
        sdk(f"{_EVENTS}.limit", "0–1000, default 100"),
    ),
    _offset("user_events", _EVENTS),
]
