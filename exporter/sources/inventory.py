"""Desktop inventory: every desktop of the project from ``/v2/{project_id}/desktops/detail``.

Each refresh replaces the snapshot whole, so desktops that vanish upstream vanish
from the exposition at the next refresh. Records without a ``desktop_id`` are
counted as invalid and skipped.

``desktops/detail`` has no pool field; the light list ``GET /v2/{project_id}/desktops``
(1000 a page) has ``pool_id``, so each refresh also pages through it and joins by
``desktop_id``: ``ceil(desktops / 1000)`` calls more (``desktops/detail`` itself takes
``ceil(desktops / 500)``). When the light list fails (e.g. its permission is missing) the
inventory is still published, with the pool ids last seen, and one line is logged per
change of that state.

Every label value from upstream is bounded (:mod:`exporter.sources.labels`): ids are
stripped and cut at 128 characters, names at 256, lone surrogates become U+FFFD. Two
records whose ids are the same once normalised (``" d-1 "`` and ``"d-1"``) are one
desktop: the later one is counted as invalid and dropped.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from exporter.clock import Clock
from exporter.config.settings import Config, InventoryConfig, ShardConfig
from exporter.errors import UpstreamError
from exporter.sources.base import InvalidSink, Scope, SourceHealth, next_version
from exporter.sources.labels import MAX_NAME_LEN, bounded_id, bounded_text

log = logging.getLogger(__name__)


DETAIL_API = "desktops_detail"
LIST_API = "desktops_list"  # the light list: the one desktop list that carries pool_id


class DesktopLister(Protocol):
    def list_desktops(self) -> list[dict[str, Any]]: ...

    def paginate(self, api: str, items_key: str) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class Desktop:
    desktop_id: str
    computer_name: str = ""
    user_name: str = ""
    status: str = ""
    login_status: str = ""
    availability_zone: str = ""
    os_type: str = ""
    product_id: str = ""
    desktop_type: str = ""
    pool_id: str = ""
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, key: str) -> str:
        for k, v in self.tags:
            if k == key:
                return v
        return ""


@dataclass(frozen=True)
class InventorySnapshot:
    desktops: tuple[Desktop, ...]
    taken_at: float  # wall-clock seconds
    version: int = field(default_factory=next_version)
    by_id: Mapping[str, Desktop] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, desktops: list[Desktop], taken_at: float) -> InventorySnapshot:
        ordered = tuple(sorted(desktops, key=lambda d: d.desktop_id))
        return cls(ordered, taken_at, by_id={d.desktop_id: d for d in ordered})


def _s(value: object) -> str:
    return bounded_text(value, MAX_NAME_LEN)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_desktop(raw: Mapping[str, Any]) -> Desktop | None:
    """A :class:`Desktop` from one ``DesktopDetailInfo`` object, or None when unusable."""
    did = bounded_id(raw.get("desktop_id"))
    if not did:
        return None
    metadata = _mapping(raw.get("metadata"))
    product = _mapping(raw.get("product"))
    tags: list[tuple[str, str]] = []
    raw_tags = raw.get("tags")
    if isinstance(raw_tags, list):
        for t in raw_tags:
            if isinstance(t, dict) and isinstance(t.get("key"), str):
                tags.append((t["key"].strip(), _s(t.get("value"))))
    return Desktop(
        desktop_id=did,
        computer_name=_s(raw.get("computer_name")),
        user_name=_s(raw.get("user_name")),
        status=_s(raw.get("status")),
        login_status=_s(raw.get("login_status")),
        availability_zone=_s(raw.get("availability_zone")),
        os_type=_s(metadata.get("os_type")),
        product_id=_s(raw.get("product_id") or product.get("product_id")),
        desktop_type=_s(raw.get("desktop_type")),
        pool_id=_s(raw.get("pool_id")),
        tags=tuple(tags),
    )


def shard_of(desktop_id: str, count: int) -> int:
    """The shard (0..count-1) a desktop belongs to: crc32 of its id, stable across processes."""
    return zlib.crc32(desktop_id.encode()) % count


class InventorySource:
    """Keeps the latest good :class:`InventorySnapshot`; a failed refresh keeps the old one."""

    name = "inventory"
    apis: tuple[str, ...] = (DETAIL_API, LIST_API)
    scope: Scope = "shard"  # each shard lists the desktops it owns

    def __init__(
        self,
        client: DesktopLister,
        config: InventoryConfig,
        clock: Clock,
        invalid: InvalidSink,
        shard: ShardConfig | None = None,
    ) -> None:
        self._client = client
        self.config = config
        self._clock = clock
        self._invalid = invalid
        self.shard = shard or ShardConfig()
        self.health = SourceHealth(self.name, clock)
        self.snapshot: InventorySnapshot | None = None
        self._pools: dict[str, str] = {}  # desktop_id -> pool_id, from the light list
        self._pools_failing = False

    def interval(self) -> float:
        return self.config.interval

    def reconfigure(self, config: Config) -> None:
        self.config = config.inventory
        self.shard = config.shard

    def refresh(self) -> None:
        """Fetch every desktop and swap the snapshot. Raises UpstreamError on failure."""
        raw = self._client.list_desktops()
        pools = self._pool_ids()
        desktops: dict[str, Desktop] = {}
        for item in raw:
            d = parse_desktop(item)
            if d is None or d.desktop_id in desktops:  # unusable, or a duplicate once normalised
                self._invalid.invalid_response(DETAIL_API)
            elif self.shard.count == 1 or shard_of(d.desktop_id, self.shard.count) == self.shard.index:
                desktops[d.desktop_id] = replace(d, pool_id=pools.get(d.desktop_id, d.pool_id))
        old = self.snapshot
        fresh = InventorySnapshot.of(list(desktops.values()), self._clock.time())
        if old is None or fresh.desktops != old.desktops:  # unchanged: keep the rendered exposition
            self.snapshot = fresh
        if old is None or len(old.desktops) != len(desktops):
            log.info("desktop inventory size=%d", len(desktops))

    def _pool_ids(self) -> dict[str, str]:
        """desktop_id -> pool_id from the light list; the last good map when it fails."""
        pools: dict[str, str] = {}
        try:
            for item in self._client.paginate(LIST_API, "desktops"):
                did = bounded_id(item.get("desktop_id"))
                if did:
                    pools[did] = bounded_id(item.get("pool_id"))
        except UpstreamError as e:
            if not self._pools_failing:
                log.warning("desktop pool ids unavailable, pool_id keeps its last value error=%s", e)
                self._pools_failing = True
            return self._pools
        if self._pools_failing:
            log.info("desktop pool ids available again api=%s", LIST_API)
            self._pools_failing = False
        self._pools = pools
        return pools
