"""An in-memory desktop API for inventory unit tests: ``desktops/detail`` (500 a page), the
light list (1000 a page, with pool ids) and lookups by id, shaped like the client's.

Answers go through ``json`` with the caller's ``object_pairs_hook``, as the client decodes
them, so a test sees what the inventory really keeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from exporter.errors import ClientRequestError, UpstreamError
from exporter.upstream.paging import Page

Hook = Callable[[list[tuple[str, Any]]], Any]


class Pages:
    def __init__(self, pages: list[Page]) -> None:
        self._pages = pages
        self.truncated = False
        self.cap = ""

    def __iter__(self) -> Iterator[Page]:
        yield from self._pages


class MemoryLister:
    """``detail`` rows (served by desktops/detail), ``pools`` (desktop_id -> pool_id, served by
    the light list). ``list_error`` makes the light list fail; ``lookup`` overrides the answer
    to a lookup by id (a body, or an error to raise); unknown ids get a 404."""

    def __init__(self, detail: list[dict[str, Any]], pools: dict[str, str] | None = None) -> None:
        self.detail = detail
        self.pools = pools if pools is not None else {}
        self.list_error: Exception | None = None
        self.lookup: dict[str, dict[str, Any] | UpstreamError] = {}
        self.calls: list[str] = []

    @staticmethod
    def _decode(doc: object, hook: Hook | None) -> Any:
        return json.loads(json.dumps(doc), object_pairs_hook=hook)

    def listing(self, api: str, items_key: str, *, object_pairs_hook: Hook | None = None) -> Pages:
        self.calls.append(api)
        if api == "desktops_list":
            if self.list_error is not None:
                raise self.list_error
            rows = [
                {"desktop_id": d, "pool_id": p, "tags": [{"key": "x", "value": "y"}]}
                for d, p in self.pools.items()
            ]
            size = 1000
        else:
            assert api == "desktops_detail"
            rows = [dict(d) for d in self.detail]
            size = 500
        pages = []
        for offset in range(0, max(1, len(rows)), size):
            doc = self._decode(
                {items_key: rows[offset : offset + size], "total_count": len(rows)}, object_pairs_hook
            )
            pages.append(Page(doc[items_key], doc["total_count"], offset))
        return Pages(pages)

    def desktop_detail(self, desktop_id: str, object_pairs_hook: Hook | None = None) -> dict[str, Any]:
        self.calls.append("desktop_detail")
        answer = self.lookup.get(desktop_id)
        if isinstance(answer, UpstreamError):
            raise answer
        if answer is None:
            found = [d for d in self.detail if d.get("desktop_id") == desktop_id]
            if not found:
                raise ClientRequestError("desktop_detail", 404, "WKS.00211404", "The desktop does not exist.")
            answer = {"desktop": found[0]}
        result: dict[str, Any] = self._decode(answer, object_pairs_hook)
        return result

    def host(self, api: str) -> str:
        return "workspace.example"


class Sink:
    """Counts invalid responses and truncations per API."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.truncations: list[tuple[str, str]] = []

    def invalid_response(self, api: str) -> None:
        self.count[api] = self.count.get(api, 0) + 1

    def truncated(self, api: str, key: str) -> None:
        self.truncations.append((api, key))
