"""Families of the Workspace alarms (:mod:`exporter.sources.alarms`), rendered by
:mod:`exporter.exposition.alarms`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_EVERY = "cached, refreshed every alarms.interval"

ALARM_RECORDS = Family(
    "alarm_records",
    "gauge",
    f"Alarm records per level (critical, major, minor, info) as Workspace's alarm statistics report them; "
    f"what is counted is not documented ({_EVERY}).",
    ("level",),
    "alarm_statistics",
)
ALARMS_ACTIVE = Family(
    "alarms_active",
    "gauge",
    f"Alarm records in state alarm, per alarm rule and level, for the levels in alarms.levels; a rule "
    f"without one is absent ({_EVERY}).",
    ("alarm_id", "level"),
    "alarms",
)
ALARM_RULE_INFO = Family(
    "alarm_rule",
    "info",
    f"Metadata of the alarm rules with active records ({_EVERY}). Always 1.",
    ("alarm_id", "alarm_name", "type", "metric_namespace", "metric_name"),
    "alarms",
)
ALARM_FAMILIES: tuple[Family, ...] = (ALARM_RECORDS, ALARMS_ACTIVE, ALARM_RULE_INFO)
