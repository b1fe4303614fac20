"""Paged listings: the one loop every paged API goes through, bounded and degrading.

A :class:`Listing` reads one listing page by page and yields each :class:`Page` as it
arrives, so a caller keeps only what it needs of a page before the next is read. Three
shapes: offset/limit in the query (default), offset/limit in a JSON body (POST queries),
or a marker (``meta_data.marker`` of one page starts the next).

It ends on an empty page; on a short page unless the answer's total says more is left (a
server that silently caps ``limit`` must not end a listing early); when the offset
reaches the total; on a missing or repeated marker. Past that it degrades instead of
failing whole:

* **Caps.** At most ``http.max_pages_per_listing`` pages (a listing that only an empty
  page ends may make one call more, to see that the page after a short last one is
  empty), and at most ``max_items`` items when the caller gives a bound with its config
  key. A listing stopped at either with more left is *truncated*: what was read is used,
  :attr:`Listing.truncated` and :attr:`Listing.cap` say so, and the observer counts it
  (the caller logs it once per change, since only the caller knows where one refresh
  ends).
* **Body cap.** A page whose body passes ``http.max_body_bytes`` is asked again at half the
  size, down to :data:`PAGE_FLOOR`; the smaller size is remembered for the API (until a
  reload) and logged once per change.
* **400 to a page.** Retried once per listing with a tenth of the page (at least
  :data:`PAGE_FLOOR`): a server stricter than the documents (``os-operations`` documented
  both 0–100 and 0–1000) answers the smaller page; a size that works is remembered.

A full page that repeats the previous one (an upstream that ignores ``offset``) is an
invalid response: reading on would fetch the first page for ever and lose the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from exporter.apis import APIS
from exporter.errors import ClientRequestError, InvalidResponseError
from exporter.upstream.jsonbody import ObjectHook
from exporter.upstream.transport import too_large

log = logging.getLogger(__name__)

PAGE_FLOOR = 10  # the smallest page a shrink goes down to
PAGES_KEY = "http.max_pages_per_listing"
Params = Mapping[str, str | int | bool | list[str]]

#: The config keys that can cut a listing of each API short (pre-declared by the self-metrics).
TRUNCATION_KEYS: dict[str, tuple[str, ...]] = {
    api: (PAGES_KEY,) for api, spec in APIS.items() if spec.page_limit or api == "ces_metrics"
} | {
    "desktops_detail": ("inventory.max_desktops", PAGES_KEY),
    "connections": ("connections.max_records_per_window", PAGES_KEY),
    "login_records": ("connections.max_records_per_window", PAGES_KEY),
    "screen_records": ("events.max_recordings", PAGES_KEY),
    "os_operations": ("events.max_operations_per_recording", PAGES_KEY),
}
SHRINK_REASONS = ("body_too_large", "bad_request")


class ListingObserver(Protocol):
    def invalid_response(self, api: str) -> None: ...
    def page_shrunk(self, api: str, reason: str) -> None: ...
    def truncated(self, api: str, key: str) -> None: ...


class PageFetcher(Protocol):
    """What a listing needs of the client."""

    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: object = None,
        *,
        object_pairs_hook: ObjectHook | None = None,
    ) -> dict[str, Any]: ...

    def page_items(self, api: str, doc: Mapping[str, Any], items_key: str, query_body: bool) -> list[Any]: ...

    def host(self, api: str) -> str: ...


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]  # the page's JSON objects (anything else was counted and skipped)
    total: int | None  # the answer's total (``total_key``), when it is an integer
    offset: int  # items of the listing before this page


class PageSizes:
    """Page sizes learned from the upstream, per API, shared by every listing of one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}

    def get(self, api: str, wanted: int) -> int:
        with self._lock:
            return min(wanted, self._sizes.get(api, wanted))

    def learn(self, api: str, size: int) -> bool:
        """Remember ``size`` for ``api``; True when it is smaller than what was known."""
        with self._lock:
            if size >= self._sizes.get(api, size + 1):
                return False
            self._sizes[api] = size
            return True

    def reset(self) -> None:
        """Forget every learned size (a reload may have raised the body cap)."""
        with self._lock:
            self._sizes.clear()


def _fingerprint(items: list[Any]) -> tuple[int, str, str]:
    """What tells two pages apart cheaply: their length and first and last items."""
    return (len(items), repr(items[0]), repr(items[-1])) if items else (0, "", "")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Listing:
    """One paged listing; iterate it for its pages. See the module docstring."""

    def __init__(
        self,
        fetcher: PageFetcher,
        observer: ListingObserver,
        sizes: PageSizes,
        api: str,
        items_key: str,
        *,
        max_pages: int,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        limit: int | None = None,
        total_key: str = "total_count",
        max_items: int | None = None,
        cap_key: str = "",
        json_body: Mapping[str, object] | None = None,
        marker_param: str = "",
        until_empty: bool = False,
        object_pairs_hook: ObjectHook | None = None,
    ) -> None:
        """``max_items`` with ``cap_key`` is a cap (stopping at it marks the listing
        truncated); without a key it is a sample size, stopping there is the plan."""
        spec = APIS[api]
        self._fetcher = fetcher
        self._observer = observer
        self._sizes = sizes
        self.api = api
        self._items_key = items_key
        self._params = dict(params or {})
        self._path_params = path_params
        wanted = min(limit or spec.page_limit, spec.page_limit) if spec.page_limit else (limit or 100)
        self._wanted = max(1, wanted)
        self._total_key = total_key
        self._max_items = None if max_items is None else max(0, max_items)
        self._cap_key = cap_key
        self._json_body = json_body
        self._marker_param = marker_param
        self._until_empty = until_empty
        self._hook = object_pairs_hook
        self._max_pages = max(1, max_pages)
        self._retried_400 = False
        self.pages = 0  # pages read (calls answered)
        self.calls = 0  # calls made for them (a page asked again smaller is one more)
        self.items = 0  # items yielded
        self.stopped = False  # stopped at a bound (a cap, or a caller's sample size) with more left
        self.truncated = False  # stopped at a cap (a config key) with more left
        self.cap = ""  # the config key of that cap

    def __iter__(self) -> Iterator[Page]:
        if self._max_items == 0:
            return
        page = self._sizes.get(self.api, self._wanted)
        offset = 0
        marker = ""
        previous: tuple[int, str, str] | None = None
        while True:
            doc, page = self._fetch(offset, marker, page)
            self.pages += 1
            raw = self._fetcher.page_items(self.api, doc, self._items_key, self._json_body is not None)
            if not self._marker_param and len(raw) >= page:
                mark = _fingerprint(raw)
                if mark == previous:
                    self._observer.invalid_response(self.api)
                    raise InvalidResponseError(
                        self.api,
                        200,
                        host=self._fetcher.host(self.api),
                        cause=f"the page at offset {offset} repeats the previous one: offset is ignored",
                    )
                previous = mark
            items: list[dict[str, Any]] = []
            for item in raw:
                if isinstance(item, dict):
                    items.append(item)
                else:
                    self._observer.invalid_response(self.api)
            room = None if self._max_items is None else self._max_items - self.items
            cut = room is not None and len(items) > room
            if cut and room is not None:
                items = items[:room]
            total = _int(doc.get(self._total_key))
            yield Page(items, total, offset)
            self.items += len(items)
            offset += len(raw)
            # A page cut at the cap had more items: the listing stopped there, even on the last page.
            if not cut and self._ended(doc, raw, page, offset, total, marker):
                return
            if cut or (self._max_items is not None and self.items >= self._max_items):
                self.stopped = True
                if self._cap_key:
                    self._cut(self._cap_key)
                return
            if self._marker_param:
                marker = str(doc["meta_data"]["marker"])
            if self.pages >= self._max_pages:
                if self._until_empty and len(raw) < page and self._empty_next(offset, marker, page):
                    return
                self._cut(PAGES_KEY)
                return

    def _ended(
        self, doc: Mapping[str, Any], raw: list[Any], page: int, offset: int, total: int | None, marker: str
    ) -> bool:
        if not raw:
            return True
        if self._marker_param:
            meta = doc.get("meta_data")
            nxt = meta.get("marker") if isinstance(meta, dict) else None
            return len(raw) < page or not isinstance(nxt, str) or not nxt or nxt == marker
        if total is not None:
            return offset >= total  # a short page before the total: the server capped the page
        return len(raw) < page and not self._until_empty

    def _empty_next(self, offset: int, marker: str, page: int) -> bool:
        """Whether the page after a short last one is empty. A listing that only an empty
        page ends would otherwise call every short listing cut at the page cap, and a
        caller that splits on a cut (the connection windows) would split for ever."""
        doc, _ = self._fetch(offset, marker, page)
        return not self._fetcher.page_items(self.api, doc, self._items_key, self._json_body is not None)

    def _cut(self, key: str) -> None:
        self.stopped = self.truncated = True
        self.cap = key
        self._observer.truncated(self.api, key)

    def _query(self, offset: int, marker: str, page: int) -> tuple[dict[str, Any], dict[str, object] | None]:
        query: dict[str, Any] = dict(self._params)
        if self._marker_param:
            query["limit"] = page
            if marker:
                query[self._marker_param] = marker
            return query, None
        if self._json_body is not None:
            return query, {**self._json_body, "limit": page, "offset": offset}
        query.update(offset=offset, limit=page)
        return query, None

    def _call(self, offset: int, marker: str, page: int) -> dict[str, Any]:
        query, body = self._query(offset, marker, page)
        self.calls += 1
        return self._fetcher.request(self.api, self._path_params, query, body, object_pairs_hook=self._hook)

    def _fetch(self, offset: int, marker: str, page: int) -> tuple[dict[str, Any], int]:
        """One page at ``offset`` (or ``marker``), shrinking the page as the module says."""
        asked = page
        while True:
            try:
                doc = self._call(offset, marker, page)
            except InvalidResponseError as e:
                if not too_large(e) or page <= PAGE_FLOOR:
                    raise
                page = max(PAGE_FLOOR, page // 2)
                self._observer.page_shrunk(self.api, "body_too_large")
                continue
            except ClientRequestError as e:
                return self._retry_smaller(e, offset, marker, page)
            if page < asked and self._sizes.learn(self.api, page):
                log.warning(
                    "a page passed http.max_body_bytes, asking for smaller pages from now on "
                    "api=%s limit=%d was=%d",
                    self.api,
                    page,
                    asked,
                )
            return doc, page

    def _retry_smaller(
        self, error: ClientRequestError, offset: int, marker: str, page: int
    ) -> tuple[dict[str, Any], int]:
        """A 400 to a page: once per listing, the same page at a tenth of the size. The retry's
        own error (a 400 again: the page size was not the cause) is the answer."""
        if error.status != 400 or self._retried_400 or page <= PAGE_FLOOR:
            raise error
        self._retried_400 = True
        smaller = max(PAGE_FLOOR, page // 10)
        self._observer.page_shrunk(self.api, "bad_request")
        doc = self._call(offset, marker, smaller)
        if self._sizes.learn(self.api, smaller):
            log.warning(
                "the API refused a page with 400 and accepted a smaller one, using it from now on "
                "api=%s limit=%d refused=%d error_code=%s",
                self.api,
                smaller,
                page,
                error.error_code or "-",
            )
        return doc, smaller
