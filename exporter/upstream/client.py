"""``WorkspaceClient``: the one way the exporter talks to Huawei Cloud.

One ``requests.Session`` (pooled connections, connect/read timeouts, TLS verified
unless turned off), request signing or IAM tokens via :mod:`exporter.upstream.auth`, the
shared :class:`~exporter.upstream.budget.Budget` (rate per API and a concurrency gate),
bounded retries with exponential backoff and full jitter on 429, 5xx and
connection errors, offset/limit paging, and typed errors. It never imports
prometheus_client: it reports what happens to an :class:`ApiObserver`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from exporter.apis import APIS, ApiSpec
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import Config, Settings
from exporter.errors import (
    AuthError,
    ClientRequestError,
    InvalidResponseError,
    ShutdownError,
    ThrottledError,
    UpstreamError,
    UpstreamUnavailableError,
    parse_error_body,
)
from exporter.upstream.auth import AuthProvider, build_auth, is_token_expired_error
from exporter.upstream.budget import Budget

log = logging.getLogger(__name__)

USER_AGENT = "workspace-exporter"
Params = Mapping[str, str | int | bool | list[str]]


class ApiObserver(Protocol):
    """Receives one event per upstream attempt; implemented by the self-metrics."""

    def request_done(self, api: str, code: str, seconds: float) -> None: ...
    def throttled(self, api: str) -> None: ...
    def retried(self, api: str) -> None: ...
    def invalid_response(self, api: str) -> None: ...


class NullObserver:
    def request_done(self, api: str, code: str, seconds: float) -> None:
        pass

    def throttled(self, api: str) -> None:
        pass

    def retried(self, api: str) -> None:
        pass

    def invalid_response(self, api: str) -> None:
        pass


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class WorkspaceClient:
    """Typed, budgeted access to the Workspace, IAM and Cloud Eye APIs of one project."""

    def __init__(
        self,
        settings: Settings,
        budget: Budget,
        observer: ApiObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._budget = budget
        self._observer: ApiObserver = observer or NullObserver()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._stop = threading.Event()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._lock = threading.Lock()
        self._settings = settings
        self._auth: AuthProvider
        self._project_id = ""
        self.reconfigure(settings)

    # ------------------------------------------------------------------ setup

    def reconfigure(self, settings: Settings) -> None:
        """Apply new endpoints, credentials, timeouts and TLS settings (on reload)."""
        cfg = settings.config
        pool = cfg.budget.max_concurrency + 2
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        verify: bool | str = cfg.http.ca_file or cfg.http.tls_verify
        if verify is False:
            log.warning("TLS verification is off (http.tls_verify: false); upstream identity is not checked")
        auth = build_auth(
            settings.credentials, cfg, self._session, self._clock, on_request=self._iam_request_done
        )
        with self._lock:
            self._settings = settings
            self._verify = verify
            self._auth = auth
            self._project_id = cfg.project_id

    def _iam_request_done(self, api: str, status: int, seconds: float) -> None:
        self._observer.request_done(api, str(status) if status else "error", seconds)

    @property
    def project_id(self) -> str:
        return self._project_id

    def ensure_project_id(self) -> str:
        """Return the project id, discovering it from IAM by region name when not configured."""
        if self._project_id:
            return self._project_id
        region = self._settings.config.region
        body = self.request("iam_projects", params={"name": region})
        projects = body.get("projects")
        if not isinstance(projects, list):
            raise InvalidResponseError("iam_projects", 200, "", "missing 'projects' list")
        ids = [p.get("id") for p in projects if isinstance(p, dict) and p.get("name") == region]
        if len(ids) != 1 or not isinstance(ids[0], str):
            raise ClientRequestError(
                "iam_projects", 200, "", f"expected one project named {region!r}, found {len(ids)}"
            )
        self._project_id = ids[0]
        # The signer adds X-Project-Id, so rebuild auth with the discovered id.
        cfg = self._settings.config
        self._auth = build_auth(
            self._settings.credentials,
            _with_project(cfg, ids[0]),
            self._session,
            self._clock,
            on_request=self._iam_request_done,
        )
        log.info("discovered project id from IAM region=%s", region)
        return self._project_id

    def close(self) -> None:
        self._stop.set()
        self._session.close()

    # ------------------------------------------------------------------ calls

    def _url(self, spec: ApiSpec, path_params: Mapping[str, str]) -> str:
        cfg = self._settings.config
        base = {"workspace": cfg.endpoints.workspace, "iam": cfg.endpoints.iam, "ces": cfg.endpoints.ces}
        values = {k: quote(str(v), safe="") for k, v in path_params.items()}
        values.setdefault("project_id", quote(self._project_id, safe=""))
        return base[spec.service] + spec.path.format(**values)

    def _backoff(self, attempt: int) -> float:
        http = self._settings.config.http
        return self._rng.uniform(0, min(http.backoff_max, http.backoff_initial * (2**attempt)))

    def request_raw(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: object = None,
    ) -> requests.Response:
        """Call ``api`` with budget, auth, retries; return the 2xx response or raise UpstreamError."""
        spec = APIS[api]
        http = self._settings.config.http
        if spec.service != "iam" and not self._project_id:
            self.ensure_project_id()
        url = self._url(spec, path_params or {})
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        started = self._clock.monotonic()
        attempt = 0
        token_refreshed = False
        while True:
            if not self._budget.acquire(api, self._stop):
                raise ShutdownError(f"client closed while waiting for the {api} budget")
            error, resp, retry_after = self._attempt(spec, url, params, data)
            if error is None and resp is not None:
                return resp
            if error is None:  # pragma: no cover - _attempt returns one or the other
                raise UpstreamUnavailableError(api, 0, "", "no response")
            if (
                isinstance(error, AuthError)
                and not token_refreshed
                and self._auth.refreshable
                and is_token_expired_error(error.status, error.error_code, error.error_msg)
            ):
                log.info("IAM token expired, refreshing once api=%s", api)
                token_refreshed = True
                self._auth.invalidate()
                self._observer.retried(api)
                continue
            if not isinstance(error, ThrottledError | UpstreamUnavailableError):
                raise error
            delay = self._backoff(attempt)
            if isinstance(error, ThrottledError):
                self._budget.throttled(api)
                self._observer.throttled(api)
                floor = http.throttle_backoff * (1.0 + self._rng.random() * 0.7)
                delay = max(delay, floor, retry_after or 0.0)
                delay = min(delay, max(http.backoff_max, http.throttle_backoff))
            elapsed = self._clock.monotonic() - started
            if attempt >= http.max_retries or elapsed + delay > http.retry_max_elapsed:
                raise error
            attempt += 1
            self._observer.retried(api)
            log.debug("retrying api=%s attempt=%d delay=%.2fs reason=%s", api, attempt, delay, error.reason)
            if self._clock.sleep(delay, self._stop):
                raise ShutdownError(f"client closed while backing off {api}")

    def _attempt(
        self, spec: ApiSpec, url: str, params: Params | None, data: bytes | None
    ) -> tuple[UpstreamError | None, requests.Response | None, float | None]:
        http = self._settings.config.http
        # The SDK sends and signs this on every call, GET included; so do we.
        headers = {"Content-Type": "application/json"}
        req = requests.Request(spec.method, url, params=dict(params or {}), data=data, headers=headers)
        with self._budget.slot():
            prepared = self._session.prepare_request(req)
            t0 = self._clock.monotonic()
            try:
                self._auth.apply(prepared)
                resp = self._session.send(
                    prepared,
                    timeout=(http.connect_timeout, http.read_timeout),
                    verify=self._verify,
                    allow_redirects=False,
                )
            except AuthError as e:  # could not obtain a token
                return e, None, None
            except (requests.ConnectionError, requests.Timeout) as e:
                self._observer.request_done(spec.name, "error", self._clock.monotonic() - t0)
                kind = "timeout" if isinstance(e, requests.Timeout) else "connection error"
                return UpstreamUnavailableError(spec.name, 0, "", kind), None, None
            except requests.RequestException as e:
                self._observer.request_done(spec.name, "error", self._clock.monotonic() - t0)
                return UpstreamUnavailableError(spec.name, 0, "", type(e).__name__), None, None
            # Read the body inside the slot so the connection returns to the pool.
            content = resp.content
            self._observer.request_done(spec.name, str(resp.status_code), self._clock.monotonic() - t0)
        if 200 <= resp.status_code < 300:
            return None, resp, None
        try:
            body: object = json.loads(content) if content else None
        except ValueError:
            body = None
        code, msg = parse_error_body(body)
        rid = resp.headers.get("X-Request-Id", "")
        status = resp.status_code
        err: UpstreamError
        if status == 429 or code in ("APIGW.0308", "APIG.0308"):
            err = ThrottledError(spec.name, status, code, msg, rid)
        elif status >= 500:
            err = UpstreamUnavailableError(spec.name, status, code, msg, rid)
        elif status in (401, 403):
            err = AuthError(spec.name, status, code, msg, rid)
        else:
            err = ClientRequestError(spec.name, status, code, msg, rid)
        return err, None, _retry_after(resp)

    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: object = None,
    ) -> dict[str, Any]:
        """Like :meth:`request_raw` but decode a JSON object body (InvalidResponseError otherwise)."""
        resp = self.request_raw(api, path_params, params, json_body)
        try:
            body = json.loads(resp.content)
        except ValueError as e:
            self._observer.invalid_response(api)
            raise InvalidResponseError(api, resp.status_code, "", "body is not JSON") from e
        if not isinstance(body, dict):
            self._observer.invalid_response(api)
            raise InvalidResponseError(api, resp.status_code, "", "body is not a JSON object")
        return body

    def paginate(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        limit: int | None = None,
        total_key: str = "total_count",
        max_items: int = 1_000_000,
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of an offset/limit-paged list, one page per call.

        Stops on a short or empty page, or when ``offset`` reaches the reported total.
        Items that are not JSON objects are counted as invalid and skipped.
        """
        spec = APIS[api]
        page = min(limit or spec.page_limit, spec.page_limit) if spec.page_limit else (limit or 100)
        offset = 0
        while offset < max_items:
            body = self.request(api, path_params, {**(params or {}), "offset": offset, "limit": page})
            items = body.get(items_key)
            if not isinstance(items, list):
                self._observer.invalid_response(api)
                raise InvalidResponseError(api, 200, "", f"missing list {items_key!r}")
            for item in items:
                if isinstance(item, dict):
                    yield item
                else:
                    self._observer.invalid_response(api)
            offset += len(items)
            total = body.get(total_key)
            if len(items) < page or (isinstance(total, int) and offset >= total):
                return

    # ------------------------------------------------------------- operations

    def list_desktops(self) -> list[dict[str, Any]]:
        """Every desktop of the project (``/desktops/detail``), de-duplicated by id across pages."""
        seen: dict[str, dict[str, Any]] = {}
        for item in self.paginate("desktops_detail", "desktops"):
            did = item.get("desktop_id")
            if isinstance(did, str) and did:
                seen[did] = item
            else:
                self._observer.invalid_response("desktops_detail")
        return list(seen.values())

    def desktop_monitor(self, desktop_id: str, start_time: str, end_time: str) -> dict[str, Any]:
        """Batch monitoring data of one desktop (every metric: ``metric_name`` left empty)."""
        return self.request(
            "desktop_monitor",
            {"desktop_id": desktop_id},
            {"start_time": start_time, "end_time": end_time},
        )

    def ces_list_metrics(self, namespace: str, max_pages: int = 100) -> list[dict[str, Any]]:
        """Cloud Eye ListMetrics entries of ``namespace``, paged by the ``start`` marker.

        At most ``max_pages`` calls of 1,000 entries; stops early on a short page, an empty
        or repeated marker. Entries that are not JSON objects are counted and skipped.
        """
        out: list[dict[str, Any]] = []
        marker = ""
        for _ in range(max(1, max_pages)):
            params: dict[str, str | int] = {"namespace": namespace, "limit": 1000}
            if marker:
                params["start"] = marker
            body = self.request("ces_metrics", params=params)
            items = body.get("metrics")
            if not isinstance(items, list):
                self._observer.invalid_response("ces_metrics")
                raise InvalidResponseError("ces_metrics", 200, "", "missing list 'metrics'")
            for item in items:
                if isinstance(item, dict):
                    out.append(item)
                else:
                    self._observer.invalid_response("ces_metrics")
            meta = body.get("meta_data")
            nxt = meta.get("marker") if isinstance(meta, dict) else None
            if len(items) < 1000 or not isinstance(nxt, str) or not nxt or nxt == marker:
                break
            marker = nxt
        return out

    def ces_batch_latest(
        self,
        namespace: str,
        metric_name: str,
        dimension: str,
        from_ms: int,
        to_ms: int,
        max_points: int = 200_000,
    ) -> list[dict[str, Any]]:
        """Cloud Eye v2 batch query: the datapoints of one metric for every resource in [from, to].

        Pages by offset with the API's largest ``limit`` (1,000) until a short page (the
        real answer carries no total), or until ``max_points`` were read. Datapoints that
        are not JSON objects are counted and skipped.
        """
        api = "ces_batch_v2"
        limit = APIS[api].page_limit
        out: list[dict[str, Any]] = []
        offset = 0
        while offset < max_points:
            body = self.request(
                api,
                json_body={
                    "namespace": namespace,
                    "metric_name": metric_name,
                    "metric_dimension": dimension,
                    "from": from_ms,
                    "to": to_ms,
                    "limit": limit,
                    "offset": offset,
                },
            )
            items = body.get("data_points", ())
            if items is None:  # an explicit null: no datapoints in the window
                items = []
            if not isinstance(items, list):
                self._observer.invalid_response(api)
                raise InvalidResponseError(api, 200, "", "missing list 'data_points'")
            for item in items:
                if isinstance(item, dict):
                    out.append(item)
                else:
                    self._observer.invalid_response(api)
            offset += len(items)
            if len(items) < limit:
                break
        return out


def _with_project(cfg: Config, project_id: str) -> Config:
    return dataclasses.replace(cfg, project_id=project_id)
