"""Scheduled tasks and the outcome of their latest run ("which tasks failed overnight").

A refresh lists the tasks (``GET /v2/{project_id}/scheduled-tasks``, ``offset`` and ``limit``
always sent, 50 a page, at most ``tasks.max_tasks``; triggered ``LIFE_CYCLE`` tasks only with
``tasks.include_triggered``, a second listing, since the API returns them only when asked).
It then reads the execution records (``GET .../scheduled-tasks/{task_id}/records``) of each
task that has run and is new, whose ``last_status`` or ``next_execution_time`` changed (it
ran), or whose records were last read :data:`RECHECK_S` ago; at most
:data:`MAX_RECORD_CALLS` a refresh, the rest in the next ones. Steady state: about one
call a refresh.

The newest record is the one with the latest ``start_time``. The record order is not
documented: when the first page ascends and more records exist, the last page is read too.
Times are ``yyyy-MM-dd HH:mm:ss`` and read in the task's ``time_zone`` when that is an IANA
zone, else as UTC (logged once). A task deleted between the listing and its records (404)
is skipped; any other failure fails the refresh (:mod:`exporter.sources.fleet_common`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from exporter.clock import Clock
from exporter.config.settings import TasksConfig
from exporter.errors import InvalidResponseError, UpstreamError
from exporter.sources.base import next_version
from exporter.sources.conditions import not_found
from exporter.sources.fleet_common import Enum, FleetClient, FleetSink, FleetSource, Notes, count, flag
from exporter.sources.labels import bounded_id, bounded_text

LIST_API = "scheduled_tasks"
RECORDS_API = "scheduled_task_records"
CAP_KEY = "tasks.max_tasks"
RECHECK_S = 6 * 3600.0  # records of an unchanged task are read again this often
MAX_RECORD_CALLS = 100  # records calls per refresh (the first refresh of a large tenant)
RECORDS_PAGE = 10  # the API's default page: enough to find the newest run
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LAST_STATUSES = ("SUCCESS", "SKIP", "FAIL")

_TASK_TYPES = Enum(
    (
        "START",
        "STOP",
        "REBOOT",
        "HIBERNATE",
        "REBUILD",
        "EXECUTE_SCRIPT",
        "CREATE_SNAPSHOT",
        "DELETE_BLACK_ECS",
    )
)
_SCHEDULED_TYPES = Enum(("FIXED_TIME", "DAY", "WEEK", "MONTH", "LIFE_CYCLE"))
_STATUSES = Enum(LAST_STATUSES)


@dataclass(frozen=True)
class Task:
    task_id: str
    name: str
    task_type: str
    scheduled_type: str
    enabled: str  # "true", "false" or ""
    last_status: str  # "" before the first run
    next_run: float | None


@dataclass(frozen=True)
class LastRun:
    started: float | None
    success: int | None
    failed: int | None
    skipped: int | None


@dataclass(frozen=True)
class TasksSnapshot:
    tasks: tuple[Task, ...]
    runs: tuple[tuple[str, LastRun], ...]  # (task_id, its newest record)
    version: int = field(default_factory=next_version, compare=False)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError, UnicodeError):  # not found (a KeyError), malformed
        return None


def parse_time(value: object, zone: object, notes: Notes | None = None) -> float | None:
    """``yyyy-MM-dd HH:mm:ss`` in ``zone`` (an IANA name; UTC when absent or unknown) → epoch s."""
    if not isinstance(value, str) or len(value) != 19:
        return None
    try:
        naive = datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        return None
    tz: tzinfo | None = UTC
    name = zone if isinstance(zone, str) and 0 < len(zone) <= 64 else ""
    if name and name.upper() != "UTC":
        tz = _zone(name)
        if tz is None:
            if notes is not None:
                notes.note("task time zone not known", f"{bounded_text(name, 64)!r} read as UTC")
            tz = UTC
    return naive.replace(tzinfo=tz).timestamp()


def parse_task(raw: dict[str, Any], notes: Notes) -> Task | None:
    task_id = bounded_id(raw.get("id"))
    if not task_id:
        return None
    enable = flag(raw.get("enable"))
    status = raw.get("last_status")
    return Task(
        task_id=task_id,
        name=bounded_text(raw.get("task_name")),
        task_type=_TASK_TYPES(raw.get("task_type")),
        scheduled_type=_SCHEDULED_TYPES(raw.get("scheduled_type")),
        enabled="" if enable is None else str(enable).lower(),
        last_status=_STATUSES(status) if isinstance(status, str) and status else "",
        next_run=parse_time(raw.get("next_execution_time"), raw.get("time_zone"), notes),
    )


def parse_run(raw: dict[str, Any], notes: Notes) -> LastRun:
    return LastRun(
        started=parse_time(raw.get("start_time"), raw.get("time_zone"), notes),
        success=count(raw.get("success_num")),
        failed=count(raw.get("failed_num")),
        skipped=count(raw.get("skip_num")),
    )


@dataclass
class _Seen:
    marker: tuple[object, object]  # (last_status, next_execution_time) as listed
    checked: float  # monotonic time the records were last read


class TasksSource(FleetSource[TasksConfig]):
    """Keeps the latest :class:`TasksSnapshot`; a failed refresh keeps the old one."""

    name = "tasks"
    apis: tuple[str, ...] = (LIST_API, RECORDS_API)

    def __init__(self, client: FleetClient, config: TasksConfig, clock: Clock, sink: FleetSink) -> None:
        super().__init__(client, config, clock, sink)
        self.snapshot: TasksSnapshot | None = None
        self._seen: dict[str, _Seen] = {}
        self._runs: dict[str, LastRun] = {}

    def refresh(self) -> None:
        cfg = self.config
        if not cfg.enabled:
            return
        with self._lock:
            self.notes.begin()
            listed = self._list(cfg)
            seen, runs = dict(self._seen), {k: v for k, v in self._runs.items() if k in listed}
            for task_id in self._due(listed, seen):
                marker, run = listed[task_id][1], self._newest(task_id)
                seen[task_id] = _Seen(marker, self._clock.monotonic())
                if run is None:
                    runs.pop(task_id, None)
                else:
                    runs[task_id] = run
            # Committed only now: a refresh that failed half-way reads the same records again.
            self._seen = {k: v for k, v in seen.items() if k in listed}
            self._runs = runs
            self.notes.end()
            tasks = tuple(sorted((t for t, _ in listed.values()), key=lambda t: t.task_id))
            fresh = TasksSnapshot(tasks, tuple(sorted(runs.items())))
            if fresh != self.snapshot:
                self.snapshot = fresh

    def _list(self, cfg: TasksConfig) -> dict[str, tuple[Task, tuple[object, object]]]:
        listed: dict[str, tuple[Task, tuple[object, object]]] = {}
        queries: list[dict[str, str]] = [{}]
        if cfg.include_triggered:
            queries.append({"scheduled_type": "LIFE_CYCLE"})
        for params in queries:
            room = cfg.max_tasks - len(listed)
            listing = self._client.listing(
                LIST_API, "scheduled_tasks", params, max_items=room, cap_key=CAP_KEY
            )
            for page in listing:
                for raw in page.items:
                    task = parse_task(raw, self.notes)
                    if task is None or task.task_id in listed:
                        self._sink.invalid_response(LIST_API)
                        continue
                    listed[task.task_id] = (task, (raw.get("last_status"), raw.get("next_execution_time")))
            if listing.truncated:
                self.notes.note(f"task list cut at {listing.cap}", f"{len(listed)} tasks exported")
                break
        return listed

    def _due(
        self, listed: dict[str, tuple[Task, tuple[object, object]]], seen: dict[str, _Seen]
    ) -> list[str]:
        """Tasks whose records to read now: changed ones first, then the longest unchecked."""
        now = self._clock.monotonic()
        changed, stale = [], []
        for task_id, (task, marker) in listed.items():
            if not task.last_status:
                continue  # never ran: no record to read
            known = seen.get(task_id)
            if known is None or known.marker != marker:
                changed.append(task_id)
            elif now - known.checked >= RECHECK_S:
                stale.append((known.checked, task_id))
        due = changed + [t for _, t in sorted(stale)]
        if len(due) > MAX_RECORD_CALLS:
            self.notes.note("records read over several refreshes", f"{len(due)} tasks due")
        return due[:MAX_RECORD_CALLS]

    def _page(self, task_id: str, offset: int) -> tuple[list[dict[str, Any]], int | None]:
        body = self._client.request(
            RECORDS_API, {"task_id": task_id}, {"offset": offset, "limit": RECORDS_PAGE}
        )
        items = body.get("tasks_records")
        if not isinstance(items, list):
            self._sink.invalid_response(RECORDS_API)
            host = self._client.host(RECORDS_API)
            raise InvalidResponseError(RECORDS_API, 200, host=host, cause="body has no tasks_records list")
        return [r for r in items if isinstance(r, dict)], count(body.get("total_count"))

    def _newest(self, task_id: str) -> LastRun | None:
        """The task's newest record, None when it has none (or was deleted meanwhile)."""
        try:
            records, total = self._page(task_id, 0)
            runs = [parse_run(r, self.notes) for r in records]
            times = [r.started for r in runs if r.started is not None]
            ascending = len(times) >= 2 and times[0] < times[-1]
            if ascending and total is not None and total > len(records):
                last, _ = self._page(task_id, max(0, total - RECORDS_PAGE))
                runs += [parse_run(r, self.notes) for r in last]
        except UpstreamError as e:
            if not_found(e):
                return None
            raise
        dated = [r for r in runs if r.started is not None]
        if not dated:
            if runs:
                self._sink.invalid_response(RECORDS_API)
            return None
        return max(dated, key=lambda r: r.started or 0.0)
