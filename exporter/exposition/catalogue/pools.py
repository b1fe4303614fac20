"""Families of the desktop pools and Workspace's desktop statistics (:mod:`exporter.sources.pools`),
rendered by :mod:`exporter.exposition.pools`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_EVERY = "cached, refreshed every pools.interval"
_ATTACH = "attached, unattached, attaching or attach_error"
_LOGIN = "in_use, unregistered, unable_to_connect, ready or disconnected"
_RUN = "active, stopped, error or hibernated"

POOL_INFO = Family(
    "desktop_pool",
    "info",
    f"Desktop pool metadata ({_EVERY}): type DYNAMIC or STATIC, status, maintenance mode, whether "
    "autoscale is on. Always 1.",
    ("pool_id", "pool_name", "type", "status", "availability_zone", "in_maintenance_mode", "autoscale"),
    "desktop_pools",
)
POOL_DESKTOPS = Family(
    "desktop_pool_desktops",
    "gauge",
    f"Desktops in the pool (desktop_count; {_EVERY}).",
    ("pool_id",),
    "desktop_pools",
)
POOL_ASSIGNED = Family(
    "desktop_pool_desktops_assigned",
    "gauge",
    f"Desktops of the pool bound to a user (desktop_used; {_EVERY}).",
    ("pool_id",),
    "desktop_pools",
)
POOL_AUTOSCALE_MAX = Family(
    "desktop_pool_autoscale_max_desktops",
    "gauge",
    f"Autoscale max_auto_created of the pool; absent while autoscale is off ({_EVERY}).",
    ("pool_id",),
    "desktop_pools",
)
POOL_AUTOSCALE_MIN_IDLE = Family(
    "desktop_pool_autoscale_min_idle_desktops",
    "gauge",
    f"Autoscale min_idle of the pool (idle desktops kept in reserve); absent while autoscale is off "
    f"({_EVERY}).",
    ("pool_id",),
    "desktop_pools",
)
POOL_ATTACH = Family(
    "desktop_pool_desktops_attach_state",
    "gauge",
    f"Desktops of the pool by attach state ({_ATTACH}), as Workspace counts them ({_EVERY}).",
    ("pool_id", "state"),
    "desktops_statistics",
)
POOL_LOGIN = Family(
    "desktop_pool_desktops_login_state",
    "gauge",
    f"Desktops of the pool by login state ({_LOGIN}), as Workspace counts them ({_EVERY}).",
    ("pool_id", "state"),
    "desktops_statistics",
)
POOL_RUN = Family(
    "desktop_pool_desktops_run_state",
    "gauge",
    f"Desktops of the pool by run state ({_RUN}), as Workspace counts them ({_EVERY}).",
    ("pool_id", "state"),
    "desktops_statistics",
)
FLEET_DESKTOPS = Family(
    "fleet_desktops",
    "gauge",
    f"Desktops of the project as Workspace counts them (total_num; {_EVERY}).",
    (),
    "desktops_statistics",
)
FLEET_ATTACH = Family(
    "fleet_desktops_attach_state",
    "gauge",
    f"Desktops of the project by attach state ({_ATTACH}; {_EVERY}).",
    ("state",),
    "desktops_statistics",
)
FLEET_LOGIN = Family(
    "fleet_desktops_login_state",
    "gauge",
    f"Desktops of the project by login state ({_LOGIN}; {_EVERY}).",
    ("state",),
    "desktops_statistics",
)
FLEET_RUN = Family(
    "fleet_desktops_run_state",
    "gauge",
    f"Desktops of the project by run state ({_RUN}; {_EVERY}).",
    ("state",),
    "desktops_statistics",
)
POOL_FAMILIES: tuple[Family, ...] = (
    POOL_INFO,
    POOL_DESKTOPS,
    POOL_ASSIGNED,
    POOL_AUTOSCALE_MAX,
    POOL_AUTOSCALE_MIN_IDLE,
    POOL_ATTACH,
    POOL_LOGIN,
    POOL_RUN,
    FLEET_DESKTOPS,
    FLEET_ATTACH,
    FLEET_LOGIN,
    FLEET_RUN,
)
