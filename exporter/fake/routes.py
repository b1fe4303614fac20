"""The fake's route table: (method, path template) -> API name and handler.

The paths are written from the upstream facts (workspace-api.md), not copied from
:mod:`exporter.apis`; a unit test checks the two agree, so a typo on either side shows.
Every handler runs behind :func:`exporter.fake.strict.enforce`: a request that breaks a
row of the constraint table never reaches it, and a 400 the handler raises itself is
counted as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from exporter.fake import cloud, handlers, strict
from exporter.fake import fleet_handlers as fleet
from exporter.fake import identity_routes as identity
from exporter.fake.proto import BadRequest, Request, Response
from exporter.fake.state import FakeWorkspace

Handler = Callable[[FakeWorkspace, Request], Response]
Gate = Callable[[FakeWorkspace, Request], Response | None]


@dataclass(frozen=True)
class Route:
    api: str
    method: str
    template: str
    handler: Handler
    auth: bool = True  # needs a token or an AK/SK signature
    pattern: re.Pattern[str] = re.compile("")

    @property
    def project_scoped(self) -> bool:
        return "{project_id}" in self.template


def _strict(api: str, handler: Handler, gate: Gate | None) -> Handler:
    def serve(state: FakeWorkspace, req: Request) -> Response:
        closed = gate(state, req) if gate is not None else None
        if closed is not None:  # the gateway answers before the service looks at the request
            return closed
        refused = strict.enforce(state, api, req, state.now())
        if refused is not None:
            return refused
        try:
            return handler(state, req)
        except BadRequest as exc:
            strict.record_unlisted(state, api, req, exc.status, exc.code, exc.msg)
            raise

    return serve


def _route(
    api: str, method: str, template: str, handler: Handler, *, auth: bool = True, gate: Gate | None = None
) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(api, method, template, _strict(api, handler, gate), auth, re.compile(f"^{regex}$"))


ROUTES: tuple[Route, ...] = (
    _route("iam_tokens", "POST", "/v3/auth/tokens", cloud.iam_tokens, auth=False),
    _route("iam_projects", "GET", "/v3/projects", cloud.iam_projects),
    _route("desktops_detail", "GET", "/v2/{project_id}/desktops/detail", handlers.desktops_detail),
    _route("desktops_list", "GET", "/v2/{project_id}/desktops", handlers.desktops_list),
    # Before desktop_detail ("agents" is not a desktop id either).
    _route("agents_install", "GET", "/v2/{project_id}/desktops/agents", fleet.agents_install),
    # After desktops/detail: the first route that matches serves ("detail" is not an id).
    _route("desktop_detail", "GET", "/v2/{project_id}/desktops/{desktop_id}", handlers.desktop_detail),
    _route(
        "desktop_monitor", "GET", "/v2/{project_id}/desktop-monitor/{desktop_id}", handlers.desktop_monitor
    ),
    _route("connections", "GET", "/v2/{project_id}/connections/desktops", handlers.connections),
    _route("login_records", "GET", "/v1.0/{project_id}/desktop-users/login-records", handlers.login_records),
    _route(
        "connections_export",
        "GET",
        "/v2/{project_id}/connections/desktops/export",
        handlers.connections_export,
    ),
    _route(
        "connections_export_v3",
        "GET",
        "/v3/{project_id}/desktops/connections/export",
        handlers.connections_export_v3,
    ),
    _route("export_tasks", "GET", "/v2/{project_id}/export-tasks", handlers.export_tasks),
    _route(
        "export_download", "GET", "/v2/{project_id}/export-tasks/{task_id}/download", handlers.export_download
    ),
    _route("screen_records", "GET", "/v2/{project_id}/screen-records", handlers.screen_records),
    _route(
        "os_operations",
        "GET",
        "/v2/{project_id}/screen-records/{record_id}/os-operations",
        handlers.os_operations,
    ),
    _route("desktop_pools", "GET", "/v2/{project_id}/desktop-pools", fleet.desktop_pools),
    _route("desktops_statistics", "GET", "/v2/{project_id}/statistics", fleet.desktops_statistics),
    _route("quotas", "GET", "/v2/{project_id}/quotas", fleet.quotas),
    _route("scheduled_tasks", "GET", "/v2/{project_id}/scheduled-tasks", fleet.scheduled_tasks),
    _route(
        "scheduled_task_records",
        "GET",
        "/v2/{project_id}/scheduled-tasks/{task_id}/records",
        fleet.scheduled_task_records,
    ),
    _route("upgrade_tasks", "GET", "/v2/{project_id}/upgrade-tasks", fleet.upgrade_tasks),
    _route(
        "desktop_version_statistics",
        "GET",
        "/v2/{project_id}/desktops/statistics/by-version",
        fleet.desktop_version_statistics,
    ),
    _route("alarms", "GET", "/v2/{project_id}/alarms", fleet.alarms),
    _route("alarm_statistics", "GET", "/v2/{project_id}/statistics/alarms", fleet.alarm_statistics),
    _route("user_events", "GET", "/v2/{project_id}/user-events", fleet.user_events),
    _route("ces_metrics", "GET", "/V1.0/{project_id}/metrics", cloud.ces_metrics),
    _route("ces_batch_v1", "POST", "/V1.0/{project_id}/batch-query-metric-data", cloud.ces_batch_v1),
    _route(
        "ces_batch_v2",
        "POST",
        "/v2/{project_id}/batch-query-metric-data",
        cloud.ces_batch_v2,
        gate=cloud.ces_v2_gate,
    ),
    # Credential providers (they authenticate callers their own way).
    _route("metadata_token", "PUT", identity.METADATA_TOKEN_PATH, identity.metadata_token, auth=False),
    _route(
        "metadata_securitykey", "GET", identity.METADATA_KEY_PATH, identity.metadata_securitykey, auth=False
    ),
    _route("pod_identity", "POST", identity.POD_IDENTITY_PATH, identity.pod_identity, auth=False),
    _route("sts_oidc", "POST", identity.OIDC_PATH, identity.sts_oidc, auth=False),
    _route("iam_id_token", "POST", identity.IDP_TOKEN_PATH, identity.iam_id_token, auth=False),
    _route(
        "iam_securitytokens", "POST", identity.SECURITY_TOKENS_PATH, identity.iam_securitytokens, auth=False
    ),
)


#: APIs whose path takes another method upstream that has a side effect: there the fake
#: answers any method but GET with 405 and counts it as a broken constraint, so a client
#: sending one (POST on desktops/agents installs monitoring plug-ins) fails its test.
GET_ONLY: frozenset[str] = frozenset({"agents_install"})


def refused_method(method: str, raw_path: str) -> Route | None:
    """The GET-only route of ``raw_path`` when ``method`` is not GET, else None."""
    if method == "GET":
        return None
    return next((r for r in ROUTES if r.api in GET_ONLY and r.pattern.match(raw_path)), None)


def match(method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """The route serving ``method raw_path`` and its URL-decoded path parameters."""
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.pattern.match(raw_path)
        if found is not None:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    return None
