"""The fake's fleet endpoints called in memory, shaped like the client: ``request`` and a real
:class:`~exporter.upstream.paging.Listing` over it.

Each call goes through the fake's route table and handler (so the constraint table is
enforced and the answers have the SDK models' shapes), without HTTP. ``answers`` replaces
the answer of an API (a body, a function of the query, or an error to raise) for hostile
bodies and failures; ``calls`` records every call as ``(api, query)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from exporter.apis import APIS
from exporter.errors import AuthError, ClientRequestError, UpstreamError, UpstreamUnavailableError
from exporter.fake import FakeWorkspace
from exporter.fake.proto import Request
from exporter.fake.routes import match
from exporter.upstream.jsonbody import ObjectHook
from exporter.upstream.paging import Listing, PageSizes, Params

Answer = dict[str, Any] | UpstreamError | Callable[[dict[str, list[str]]], dict[str, Any]]


class Sink:
    """Counts invalid responses, page shrinks and truncations per API."""

    def __init__(self) -> None:
        self.invalid: dict[str, int] = {}
        self.truncations: list[tuple[str, str]] = []

    def invalid_response(self, api: str) -> None:
        self.invalid[api] = self.invalid.get(api, 0) + 1

    def page_shrunk(self, api: str, reason: str) -> None:
        """Not expected in these tests."""

    def truncated(self, api: str, key: str) -> None:
        self.truncations.append((api, key))


def _query(params: Params | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in (params or {}).items():
        values = v if isinstance(v, list) else [v]
        out[k] = [str(x).lower() if isinstance(x, bool) else str(x) for x in values]
    return out


class FleetApi:
    def __init__(self, state: FakeWorkspace, sink: Sink | None = None, max_pages: int = 100) -> None:
        self.state = state
        self.sink = sink or Sink()
        self.answers: dict[str, Answer] = {}
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        self._sizes = PageSizes()
        self._max_pages = max_pages

    def count(self, api: str) -> int:
        return sum(1 for a, _ in self.calls if a == api)

    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: object = None,
        *,
        object_pairs_hook: ObjectHook | None = None,
    ) -> dict[str, Any]:
        query = _query(params)
        self.calls.append((api, query))
        answer = self.answers.get(api)
        if isinstance(answer, UpstreamError):
            raise answer
        if callable(answer):
            return json.loads(json.dumps(answer(query)))
        if answer is not None:
            return json.loads(json.dumps(answer))
        spec = APIS[api]
        verdict = self.state.pre_request(api)  # the faults the server would inject (deny, fail)
        if verdict.status:
            self._raise(api, verdict.status, verdict.error_code, verdict.error_msg)
        path = spec.path.format(project_id=self.state.project_id, **(path_params or {}))
        found = match(spec.method, path)
        assert found is not None, path
        route, path_values = found
        req = Request(spec.method, path, {k: v[0] for k, v in query.items()}, query, b"", path_values)
        resp = route.handler(self.state, req)
        body = json.loads(resp.body)
        if resp.status >= 400:
            self._raise(api, resp.status, body.get("error_code", ""), body.get("error_msg", ""))
        assert isinstance(body, dict)
        return body

    def _raise(self, api: str, status: int, code: str, msg: str) -> None:
        kind = AuthError if status in (401, 403) else ClientRequestError
        if status >= 500:
            kind = UpstreamUnavailableError
        raise kind(api, status, code, msg, host=self.host(api))

    def page_items(self, api: str, doc: Mapping[str, Any], items_key: str, query_body: bool) -> list[Any]:
        items = doc.get(items_key)
        if not isinstance(items, list):
            from exporter.errors import InvalidResponseError

            raise InvalidResponseError(api, 200, host=self.host(api), cause=f"body has no {items_key} list")
        return items

    def listing(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        *,
        limit: int | None = None,
        total_key: str = "total_count",
        max_items: int | None = None,
        cap_key: str = "",
    ) -> Listing:
        return Listing(
            self,
            self.sink,
            self._sizes,
            api,
            items_key,
            max_pages=self._max_pages,
            params=params,
            path_params=path_params,
            limit=limit,
            total_key=total_key,
            max_items=max_items,
            cap_key=cap_key,
        )

    def host(self, api: str) -> str:
        return "workspace.example"
