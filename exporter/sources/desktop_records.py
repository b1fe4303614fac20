"""Desktops, one at a time: the slim record the inventory keeps, and how it is read.

The inventory keeps only what the exposition uses: the ``desktop_info`` labels and the tags
named in ``inventory.tag_labels``. :func:`desktop_hook` drops everything else while an
answer is decoded (each desktop object is cut as soon as it is built, before the next one
is), so a page of desktops with 200 tags each never exists whole in memory.
:func:`parse_desktop` turns the slim object into a :class:`Desktop`.

:func:`lookup_verdict` reads the 2xx answer to a lookup by id (``GET
/v2/{project_id}/desktops/{desktop_id}``) of a desktop a listing missed; an error answer is
read by :func:`~exporter.sources.conditions.not_found`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from exporter.sources.labels import MAX_NAME_LEN, bounded_id, bounded_text

# The fields of DesktopDetailInfo the inventory reads (metadata.os_type and
# product.product_id below them).
_FIELDS = (
    "desktop_id",
    "computer_name",
    "user_name",
    "status",
    "login_status",
    "availability_zone",
    "product_id",
    "desktop_type",
    "pool_id",
)
_GONE_STATUSES = frozenset({"DELETED"})


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


def _s(value: object) -> str:
    return bounded_text(value, MAX_NAME_LEN)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _tags(raw: object, keys: Collection[str] | None) -> list[tuple[str, str]]:
    """``(key, value)`` of the first tag with each key (only ``keys`` when given)."""
    out: list[tuple[str, str]] = []
    if not isinstance(raw, list):
        return out
    seen: set[str] = set()
    for t in raw:
        if not isinstance(t, dict) or not isinstance(t.get("key"), str):
            continue
        key = t["key"].strip()
        if key in seen or (keys is not None and key not in keys):
            continue
        seen.add(key)
        out.append((key, _s(t.get("value"))))
    return out


def parse_desktop(raw: Mapping[str, Any], tag_keys: Collection[str] | None = None) -> Desktop | None:
    """A :class:`Desktop` from one ``DesktopDetailInfo`` object, or None when unusable.

    ``tag_keys``: keep only the tags with these keys (None keeps every tag)."""
    did = bounded_id(raw.get("desktop_id"))
    if not did:
        return None
    metadata = _mapping(raw.get("metadata"))
    product = _mapping(raw.get("product"))
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
        tags=tuple(_tags(raw.get("tags"), tag_keys)),
    )


Hook = Callable[[list[tuple[str, Any]]], Any]


def desktop_hook(tag_keys: Collection[str]) -> Hook:
    """A JSON ``object_pairs_hook`` that cuts every desktop object (one with a
    ``desktop_id``) down to what :func:`parse_desktop` reads, tags to ``tag_keys``."""
    keys = frozenset(tag_keys)

    def hook(pairs: list[tuple[str, Any]]) -> Any:
        obj = dict(pairs)
        if "desktop_id" not in obj:
            return obj
        slim = {k: obj[k] for k in _FIELDS if k in obj}
        metadata, product = obj.get("metadata"), obj.get("product")
        if isinstance(metadata, dict):
            slim["metadata"] = {"os_type": metadata.get("os_type")}
        if isinstance(product, dict):
            slim["product"] = {"product_id": product.get("product_id")}
        slim["tags"] = [{"key": k, "value": v} for k, v in _tags(obj.get("tags"), keys)]
        return slim

    return hook


def pool_hook(pairs: list[tuple[str, Any]]) -> Any:
    """A JSON ``object_pairs_hook`` that keeps only ``desktop_id`` and ``pool_id`` of each
    desktop of the light list."""
    obj = dict(pairs)
    if "desktop_id" in obj:
        return {"desktop_id": obj.get("desktop_id"), "pool_id": obj.get("pool_id")}
    return obj


def shard_of(desktop_id: str, count: int) -> int:
    """The shard (0..count-1) a desktop belongs to: crc32 of its id, stable across processes."""
    return zlib.crc32(desktop_id.encode()) % count


Verdict = Literal["gone", "invalid"]


def lookup_verdict(desktop_id: str, body: Mapping[str, Any], tag_keys: Collection[str]) -> Desktop | Verdict:
    """What a 2xx answer to the lookup of ``desktop_id`` says: the desktop (it exists),
    "gone" (it says DELETED), or "invalid" (no desktop, or another one)."""
    raw = body.get("desktop")
    if not isinstance(raw, dict):
        return "invalid"
    desktop = parse_desktop(raw, tag_keys)
    if desktop is None or desktop.desktop_id != desktop_id:
        return "invalid"
    if desktop.status.upper() in _GONE_STATUSES:
        return "gone"
    return desktop
