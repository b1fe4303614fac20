"""Desktop inventory: every desktop of the project (or shard) from ``desktops/detail``.

**Streamed.** Pages are read one at a time and each desktop is cut, as it is decoded, to
the ``desktop_info`` labels and the tags of ``inventory.tag_labels``
(:mod:`exporter.sources.desktop_records`); desktops of other shards are not kept. So memory
follows what is exported, not the size of the answers. At most ``inventory.max_desktops``
desktops are kept: past it the listing stops, what was read is exported, and the cut is
counted and logged once (``api_listings_truncated_total{key="inventory.max_desktops"}``).

**Checked.** A listing is consistent when no page holds only desktops listed before (an
upstream that ignores ``offset`` serves the first page again) and the number of desktops
listed equals the answer's ``total_count``. A desktop created or deleted while the pages
are read can break either, so an inconsistent listing is read once more at once; a second
inconsistent one is an invalid response: the refresh fails (``up`` 0) and the last good
inventory stays.

**Nothing vanishes silently.** Offsets shift when a desktop is deleted mid-listing, so a
live desktop can be missing from one listing. A desktop leaves the inventory only when a
lookup by id (``GET /v2/{project_id}/desktops/{desktop_id}``, at most
``inventory.max_lookups`` a refresh) says it is gone (see
:func:`~exporter.sources.desktop_records.not_found`), or when a second consecutive listing
misses it. Meanwhile it is kept as last seen; a lookup that finds it refreshes it.

``desktops/detail`` has no pool field; the light list ``GET /v2/{project_id}/desktops``
(1000 a page) has ``pool_id``, so each refresh also pages through it and joins by
``desktop_id`` (``ceil(desktops / 1000)`` calls more). When the light list fails (e.g. its
permission is missing), or misses a desktop, the pool id last seen is kept, and one line is
logged per change of that state.

Every label value from upstream is bounded (:mod:`exporter.sources.labels`); two records
whose ids are the same once normalised (``" d-1 "`` and ``"d-1"``) are one desktop: the
later one is counted as invalid and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from exporter.clock import Clock
from exporter.config.settings import Config, InventoryConfig, ShardConfig
from exporter.errors import InvalidResponseError, ShutdownError, UpstreamError
from exporter.sources.base import next_version
from exporter.sources.conditions import RefreshConditions, not_found
from exporter.sources.desktop_records import (
    Desktop,
    Hook,
    desktop_hook,
    lookup_verdict,
    parse_desktop,
    pool_hook,
    shard_of,
)
from exporter.sources.labels import bounded_id
from exporter.upstream.paging import Page

log = logging.getLogger(__name__)

__all__ = ["Desktop", "InventorySnapshot", "InventorySource", "parse_desktop", "shard_of"]

DETAIL_API = "desktops_detail"
LIST_API = "desktops_list"  # the light list: the one desktop list that carries pool_id
LOOKUP_API = "desktop_detail"
CAP_KEY = "inventory.max_desktops"


class Pages(Protocol):
    """A listing: its pages as they arrive, and whether a cap cut it."""

    truncated: bool
    cap: str

    def __iter__(self) -> Iterator[Page]: ...


class DesktopLister(Protocol):
    def listing(self, api: str, items_key: str, *, object_pairs_hook: Hook | None = None) -> Pages: ...

    def desktop_detail(self, desktop_id: str, object_pairs_hook: Hook | None = None) -> dict[str, Any]: ...

    def host(self, api: str) -> str: ...


class InventorySink(Protocol):
    def invalid_response(self, api: str) -> None: ...
    def truncated(self, api: str, key: str) -> None: ...


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


class _Inconsistent(Exception):
    """A listing that cannot be the whole inventory (see the module docstring). ``str`` is
    the stable cause (the failure's log state); ``detail`` adds the numbers of this listing."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(cause)
        self.detail = f"{cause}: {detail}"


@dataclass
class _Listed:
    desktops: dict[str, Desktop]  # this shard's, by normalised id
    truncated: bool = False


class InventorySource:
    """Keeps the latest good :class:`InventorySnapshot`; a failed refresh keeps the old one."""

    name = "inventory"
    apis: tuple[str, ...] = (DETAIL_API, LIST_API, LOOKUP_API)

    def __init__(
        self,
        client: DesktopLister,
        config: InventoryConfig,
        clock: Clock,
        invalid: InventorySink,
        shard: ShardConfig | None = None,
    ) -> None:
        self._client = client
        self.config = config
        self._clock = clock
        self._invalid = invalid
        self.shard = shard or ShardConfig()
        self.snapshot: InventorySnapshot | None = None
        self._missed: set[str] = set()  # kept although the last listing missed them
        self._pools: dict[str, str] = {}  # desktop_id -> pool_id, from the light list
        self._pools_failing = False
        self.conditions = RefreshConditions(self.name, "desktop lookup")

    def interval(self) -> float:
        return self.config.interval

    def reconfigure(self, config: Config) -> None:
        self.config = config.inventory
        self.shard = config.shard

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """List every desktop and swap the snapshot. Raises UpstreamError on failure."""
        cfg = self.config
        self.conditions.begin()
        listed = self._list(cfg)
        if listed.truncated:
            desktops = listed.desktops
            self._missed = set()
        else:
            desktops = self._reconcile(cfg, listed.desktops)
        pools = self._pool_ids(set(desktops))
        for did, d in desktops.items():
            pool = pools.get(did, d.pool_id)
            if pool != d.pool_id:
                desktops[did] = replace(d, pool_id=pool)
        self.conditions.end()
        old = self.snapshot
        fresh = InventorySnapshot.of(list(desktops.values()), self._clock.time())
        if old is None or fresh.desktops != old.desktops:  # unchanged: keep the rendered exposition
            self.snapshot = fresh
        if old is None or len(old.desktops) != len(desktops):
            log.info("desktop inventory size=%d", len(desktops))

    def _mine(self, desktop_id: str) -> bool:
        return self.shard.count == 1 or shard_of(desktop_id, self.shard.count) == self.shard.index

    def _list(self, cfg: InventoryConfig) -> _Listed:
        """One consistent listing; an inconsistent one is read again once, then refused."""
        for attempt in (1, 2):
            try:
                return self._list_once(cfg)
            except _Inconsistent as e:
                if attempt == 1:
                    log.debug("desktop listing inconsistent, reading it again reason=%s", e.detail)
                    continue
                self._invalid.invalid_response(DETAIL_API)
                cause = str(e)
        raise InvalidResponseError(DETAIL_API, 200, host=self._client.host(DETAIL_API), cause=cause)

    def _list_once(self, cfg: InventoryConfig) -> _Listed:
        tag_keys = frozenset(cfg.tag_labels)
        listing = self._client.listing(DETAIL_API, "desktops", object_pairs_hook=desktop_hook(tag_keys))
        kept: dict[str, Desktop] = {}
        seen: set[int] = set()  # hashes of the raw ids listed (every shard): compact, this listing only
        anonymous = 0  # records without an id: they count towards total_count too
        total: int | None = None
        for page in listing:
            with_id = fresh = 0
            for item in page.items:
                raw_id = item.get("desktop_id")
                if not isinstance(raw_id, str) or not raw_id:
                    anonymous += 1
                    self._invalid.invalid_response(DETAIL_API)
                    continue
                with_id += 1
                if hash(raw_id) in seen:
                    continue  # listed before: the pages shifted
                seen.add(hash(raw_id))
                fresh += 1
                d = parse_desktop(item, tag_keys)
                if d is None or d.desktop_id in kept:  # unusable, or a duplicate once normalised
                    self._invalid.invalid_response(DETAIL_API)
                elif self._mine(d.desktop_id):
                    if len(kept) >= cfg.max_desktops:
                        self._invalid.truncated(DETAIL_API, CAP_KEY)
                        self.conditions.truncated(DETAIL_API, CAP_KEY, f"{len(kept)} desktops")
                        return _Listed(kept, truncated=True)
                    kept[d.desktop_id] = d
            if with_id and not fresh:
                raise _Inconsistent(
                    "a page holds only desktops listed before (the upstream may ignore offset)",
                    f"offset={page.offset}",
                )
            total = page.total if page.total is not None else total
        if listing.truncated:
            self.conditions.truncated(DETAIL_API, listing.cap, f"{len(seen)} desktops listed")
            return _Listed(kept, truncated=True)
        listed = len(seen) + anonymous
        if total is not None and listed != total:
            raise _Inconsistent(
                "the desktops listed differ from total_count", f"listed={listed} total_count={total}"
            )
        return _Listed(kept)

    # ------------------------------------------------------------------ leaving

    def _reconcile(self, cfg: InventoryConfig, listed: dict[str, Desktop]) -> dict[str, Desktop]:
        """``listed`` plus the known desktops it missed that may still exist (module docstring)."""
        old = self.snapshot.by_id if self.snapshot is not None else {}
        desktops = dict(listed)
        missed: set[str] = set()
        gone = twice = lookups = 0
        tag_keys = frozenset(cfg.tag_labels)
        for did, previous in old.items():
            if did in listed or not self._mine(did):
                continue
            if did in self._missed:
                twice += 1  # the second listing in a row without it
                continue
            verdict: Desktop | str = "unknown"
            if lookups < cfg.max_lookups:
                lookups += 1
                verdict = self._lookup(did, tag_keys)
            if verdict == "gone":
                gone += 1
            elif isinstance(verdict, Desktop):
                desktops[did] = verdict
            else:
                desktops[did] = previous
                missed.add(did)
        self._missed = missed
        if gone or twice:
            log.info("desktops left the inventory confirmed_gone=%d missed_twice=%d", gone, twice)
        if missed:
            log.debug("desktops missed by the listing kept until confirmed count=%d", len(missed))
        return desktops

    def _lookup(self, desktop_id: str, tag_keys: frozenset[str]) -> Desktop | str:
        """Desktop (it exists), "gone", or "unknown" (the answer does not say)."""
        try:
            body = self._client.desktop_detail(desktop_id, desktop_hook(tag_keys))
        except ShutdownError:
            raise
        except UpstreamError as e:
            if not_found(e):
                self.conditions.item_ok()
                return "gone"
            self.conditions.item_failed(desktop_id, e)
            return "unknown"
        verdict = lookup_verdict(desktop_id, body, tag_keys)
        if verdict == "invalid":
            self._invalid.invalid_response(LOOKUP_API)
            self.conditions.item_failed(
                desktop_id,
                InvalidResponseError(
                    LOOKUP_API, 200, host=self._client.host(LOOKUP_API), cause="no such desktop in the answer"
                ),
            )
            return "unknown"
        self.conditions.item_ok()
        return verdict

    # ------------------------------------------------------------------ pool ids

    def _pool_ids(self, wanted: set[str]) -> dict[str, str]:
        """desktop_id -> pool_id for ``wanted`` from the light list; for a desktop it does not
        list (or when it fails) the pool id last seen."""
        pools: dict[str, str] = {}
        try:
            for page in self._client.listing(LIST_API, "desktops", object_pairs_hook=pool_hook):
                for item in page.items:
                    did = bounded_id(item.get("desktop_id"))
                    if did in wanted:
                        pools[did] = bounded_id(item.get("pool_id"))
        except ShutdownError:
            raise
        except UpstreamError as e:
            if not self._pools_failing:
                log.warning("desktop pool ids unavailable, pool_id keeps its last value error=%s", e)
                self._pools_failing = True
            pools = {}
        else:
            if self._pools_failing:
                log.info("desktop pool ids available again api=%s", LIST_API)
                self._pools_failing = False
        merged = {did: self._pools[did] for did in wanted if did in self._pools}
        merged.update(pools)
        self._pools = merged
        return merged
