"""``check-config --online``: one smallest call to each API the config enables, then a table.

Offline validation says a config is well formed; only the cloud can say whether its
credentials reach each API and hold each permission. Per target, the target's own
:class:`~exporter.upstream.client.WorkspaceClient` (budget, signing, retries, bounded
exchanges: nothing is bypassed) makes the cheapest call that proves it: a one-item page
of each listing, one desktop's monitoring data, one Cloud Eye datapoint, the IAM token
(token auth) and project discovery (no ``project_id``), and the calls of each enabled fleet
source (:mod:`exporter.cli.online_fleet`). Calls that need an id (a desktop,
a recording) use the first one the listing returned, or are skipped with a note when
there is none.

Cloud Eye's v2 batch query exists only in some regions: when it answers 404 or 400 the
v1 batch query is tried, and the row says which one the region serves.

The first row of each target says which credentials the check used: the mode (which step
of the SDK's chain answered, and the steps passed over), where they come from (variables,
files or a provider, never a value) and, for temporary credentials and tokens, when the
current ones expire. It fails when the credentials could not be fetched or were refused.

The table names per target and API ``ok``, the HTTP status and upstream error code, or
the cause class of a failure without an answer; for a 403 the IAM action to grant (the
one the denial names, else :data:`~exporter.apis.IAM_ACTIONS`). Cells hold only API
names, statuses, error codes, causes and upstream messages, each scrubbed of every
registered secret and stripped of control characters, so nothing a request carried is
printed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from exporter.cli.online_fleet import check_fleet
from exporter.cli.online_report import Row, Status, advice, credentials_row, describe, render
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.settings import Settings
from exporter.errors import AuthBreakerOpenError, ExporterError, UpstreamError
from exporter.sources.cloudeye import FALLBACK_DIMENSION, WINDOW_MS, most_common_dimension
from exporter.sources.connection_records import ceil_minute, floor_minute
from exporter.sources.connections import API_BY_VERSION
from exporter.sources.connections import ITEMS_KEY as RECORDS_KEY
from exporter.timeutil import fmt_minutes, fmt_seconds, fmt_space
from exporter.upstream.auth import CREDENTIAL_APIS
from exporter.upstream.budget import Budget
from exporter.upstream.client import Params, WorkspaceClient

# A metric every Workspace desktop reports to Cloud Eye: one is enough to prove access.
CES_PROBE_METRIC = "cpu_util"
# The v1 batch query needs a dimension value; any id proves access when no desktop exists.
CES_PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
# Connection records of the last few minutes: the smallest window the APIs take.
RECORDS_WINDOW_S = 600.0
# Failures without an answer that say the host itself cannot be reached: later calls to
# the same host would only repeat them (each with its retries), so they are not made.
_HOST_DOWN = ("connection refused", "dns lookup failed", "connect timeout", "tls ")


class _Blocked(Exception):
    """A call could not be made because an earlier step it needs failed."""


class TargetCheck:
    """The checks of one target; :meth:`run` fills :attr:`rows` in call order."""

    def __init__(self, settings: Settings, client: WorkspaceClient, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self.rows: list[Row] = []
        self._token_pending = settings.credentials.method == "token"
        self._blocked = ""  # the step every later call needs and that failed
        self._credential_error: UpstreamError | None = None
        self._down: dict[str, str] = {}  # host -> why it cannot be reached

    @property
    def target(self) -> str:
        cfg = self.settings.config
        return f"{cfg.region}/{self.client.project_id or cfg.project_id or '?'}"

    # ------------------------------------------------------------------ plumbing

    def _add(self, api: str, status: Status, result: str, note: str = "") -> None:
        self.rows.append(Row("", api, status, result, note))

    def _token_resolved(self, error: UpstreamError | None) -> None:
        if not self._token_pending:
            return
        self._token_pending = False
        if error is not None and error.api == "iam_tokens":
            self._add("iam_tokens", "failed", describe(error), advice("iam_tokens", error))
            self._blocked = "iam_tokens"
        else:
            self._add("iam_tokens", "ok", "ok")

    def attempt(self, api: str, call: Callable[[], Any]) -> Any:
        """Make ``call`` (a call to ``api``); return its value, or raise ``_Blocked``
        after recording the failure. Records nothing on success: the caller does."""
        host = self.client.host(api)
        if self._blocked:
            self._add(api, "skipped", "not tried", f"needs {self._blocked}, which failed")
            raise _Blocked
        if host in self._down:
            self._add(api, "skipped", "not tried", f"{host} unreachable: {self._down[host]}")
            raise _Blocked
        try:
            value = call()
        except AuthBreakerOpenError:
            self._add(api, "skipped", "not tried", "needs working credentials")
            self._blocked = self._blocked or "credentials"
            raise _Blocked from None
        except UpstreamError as e:
            if e.api in CREDENTIAL_APIS and e.api != "iam_tokens":
                self._credential_error = e
                self._blocked = "credentials"
                self._add(api, "skipped", "not tried", "needs credentials, which could not be fetched")
                raise _Blocked from None
            self._token_resolved(e)
            if e.api != api:  # a step the call needed: the token or project discovery
                if e.api != "iam_tokens":
                    self._add(e.api, "failed", describe(e), advice(e.api, e))
                    self._blocked = e.api
                self._add(api, "skipped", "not tried", f"needs {e.api}, which failed")
                raise _Blocked from None
            if e.status == 0 and e.host and e.cause.startswith(_HOST_DOWN):
                self._down[e.host] = e.cause
            raise
        self._token_resolved(None)
        return value

    def check(self, api: str, call: Callable[[], Any], note: str = "") -> Any:
        """Make ``call`` and record its row; return its value, or None when it failed."""
        try:
            value = self.attempt(api, call)
        except _Blocked:
            return None
        except UpstreamError as e:
            self._add(api, "failed", describe(e), advice(api, e))
            return None
        self._add(api, "ok", "ok", note)
        return value

    def skip(self, api: str, why: str, needs: str) -> None:
        """Record ``api`` as not called: ``needs`` (the listing that gives its id) failed, or
        it answered without an id (``why``)."""
        if self._blocked or not any(r.api == needs and r.status == "ok" for r in self.rows):
            self._add(api, "skipped", "not tried", f"needs {self._blocked or needs}, which failed")
        else:
            self._add(api, "skipped", "skipped", why)

    def listing(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        json_body: object = None,
    ) -> dict[str, Any]:
        """One page of ``api``; an answer without its item list is invalid, as for the exporter."""
        body = self.client.request(api, path_params, params, json_body)
        self.client.page_items(api, body, items_key, json_body is not None)
        return body

    # ------------------------------------------------------------------ checks

    def run(self) -> list[Row]:
        cfg = self.settings.config
        client = self.client
        if not cfg.project_id:
            found = self.check("iam_projects", client.ensure_project_id, "project discovered by region name")
            if found is None and not self._blocked:
                self._blocked = "iam_projects"  # every project-scoped call needs the id
        desktops = self.check(
            "desktops_detail", lambda: self.listing("desktops_detail", "desktops", {"offset": 0, "limit": 1})
        )
        desktop_id = first_id(desktops, "desktops", "desktop_id")
        # The light list carries pool_id; the exporter runs without it (pool_id stays empty),
        # but a refusal here is a permission worth granting.
        self.check(
            "desktops_list", lambda: self.listing("desktops_list", "desktops", {"offset": 0, "limit": 1})
        )
        # The lookup that confirms a desktop a listing missed is gone; without it such a desktop
        # leaves one refresh later.
        if desktop_id:
            self.check("desktop_detail", lambda: client.desktop_detail(desktop_id))
        else:
            self.skip("desktop_detail", "no desktop to ask about", "desktops_detail")
        mon = cfg.monitoring
        if mon.enabled and mon.source != "cloudeye":
            if desktop_id:
                end = self.clock.time()
                # The configured window: the call the monitoring source will make.
                start = end - mon.window
                self.check(
                    "desktop_monitor",
                    lambda: client.desktop_monitor(desktop_id, fmt_seconds(start), fmt_seconds(end)),
                )
            else:
                self.skip("desktop_monitor", "no desktop to ask about", "desktops_detail")
        if mon.enabled and mon.source != "workspace":
            self._cloud_eye(desktop_id)
        if cfg.connections.enabled:
            self._connections()
        if cfg.events.enabled:
            self._events()
        check_fleet(self, cfg, self.clock.time())
        rows = [self._credentials_row(), *self.rows]
        return [Row(self.target, r.api, r.status, r.result, r.note) for r in rows]

    def _credentials_row(self) -> Row:
        gate, info = self.client.auth_status()
        return credentials_row(
            self.settings.credentials, gate, info, self.clock.time(), self._credential_error
        )

    def _connections(self) -> None:
        api = API_BY_VERSION[self.settings.config.connections.api]
        now = self.clock.time()
        params: Params = {
            "start_time": fmt_minutes(floor_minute(now - RECORDS_WINDOW_S)),
            "end_time": fmt_minutes(ceil_minute(now)),
            "offset": 0,
            "limit": 1,
        }
        self.check(api, lambda: self.listing(api, RECORDS_KEY, params))

    def _events(self) -> None:
        now = self.clock.time()
        params: Params = {
            "start_time": fmt_space(now - self.settings.config.events.recordings_window),
            "end_time": fmt_space(now),
            "sort_field": "start_time",
            "sort_type": "desc",
            "offset": 0,
            "limit": 1,
        }
        listing = self.check(
            "screen_records", lambda: self.listing("screen_records", "screen_records", params)
        )
        record_id = first_id(listing, "screen_records", "id")
        if not record_id:
            self.skip("os_operations", "no screen recording in events.recordings_window", "screen_records")
            return
        self.check(
            "os_operations",
            lambda: self.listing(
                "os_operations", "operations", {"offset": 0, "limit": 1}, {"record_id": record_id}
            ),
        )

    def _cloud_eye(self, desktop_id: str) -> None:
        mon = self.settings.config.monitoring
        dimension = mon.cloudeye_dimension
        if not dimension:
            listing = self.check(
                "ces_metrics",
                lambda: self.listing(
                    "ces_metrics", "metrics", {"namespace": mon.cloudeye_namespace, "limit": 1}
                ),
            )
            entries = listing.get("metrics") if isinstance(listing, dict) else None
            found = most_common_dimension(e for e in entries if isinstance(e, dict)) if entries else None
            dimension = found or FALLBACK_DIMENSION
        to_ms = math.floor((self.clock.time() - mon.cloudeye_delay) * 1000)
        from_ms = to_ms - WINDOW_MS
        v2 = {
            "namespace": mon.cloudeye_namespace,
            "metric_name": CES_PROBE_METRIC,
            "metric_dimension": dimension,
            "from": from_ms,
            "to": to_ms,
            "offset": 0,
            "limit": 1,
        }
        try:
            self.attempt("ces_batch_v2", lambda: self.listing("ces_batch_v2", "data_points", json_body=v2))
        except _Blocked:
            return
        except UpstreamError as e:
            if e.status not in (400, 404):
                self._add("ces_batch_v2", "failed", describe(e), advice("ces_batch_v2", e))
                return
            self._cloud_eye_v1(dimension, desktop_id or CES_PLACEHOLDER_ID, from_ms, to_ms, e)
            return
        self._add("ces_batch_v2", "ok", "ok", "the region serves the v2 batch query")

    def _cloud_eye_v1(
        self, dimension: str, value: str, from_ms: int, to_ms: int, v2_error: UpstreamError
    ) -> None:
        mon = self.settings.config.monitoring
        metric = {
            "namespace": mon.cloudeye_namespace,
            "metric_name": CES_PROBE_METRIC,
            "dimensions": [{"name": dimension, "value": value}],
        }
        v1 = {"metrics": [metric], "from": from_ms, "to": to_ms, "period": "1", "filter": "average"}
        v2_said = describe(v2_error)
        try:
            self.attempt("ces_batch_v1", lambda: self.listing("ces_batch_v1", "metrics", json_body=v1))
        except _Blocked:
            return
        except UpstreamError as e:
            self._add("ces_batch_v2", "failed", v2_said, advice("ces_batch_v2", v2_error))
            self._add("ces_batch_v1", "failed", describe(e), advice("ces_batch_v1", e))
            return
        self._add("ces_batch_v1", "ok", "ok", f"the region serves the v1 batch query only (v2: {v2_said})")


def first_id(body: object, items_key: str, id_key: str) -> str:
    """The id of the first item of a listing answer, or "" when there is none."""
    items = body.get(items_key) if isinstance(body, Mapping) else None
    if isinstance(items, list) and items and isinstance(items[0], Mapping):
        value = items[0].get(id_key)
        if isinstance(value, str) and value:
            return value
    return ""


def check_targets(targets: list[Settings], clock: Clock = SYSTEM_CLOCK) -> list[Row]:
    """Run the checks of every target, one after the other, each with its own client."""
    rows: list[Row] = []
    for settings in targets:
        client = WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)
        try:
            rows.extend(TargetCheck(settings, client, clock).run())
        except ExporterError as e:  # not an upstream answer (a shutdown): one row, never a traceback
            cfg = settings.config
            rows.append(Row(f"{cfg.region}/{cfg.project_id or '?'}", "*", "failed", type(e).__name__, str(e)))
        finally:
            client.close()
    return rows


def run_online(targets: list[Settings], out: TextIO, clock: Clock = SYSTEM_CLOCK) -> int:
    """Check every target, print the table to ``out``; 0 when every call passed, else 1."""
    try:
        rows = check_targets(targets, clock)
    except KeyboardInterrupt:
        print("interrupted", file=out)
        return 130
    out.write(render(rows))
    out.flush()
    return 1 if any(r.status == "failed" for r in rows) else 0
