"""Families of the scheduled tasks (:mod:`exporter.sources.tasks`), rendered by
:mod:`exporter.exposition.tasks`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_EVERY = "cached, refreshed every tasks.interval"

TASK_INFO = Family(
    "scheduled_task",
    "info",
    f"Scheduled task metadata ({_EVERY}); enabled is true or false. Always 1.",
    ("task_id", "task_name", "task_type", "scheduled_type", "enabled"),
    "scheduled_tasks",
)
TASK_LAST_STATUS = Family(
    "scheduled_task_last_status",
    "gauge",
    f"1 for the task's last_status (SUCCESS, SKIP or FAIL; other values lower-cased), 0 for the others; "
    f"absent before the first run ({_EVERY}).",
    ("task_id", "status"),
    "scheduled_tasks",
)
TASK_NEXT_RUN = Family(
    "scheduled_task_next_run_timestamp_seconds",
    "gauge",
    f"Next execution time of the task, epoch seconds ({_EVERY}).",
    ("task_id",),
    "scheduled_tasks",
)
TASK_LAST_RUN = Family(
    "scheduled_task_last_run_timestamp_seconds",
    "gauge",
    f"Start of the task's newest execution record, epoch seconds ({_EVERY}).",
    ("task_id",),
    "scheduled_task_records",
)
TASK_LAST_RUN_DESKTOPS = Family(
    "scheduled_task_last_run_desktops",
    "gauge",
    f"Desktops by result (success, failed, skipped) in the task's newest execution record ({_EVERY}).",
    ("task_id", "result"),
    "scheduled_task_records",
)
TASK_FAMILIES: tuple[Family, ...] = (
    TASK_INFO,
    TASK_LAST_STATUS,
    TASK_NEXT_RUN,
    TASK_LAST_RUN,
    TASK_LAST_RUN_DESKTOPS,
)
