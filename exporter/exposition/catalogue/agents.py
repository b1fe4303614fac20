"""Families of the agent versions, upgrade tasks and monitoring plug-ins
(:mod:`exporter.sources.agents`), rendered by :mod:`exporter.exposition.agents`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_EVERY = "cached, refreshed every agents.interval"

AGENT_VERSION_DESKTOPS = Family(
    "agent_version_desktops",
    "gauge",
    f"Desktops per agent (HDA) version and OS; past agents.max_versions the rest as version other "
    f"({_EVERY}).",
    ("os_type", "version"),
    "desktop_version_statistics",
)
AGENT_OUTDATED_DESKTOPS = Family(
    "agent_outdated_desktops",
    "gauge",
    f"Desktops whose agent version is older than the reference version of their OS (see "
    f"agent_reference_version_info; {_EVERY}).",
    ("os_type",),
    "desktop_version_statistics",
)
AGENT_REFERENCE_VERSION = Family(
    "agent_reference_version",
    "info",
    f"Version an OS's agents are compared with: agents.target_versions (source config), else the newest "
    f"version on at least agents.reference_min_share of that OS's desktops (source fleet) ({_EVERY}). "
    "Always 1.",
    ("os_type", "version", "source"),
    "desktop_version_statistics",
)
UPGRADE_TASK_INFO = Family(
    "upgrade_task",
    "info",
    f"Agent upgrade task metadata; task_type is desktop, app_server or image ({_EVERY}). Always 1.",
    ("task_id", "task_name", "task_type", "scheduled_type", "target_version", "enabled"),
    "upgrade_tasks",
)
UPGRADE_TASK_LAST_STATUS = Family(
    "upgrade_task_last_status",
    "gauge",
    f"1 for the upgrade task's last_execute_status (SUCCESS, FAILED, RUNNING or WAITING; other values "
    f"lower-cased), 0 for the others; absent before the first execution ({_EVERY}).",
    ("task_id", "status"),
    "upgrade_tasks",
)
MONITORING_PLUGIN_DESKTOPS = Family(
    "monitoring_plugin_desktops",
    "gauge",
    f"Desktops by monitoring plug-in, its version and whether it is installed; only with "
    f"agents.monitoring_plugins ({_EVERY}).",
    ("plugin", "version", "installed"),
    "agents_install",
)
AGENT_FAMILIES: tuple[Family, ...] = (
    AGENT_VERSION_DESKTOPS,
    AGENT_OUTDATED_DESKTOPS,
    AGENT_REFERENCE_VERSION,
    UPGRADE_TASK_INFO,
    UPGRADE_TASK_LAST_STATUS,
    MONITORING_PLUGIN_DESKTOPS,
)
