"""``WorkspaceClient``: the one way the exporter talks to Huawei Cloud.

Per target, one ``requests.Session`` (pooled connections, connect/read timeouts, TLS
verified unless turned off) and one :class:`~exporter.upstream.transport.Transport` (total
deadline, decoded body cap, abort on close). A call is a series of attempts
(:mod:`exporter.upstream.attempt`: the auth breaker, the shared
:class:`~exporter.upstream.budget.Budget`, signing or IAM tokens via
:mod:`exporter.upstream.auth`, one exchange, typed errors); this module sends them to the
next endpoint when a host cannot be reached, retries 429, 5xx and connection errors with
exponential backoff and full jitter within ``http.max_retries`` and
``http.retry_max_elapsed``, discovers the project id, and opens paged listings
(:mod:`exporter.upstream.paging`). It never imports prometheus_client: it reports what
happens to an :class:`~exporter.upstream.observer.ApiObserver`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from exporter.apis import APIS, ApiSpec
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.credentials import Credentials
from exporter.config.settings import Config, Settings
from exporter.errors import (
    InvalidResponseError,
    ShutdownError,
    ThrottledError,
    UpstreamError,
    UpstreamUnavailableError,
)
from exporter.upstream.attempt import Attempts
from exporter.upstream.auth import AkSkAuth, AuthProvider, breaker_limit, build_auth
from exporter.upstream.breaker import AuthGate, GateState
from exporter.upstream.budget import Budget
from exporter.upstream.calls import ApiCalls
from exporter.upstream.discovery import discover_project_id
from exporter.upstream.hosts import HostSelector, endpoints_of
from exporter.upstream.jsonbody import ObjectHook, parse_json_object
from exporter.upstream.keys import CredentialInfo
from exporter.upstream.observer import INVALID_BODY, ApiObserver, NullObserver, report_bad_body
from exporter.upstream.paging import Listing, PageSizes, Params
from exporter.upstream.transport import Limits, Transport, host_of_url, tls_verify

log = logging.getLogger(__name__)

USER_AGENT = "workspace-exporter"
__all__ = ["INVALID_BODY", "Listing", "Params", "WorkspaceClient"]


def retryable(spec: ApiSpec, error: UpstreamError) -> bool:
    """Whether a throttled or unavailable call may be sent again.

    Only idempotent reads are retried: a call that creates something (the v3 export task)
    may have done so before its answer was lost, and a retry would do it twice. 501 Not
    Implemented is permanent: the same request gets the same answer.
    """
    return spec.idempotent and error.status != 501


class WorkspaceClient(ApiCalls):
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
        self._transport = Transport(self._session, Limits.of(settings.config.http))
        self._lock = threading.Lock()
        self._settings = settings
        self._hosts = HostSelector(endpoints_of(settings))
        self._auth_key: object = None
        self.auth_gate = AuthGate(
            clock, lambda: self._attempts.auth.describe(), breaker_limit(settings.credentials)
        )
        self._attempts = Attempts(
            self._session, self._transport, budget, self.auth_gate, self._observer, clock, self._stop
        )
        self._project_id = ""
        self._page_sizes = PageSizes()
        self.reconfigure(settings)

    # ------------------------------------------------------------------ setup

    def reconfigure(self, settings: Settings) -> None:
        """Apply new endpoints, credentials, timeouts and TLS settings (on reload)."""
        cfg = settings.config
        self._transport.remount(cfg.budget.max_concurrency + 2)
        self._transport.limits = Limits.of(cfg.http)
        verify = tls_verify(cfg.http)
        self._hosts.reconfigure(endpoints_of(settings))
        if verify is False:
            log.warning("TLS verification is off (http.tls_verify: false); upstream identity is not checked")
        # Credentials and the settings they are fetched with: unchanged by a reload, the
        # provider (and its token or temporary keys) is kept.
        key = (settings.credentials, cfg.project_id, cfg.auth, cfg.http, endpoints_of(settings))
        with self._lock:
            self._settings = settings
            self._attempts.verify = verify
            self._attempts.max_file_bytes = cfg.http.max_file_bytes
            if key != self._auth_key:
                self._attempts.auth = self._build_auth(settings.credentials, cfg)
                self._auth_key = key
                self.auth_gate.forget_verification()
            self._project_id = cfg.project_id
        self._page_sizes.reset()

    def _build_auth(self, credentials: Credentials, cfg: Config) -> AuthProvider:
        return build_auth(
            credentials,
            cfg,
            self._session,
            self._clock,
            on_request=self._iam_request_done,
            transport=self._transport,
            budget=self._budget,
            stop=self._stop,
            iam_base=lambda: self._hosts.base("iam"),
            sts_base=lambda: self._hosts.base("sts"),
            unreachable=lambda base, error: self._hosts.fail_over("iam", base, error),
            iam_endpoints=self._hosts.count("iam"),
        )

    def _iam_request_done(self, api: str, status: int, seconds: float, error_code: str) -> None:
        self._observer.request_done(api, str(status) if status else "error", seconds)
        if status >= 400:
            self._observer.error_response(api, status, error_code)

    @property
    def project_id(self) -> str:
        return self._project_id

    def auth_status(self) -> tuple[GateState, CredentialInfo]:
        """The auth breaker's state and the credentials in use (for self-metrics and checks)."""
        return self.auth_gate.state(), self._attempts.auth.info()

    def ensure_project_id(self) -> str:
        """Return the project id, discovering it from IAM by region name when not configured."""
        if self._project_id:
            return self._project_id
        region = self._settings.config.region
        self._project_id = discover_project_id(self, region)
        # The signer adds X-Project-Id; the keys (temporary ones too) stay as they are.
        auth = self._attempts.auth
        if isinstance(auth, AkSkAuth):
            auth.project_id = self._project_id
        log.info("discovered project id from IAM region=%s", region)
        return self._project_id

    def threads(self) -> list[threading.Thread]:
        """The client's own thread (it cuts exchanges past their deadline)."""
        return [self._transport.thread]

    def close(self) -> None:
        """Stop: wake waits for budget or backoff, cut every exchange in flight, drop the pool."""
        self._stop.set()
        self.auth_gate.wake()
        self._transport.abort_all()
        self._session.close()

    # ------------------------------------------------------------------ calls

    def _url(self, spec: ApiSpec, path_params: Mapping[str, str]) -> tuple[str, str]:
        """The URL to call ``spec`` at, and the base (endpoint) it is on."""
        base = self._hosts.base(spec.service)
        values = {k: quote(str(v), safe="") for k, v in path_params.items()}
        values.setdefault("project_id", quote(self._project_id, safe=""))
        return base + spec.path.format(**values), base

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
        url, base = self._url(spec, path_params or {})
        failovers = 0
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        started = self._clock.monotonic()
        attempt = 0
        while True:
            error, resp, retry_after = self._attempts.send(spec, url, params, data)
            if error is None and resp is not None:
                return resp
            if self._stop.is_set():  # the exchange was cut by close(): not an upstream fault
                raise ShutdownError(f"client closed during the {api} call")
            if error is None:  # pragma: no cover - an attempt returns one or the other
                raise UpstreamUnavailableError(api, 0, "", "no response")
            if failovers < self._hosts.count(spec.service) - 1 and self._hosts.fail_over(
                spec.service, base, error
            ):
                failovers += 1  # the host was never reached: the next endpoint, at once
                url, base = self._url(spec, path_params or {})
                continue
            if not isinstance(error, ThrottledError | UpstreamUnavailableError):
                raise error
            if isinstance(error, ThrottledError):
                self._budget.throttled(api)
                self._observer.throttled(api)
            if not retryable(spec, error):
                raise error
            delay = self._backoff(attempt)
            if isinstance(error, ThrottledError):
                floor = http.throttle_backoff * (1.0 + self._rng.random() * 0.7)
                delay = max(delay, floor, retry_after or 0.0)
                delay = min(delay, max(http.backoff_max, http.throttle_backoff))
            elapsed = self._clock.monotonic() - started
            if attempt >= http.max_retries or elapsed + delay > http.retry_max_elapsed:
                raise error
            attempt += 1
            self._observer.retried(api)
            log.debug("retrying attempt=%d delay_seconds=%.2f error=%s", attempt, delay, error)
            if self._clock.sleep(delay, self._stop):
                raise ShutdownError(f"client closed while backing off {api}")

    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: object = None,
        *,
        object_pairs_hook: ObjectHook | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`request_raw` but decode a JSON object body (InvalidResponseError otherwise).

        ``object_pairs_hook`` sees every object of the body as it is decoded (see
        :func:`~exporter.upstream.jsonbody.loads_bounded`); it must not raise.
        """
        resp = self.request_raw(api, path_params, params, json_body)
        try:
            return parse_json_object(
                api, resp.content, resp.status_code, host_of_url(resp.url or ""), object_pairs_hook
            )
        except InvalidResponseError:
            self.bad_body(api, resp.status_code)
            raise

    def bad_body(self, api: str, status: int = 200) -> None:
        """Count an answer of ``api`` whose body is unusable (not JSON, wrong shape, too large)."""
        report_bad_body(self._observer, api, status)

    def invalid_item(self, api: str) -> None:
        """Count one item of an answer of ``api`` that is unusable (the item is skipped)."""
        self._observer.invalid_response(api)

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
        json_body: Mapping[str, object] | None = None,
        marker_param: str = "",
        until_empty: bool = False,
        object_pairs_hook: ObjectHook | None = None,
    ) -> Listing:
        """A paged listing of ``api``, read page by page as it is iterated; see
        :mod:`exporter.upstream.paging` for how it ends, its caps and page shrinking."""
        return Listing(
            self,
            self._observer,
            self._page_sizes,
            api,
            items_key,
            max_pages=self._settings.config.http.max_pages_per_listing,
            params=params,
            path_params=path_params,
            limit=limit,
            total_key=total_key,
            max_items=max_items,
            cap_key=cap_key,
            json_body=json_body,
            marker_param=marker_param,
            until_empty=until_empty,
            object_pairs_hook=object_pairs_hook,
        )

    def paginate(
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
        json_body: Mapping[str, object] | None = None,
        marker_param: str = "",
        until_empty: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every item of :meth:`listing`, in order (for callers that need no page view)."""
        pages = self.listing(
            api,
            items_key,
            params,
            path_params,
            limit=limit,
            total_key=total_key,
            max_items=max_items,
            cap_key=cap_key,
            json_body=json_body,
            marker_param=marker_param,
            until_empty=until_empty,
        )
        for page in pages:
            yield from page.items

    def page_items(self, api: str, doc: Mapping[str, Any], items_key: str, query_body: bool) -> list[Any]:
        """The item list of one page of ``api``. A missing or non-list one is an invalid
        response; an explicit null answering a POST query (``query_body``) is an empty window."""
        items = doc.get(items_key)
        if items is None and query_body and items_key in doc:
            return []
        if not isinstance(items, list):
            self.bad_body(api)
            raise InvalidResponseError(api, 200, host=self.host(api), cause=f"body has no {items_key} list")
        return items

    def host(self, api: str) -> str:
        """The host ``api`` is called on (named in errors)."""
        return self._host(APIS[api])

    def _host(self, spec: ApiSpec) -> str:
        return host_of_url(self._hosts.base(spec.service))
