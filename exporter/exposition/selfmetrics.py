"""The exporter's own metrics: upstream call counters and source health.

:class:`ApiMetrics` implements the client's ``ApiObserver`` with directly
instrumented counters and a histogram (they live across scrapes, as the exporter
guidelines allow for the exporter's own behaviour). :class:`StatusCollector`
reads source health and budget state at scrape time, which costs no I/O, and adds the
per-scrape families a source's table entry brings (:class:`MonitoringStatus` for the
monitoring source).
"""

from __future__ import annotations

import itertools
import platform
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.apis import APIS
from exporter.exposition import catalogue as m
from exporter.sources.base import SourceHealth, action_to_grant
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.labels import OTHER, admit
from exporter.sources.monitoring import MonitoringSnapshot
from exporter.upstream.breaker import GateState
from exporter.upstream.budget import Budget
from exporter.upstream.client import INVALID_BODY
from exporter.upstream.keys import CredentialInfo
from exporter.upstream.paging import SHRINK_REASONS, TRUNCATION_KEYS

AuthStatus = Callable[[], tuple[GateState, CredentialInfo]]

# ``*_created`` series double the self-metric series for no value to dashboards or alerts.
disable_created_metrics()  # type: ignore[no-untyped-call]

# What a Huawei Cloud error code looks like (APIGW.0301, WKS.00211404, ces.0014); anything
# else in the body's code field is not a label value.
_ERROR_CODE = re.compile(r"[A-Za-z]{2,10}\.[0-9A-Za-z]{1,12}")
MAX_ERROR_CODES = 50  # distinct error_code values per process; later ones are "other"


def status_label(status: int) -> str:
    """An HTTP status as a label value: the three digits, "other" outside 100–599."""
    return str(status) if 100 <= status <= 599 else OTHER


class ApiMetrics(Collector):
    """Counters for upstream calls; pre-created at 0 for the APIs in use so rate() works at once.

    Collected on every scrape, but they change only when a call ends: :meth:`collect` returns
    the same family objects until one of them changes (so the renderer can reuse their
    encoding too). Ten sources pre-declare a duration histogram for each of some thirty APIs:
    collecting and encoding them on every scrape cost more than the rest of a cached scrape.
    """

    def __init__(self, registry: CollectorRegistry, apis: Iterable[str] = ()) -> None:
        self._changes = itertools.count(1)
        self._version = 0  # set from _changes after every change
        self._collected: tuple[int, list[Metric]] = (-1, [])
        f = m.API_REQUESTS
        self.requests = Counter(f.full_name, f.help, f.labels, registry=None)
        f = m.API_DURATION
        self.duration = Histogram(
            f.full_name, f.help, f.labels, registry=None, buckets=m.API_DURATION_BUCKETS
        )
        f = m.API_THROTTLED
        self.throttles = Counter(f.full_name, f.help, f.labels, registry=None)
        f = m.API_RETRIES
        self.retries = Counter(f.full_name, f.help, f.labels, registry=None)
        f = m.API_INVALID
        self.invalid = Counter(f.full_name, f.help, f.labels, registry=None)
        # Not pre-declared: its label values are only known when an answer brings them.
        f = m.API_ERROR_RESPONSES
        self.errors = Counter(f.full_name, f.help, f.labels, registry=None)
        self._codes: set[str] = set()
        self._codes_lock = threading.Lock()
        f = m.API_PAGE_SHRINKS
        self.shrinks = Counter(f.full_name, f.help, f.labels, registry=None)
        f = m.API_LISTINGS_TRUNCATED
        self.truncations = Counter(f.full_name, f.help, f.labels, registry=None)
        for api in apis:
            self.declare(api)
        registry.register(self)

    def collect(self) -> Iterable[Metric]:
        # The version is read before collecting: a change during the collection moves it on,
        # so the next scrape collects again.
        version = self._version
        cached, families = self._collected
        if cached != version:
            counters = (self.requests, self.duration, self.throttles, self.retries, self.invalid)
            rest = (self.errors, self.shrinks, self.truncations)
            families = [f for c in (*counters, *rest) for f in c.collect()]
            self._collected = (version, families)
        return families

    def _changed(self) -> None:
        self._version = next(self._changes)

    def declare(self, api: str) -> None:
        self.duration.labels(api)
        self.throttles.labels(api)
        self.retries.labels(api)
        self.invalid.labels(api)
        spec = APIS.get(api)
        if spec is not None and spec.page_limit:
            for reason in SHRINK_REASONS:
                self.shrinks.labels(api, reason)
        for key in TRUNCATION_KEYS.get(api, ()):
            self.truncations.labels(api, key)
        self._changed()

    def request_done(self, api: str, code: str, seconds: float) -> None:
        self.requests.labels(api, code).inc()
        self.duration.labels(api).observe(seconds)
        self._changed()

    def throttled(self, api: str) -> None:
        self.throttles.labels(api).inc()
        self._changed()

    def retried(self, api: str) -> None:
        self.retries.labels(api).inc()
        self._changed()

    def invalid_response(self, api: str) -> None:
        self.invalid.labels(api).inc()
        self._changed()

    def error_response(self, api: str, status: int, error_code: str) -> None:
        self.errors.labels(api, status_label(status), self.error_code_label(error_code)).inc()
        self._changed()

    def page_shrunk(self, api: str, reason: str) -> None:
        self.shrinks.labels(api, reason).inc()
        self._changed()

    def truncated(self, api: str, key: str) -> None:
        self.truncations.labels(api, key).inc()
        self._changed()

    def error_code_label(self, code: str) -> str:
        """``code`` when it looks like a Huawei Cloud error code and is among the first
        :data:`MAX_ERROR_CODES` seen; "none" when empty; else "other"."""
        if not code:
            return "none"
        if code == INVALID_BODY:
            return code
        if not _ERROR_CODE.fullmatch(code):
            return OTHER
        with self._codes_lock:
            return code if admit(code, self._codes, MAX_ERROR_CODES) else OTHER


class ReloadState:
    def __init__(self) -> None:
        self.successful = True
        self.last_success = 0.0


class StatusCollector(Collector):
    """``up``, refresh times and durations per source, budget rates, build info, reload state,
    and the families ``sources`` returns (those of the enabled sources, per scrape)."""

    def __init__(
        self,
        healths: Callable[[], Sequence[SourceHealth]],
        budget: Callable[[], Budget],
        sources: Callable[[], list[Metric]],
        reload_state: ReloadState,
        auth: AuthStatus | None = None,
    ) -> None:
        self._auth = auth
        self._healths = healths
        self._budget = budget
        self._sources = sources
        self._reload = reload_state

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(m.UP.full_name, m.UP.help, labels=list(m.UP.labels))
        last = GaugeMetricFamily(
            m.LAST_REFRESH.full_name, m.LAST_REFRESH.help, labels=list(m.LAST_REFRESH.labels)
        )
        dur = GaugeMetricFamily(
            m.REFRESH_DURATION.full_name, m.REFRESH_DURATION.help, labels=list(m.REFRESH_DURATION.labels)
        )
        denied = GaugeMetricFamily(
            m.SOURCE_PERMISSION_MISSING.full_name,
            m.SOURCE_PERMISSION_MISSING.help,
            labels=list(m.SOURCE_PERMISSION_MISSING.labels),
        )
        gate, credentials = self._auth() if self._auth is not None else (None, None)
        # While the auth breaker is open no source can refresh: none reads as up.
        auth_ok = gate is None or not gate.open
        for h in self._healths():
            s = h.status
            up.add_metric([s.name], 1.0 if s.up and auth_ok else 0.0)
            if s.denied_api and not s.up:
                denied.add_metric([s.name, s.denied_api, action_to_grant(s.denied_api)], 1.0)
            if s.last_success:
                last.add_metric([s.name], s.last_success)
            if s.attempted:
                dur.add_metric([s.name], s.last_duration)
        budget = GaugeMetricFamily(
            m.API_BUDGET.full_name, m.API_BUDGET.help, labels=list(m.API_BUDGET.labels)
        )
        for api, state in sorted(self._budget().state().items()):
            budget.add_metric([api], state.effective_per_minute)
        out: list[Metric] = [up, denied, last, dur, budget]
        if gate is not None and credentials is not None:
            out.extend(_auth_families(gate, credentials))
        out.extend(self._sources())
        info = InfoMetricFamily(m.BUILD_INFO.full_name, m.BUILD_INFO.help, labels=list(m.BUILD_INFO.labels))
        info.add_metric([__version__, platform.python_version()], {})
        out.append(info)
        out.append(
            GaugeMetricFamily(
                m.CONFIG_RELOAD_SUCCESS.full_name,
                m.CONFIG_RELOAD_SUCCESS.help,
                1.0 if self._reload.successful else 0.0,
            )
        )
        out.append(
            GaugeMetricFamily(
                m.CONFIG_RELOAD_TIME.full_name, m.CONFIG_RELOAD_TIME.help, self._reload.last_success
            )
        )
        yield from out


def _auth_families(gate: GateState, credentials: CredentialInfo) -> list[Metric]:
    f = m.AUTH_BREAKER_OPEN
    out: list[Metric] = [GaugeMetricFamily(f.full_name, f.help, 1.0 if gate.open else 0.0)]
    f = m.AUTH_FAILURES
    out.append(CounterMetricFamily(f.full_name, f.help, gate.failures_total))
    f = m.AUTH_INFO
    info = InfoMetricFamily(f.full_name, f.help, labels=list(f.labels))
    info.add_metric([credentials.mode], {})
    out.append(info)
    if credentials.expires_at is not None:
        f = m.AUTH_EXPIRY
        out.append(GaugeMetricFamily(f.full_name, f.help, credentials.expires_at))
    return out


class MonitoringStatus:
    """The monitoring source's per-scrape families: how many inventory desktops have data,
    and which path the data come by."""

    def __init__(
        self,
        inventory: Callable[[], InventorySnapshot | None],
        monitoring: Callable[[], MonitoringSnapshot],
        path: Callable[[], str | None],
    ) -> None:
        self._inventory = inventory
        self._monitoring = monitoring
        self._path = path
        self._cache: tuple[Hashable, int] = ((), 0)

    def _monitored(self) -> int:
        inv = self._inventory()
        if inv is None:
            return 0
        mon = self._monitoring()
        # Computed per scrape but O(fleet): cache it per pair of snapshot versions.
        key = (inv.version, mon.version)
        cached = self._cache  # one read: scrape threads may replace it concurrently
        if cached[0] != key:
            cached = (key, len(inv.by_id.keys() & mon.entries.keys()))
            self._cache = cached
        return cached[1]

    def __call__(self) -> list[Metric]:
        monitored = GaugeMetricFamily(
            m.MONITORED_DESKTOPS.full_name, m.MONITORED_DESKTOPS.help, self._monitored()
        )
        active = self._path()
        f = m.MONITORING_PATH
        path = GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))
        for name in m.MONITORING_PATHS:
            path.add_metric([name], 1.0 if name == active else 0.0)
        return [monitored, path]
