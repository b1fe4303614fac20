"""Desktop pools and the desktop statistics Workspace keeps: capacity, and desktops by state.

A refresh makes three calls:

* ``GET /v2/{project_id}/desktop-pools`` (paged, 1000 a page, at most ``pools.max_pools``
  pools): per pool its type, status, maintenance mode, ``desktop_count``, ``desktop_used``
  (desktops bound to a user) and autoscale policy;
* ``GET /v2/{project_id}/statistics`` with ``statistics_type`` attach-state, login-state and
  run-state (repeated keys, as the SDK sends a list): the project's desktops by state;
* the same with ``desktop_type=POOLED``: the pooled desktops by state, per pool
  (``desktop_pool_statistics``). An answer without that list is exported without the
  per-pool breakdown and logged once.

A count that is missing or not a non-negative integer makes its series absent, never 0.
The refresh is all or nothing (:mod:`exporter.sources.fleet_common`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exporter.config.settings import PoolsConfig
from exporter.sources.base import next_version
from exporter.sources.fleet_common import Enum, FleetSource, count, flag
from exporter.sources.labels import bounded_id, bounded_text

POOLS_API = "desktop_pools"
STATS_API = "desktops_statistics"
CAP_KEY = "pools.max_pools"
STATISTICS_TYPES = ["attach-state", "login-state", "run-state"]

# The statistics objects: answer key, then (field, state label) of each count.
ATTACH = (
    "attach_statistics",
    (
        ("attached_num", "attached"),
        ("unattached_num", "unattached"),
        ("attaching_num", "attaching"),
        ("attach_error_num", "attach_error"),
    ),
)
LOGIN = (
    "login_state_statistics",
    (
        ("in_use_num", "in_use"),
        ("unregistered_num", "unregistered"),
        ("unable_to_connect_num", "unable_to_connect"),
        ("ready_num", "ready"),
        ("disconnected_num", "disconnected"),
    ),
)
RUN = (
    "run_state_statistics",
    (
        ("active_num", "active"),
        ("stop_num", "stopped"),
        ("error_num", "error"),
        ("hibernated_num", "hibernated"),
    ),
)
DIMENSIONS = {"attach": ATTACH, "login": LOGIN, "run": RUN}

_TYPES = Enum(("DYNAMIC", "STATIC"))
_STATUSES = Enum(("STEADY", "TEMPORARY", "EXIST_FROZEN", "UNKNOWN"))

Counts = tuple[tuple[str, int], ...]  # (state, desktops)


@dataclass(frozen=True)
class StateCounts:
    """Desktops by state as one ``/statistics`` object reports them (absent counts left out)."""

    total: int | None
    by: tuple[tuple[str, Counts], ...]  # (dimension: attach, login, run; its counts)

    def of(self, dimension: str) -> Counts:
        return next((c for d, c in self.by if d == dimension), ())


@dataclass(frozen=True)
class Pool:
    pool_id: str
    name: str
    type: str
    status: str
    availability_zone: str
    in_maintenance_mode: str  # "true", "false" or "" (not said)
    autoscale: str  # "true", "false" or ""
    desktops: int | None
    assigned: int | None
    autoscale_max: int | None  # only while autoscale is on
    autoscale_min_idle: int | None


@dataclass(frozen=True)
class PoolsSnapshot:
    pools: tuple[Pool, ...]
    fleet: StateCounts | None
    per_pool: tuple[tuple[str, StateCounts], ...]  # (pool_id, counts) of the pools listed
    version: int = field(default_factory=next_version, compare=False)


def _bool_label(value: object) -> str:
    b = flag(value)
    return "" if b is None else str(b).lower()


def parse_pool(raw: dict[str, Any]) -> Pool | None:
    pool_id = bounded_id(raw.get("id"))
    if not pool_id:
        return None
    autoscale = flag(raw.get("enable_autoscale"))
    policy = raw.get("autoscale_policy")
    policy = policy if isinstance(policy, dict) and autoscale else {}
    return Pool(
        pool_id=pool_id,
        name=bounded_text(raw.get("name")),
        type=_TYPES(raw.get("type")),
        status=_STATUSES(raw.get("status")),
        availability_zone=bounded_text(raw.get("availability_zone"), 64),
        in_maintenance_mode=_bool_label(raw.get("in_maintenance_mode")),
        autoscale=_bool_label(autoscale),
        desktops=count(raw.get("desktop_count")),
        assigned=count(raw.get("desktop_used")),
        autoscale_max=count(policy.get("max_auto_created")),
        autoscale_min_idle=count(policy.get("min_idle")),
    )


def parse_counts(raw: object) -> StateCounts | None:
    """One statistics object (the answer itself, or one ``desktop_pool_statistics`` item)."""
    if not isinstance(raw, dict):
        return None
    by = []
    for dimension, (key, fields) in DIMENSIONS.items():
        obj = raw.get(key)
        if not isinstance(obj, dict):
            continue
        counts = tuple((state, n) for name, state in fields if (n := count(obj.get(name))) is not None)
        by.append((dimension, counts))
    return StateCounts(count(raw.get("total_num")), tuple(by))


class PoolsSource(FleetSource[PoolsConfig]):
    """Keeps the latest :class:`PoolsSnapshot`; a failed refresh keeps the old one."""

    name = "pools"
    apis: tuple[str, ...] = (POOLS_API, STATS_API)
    snapshot: PoolsSnapshot | None = None

    def refresh(self) -> None:
        cfg = self.config
        if not cfg.enabled:
            return
        with self._lock:
            self.notes.begin()
            pools = self._pools(cfg)
            fleet = self._statistics({"statistics_type": STATISTICS_TYPES})
            pooled = self._statistics({"desktop_type": ["POOLED"], "statistics_type": STATISTICS_TYPES})
            fresh = PoolsSnapshot(
                pools, parse_counts(fleet), self._per_pool(pooled, {p.pool_id for p in pools})
            )
            self.notes.end()
            if fresh != self.snapshot:  # unchanged: keep the rendered exposition
                self.snapshot = fresh

    def _pools(self, cfg: PoolsConfig) -> tuple[Pool, ...]:
        found: dict[str, Pool] = {}
        listing = self._client.listing(POOLS_API, "desktop_pools", max_items=cfg.max_pools, cap_key=CAP_KEY)
        for page in listing:
            for raw in page.items:
                pool = parse_pool(raw)
                if pool is None or pool.pool_id in found:
                    self._sink.invalid_response(POOLS_API)
                    continue
                found[pool.pool_id] = pool
        if listing.truncated:
            self.notes.note(f"pool list cut at {listing.cap}", f"{len(found)} pools exported")
        return tuple(sorted(found.values(), key=lambda p: p.pool_id))

    def _statistics(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._client.request(STATS_API, None, params)

    def _per_pool(self, body: dict[str, Any], wanted: set[str]) -> tuple[tuple[str, StateCounts], ...]:
        items = body.get("desktop_pool_statistics")
        if not isinstance(items, list):
            self.notes.note(
                "no per-pool statistics", "desktop_type=POOLED answered without desktop_pool_statistics"
            )
            return ()
        out: dict[str, StateCounts] = {}
        for raw in items:
            pool_id = bounded_id(raw.get("desktop_pool_id")) if isinstance(raw, dict) else ""
            counts = parse_counts(raw)
            if not pool_id or counts is None or pool_id in out:
                self._sink.invalid_response(STATS_API)
            elif pool_id in wanted:  # a pool past pools.max_pools (or not listed) is not exported
                out[pool_id] = counts
        return tuple(sorted(out.items()))
