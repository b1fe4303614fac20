"""The calls of the APIs whose use is more than one ``request`` or ``listing``: a desktop by
id, a desktop's monitoring data, and Cloud Eye's metric list and batch queries. Each serves
one source (inventory, monitoring, Cloud Eye; ``check-config --online`` also calls the two
desktop ones).

:class:`ApiCalls` is mixed into :class:`~exporter.upstream.client.WorkspaceClient` and built
only on its generic :meth:`request`, :meth:`paginate` and :meth:`page_items` (and
:meth:`invalid_item` to count an item it skips), so the sources reach these calls through the
small client Protocols they declare.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from exporter.upstream.jsonbody import ObjectHook
from exporter.upstream.paging import PageFetcher, Params


class _Client(PageFetcher, Protocol):
    """What the calls need of the client: what a listing needs, and these."""

    def paginate(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        *,
        limit: int | None = None,
        max_items: int | None = None,
        json_body: Mapping[str, object] | None = None,
        marker_param: str = "",
        until_empty: bool = False,
    ) -> Iterator[dict[str, Any]]: ...

    def invalid_item(self, api: str) -> None: ...


class ApiCalls:
    """The API-specific calls of the client; see the module docstring."""

    def desktop_detail(
        self: _Client, desktop_id: str, object_pairs_hook: ObjectHook | None = None
    ) -> dict[str, Any]:
        """One desktop by id (``show_desktop_detail``): the answer, ``{"desktop": {...}}``."""
        return self.request("desktop_detail", {"desktop_id": desktop_id}, object_pairs_hook=object_pairs_hook)

    def desktop_monitor(self: _Client, desktop_id: str, start_time: str, end_time: str) -> dict[str, Any]:
        """Batch monitoring data of one desktop (every metric: ``metric_name`` left empty)."""
        return self.request(
            "desktop_monitor",
            {"desktop_id": desktop_id},
            {"start_time": start_time, "end_time": end_time},
        )

    def ces_list_metrics(self: _Client, namespace: str, max_pages: int = 100) -> list[dict[str, Any]]:
        """Cloud Eye ListMetrics entries of ``namespace``, paged by the ``start`` marker.

        At most ``max_pages`` calls of 1,000 entries; stops early on a short page, an empty
        or repeated marker. Entries that are not JSON objects are counted and skipped.
        """
        return list(
            self.paginate(
                "ces_metrics",
                "metrics",
                {"namespace": namespace},
                limit=1000,
                max_items=1000 * max(1, max_pages),
                marker_param="start",
            )
        )

    def ces_batch_latest(
        self: _Client,
        namespace: str,
        metric_name: str,
        dimension: str,
        from_ms: int,
        to_ms: int,
        max_points: int = 200_000,
    ) -> list[dict[str, Any]]:
        """Cloud Eye v2 batch query: the datapoints of one metric for every resource in [from, to].

        Pages by offset with the API's largest ``limit`` (1,000) until a page comes back
        empty (the answer carries no total, and the SDK documents the empty page as the
        end), or until ``max_points`` were read. Datapoints that are not JSON objects are
        counted and skipped.
        """
        query = {
            "namespace": namespace,
            "metric_name": metric_name,
            "metric_dimension": dimension,
            "from": from_ms,
            "to": to_ms,
        }
        return list(
            self.paginate(
                "ces_batch_v2", "data_points", json_body=query, max_items=max_points, until_empty=True
            )
        )

    def ces_batch_series(
        self: _Client, metrics: list[dict[str, Any]], period: int, from_ms: int, to_ms: int
    ) -> list[dict[str, Any]]:
        """Cloud Eye v1 batch query: the ``average`` series of up to 500 metric/dimension pairs.

        ``metrics`` are ``{namespace, metric_name, dimensions}`` entries; the caller sizes
        them and the window so the answer stays within Cloud Eye's 3,000 datapoints. Returns
        the answer's ``metrics`` entries that are JSON objects (others are counted).
        """
        body = {
            "metrics": metrics,
            "period": str(period),
            "filter": "average",
            "from": from_ms,
            "to": to_ms,
        }
        doc = self.request("ces_batch_v1", json_body=body)
        out = []
        for item in self.page_items("ces_batch_v1", doc, "metrics", query_body=False):
            if isinstance(item, dict):
                out.append(item)
            else:
                self.invalid_item("ces_batch_v1")
        return out
