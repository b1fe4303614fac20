"""Handlers of the fake IAM (tokens, projects) and Cloud Eye (SYS.Workspace metrics) endpoints.

Body shapes, counts, windows and page sizes are held to the constraint table before a
handler runs (:mod:`exporter.fake.strict`); the v1 batch query then moves ``from``
forward exactly as Cloud Eye documents (:func:`exporter.constraints.ces.v1_from`).
"""

from __future__ import annotations

from typing import Any

from exporter.constraints import default_limit
from exporter.constraints.ces_windows import V1_MAX_POINTS, v1_from
from exporter.fake.data import CES_METRICS, CES_NAMESPACE, CES_UNITS
from exporter.fake.proto import (
    CES_BAD_BODY,
    CES_BAD_URL,
    NOT_PUBLISHED,
    BadRequest,
    Request,
    Response,
    error_response,
    json_response,
    to_int,
)
from exporter.fake.state import FakeWorkspace

# ---------------------------------------------------------------------------- IAM


def _iam_error(status: int, message: str, title: str) -> Response:
    return json_response({"error": {"code": status, "message": message, "title": title}}, status)


def iam_tokens(state: FakeWorkspace, req: Request) -> Response:
    """POST /v3/auth/tokens with the password method, scoped to the fake's project."""
    doc = req.json()
    try:
        identity = doc["auth"]["identity"]
        methods = identity["methods"]
        user = identity["password"]["user"]
        name, password, domain = user["name"], user["password"], user["domain"]["name"]
        scope = doc["auth"].get("scope", {}).get("project", {})
    except (KeyError, TypeError, AttributeError):
        return _iam_error(400, "The request body is malformed.", "Bad Request")
    if not isinstance(methods, list) or "password" not in methods:
        return _iam_error(400, "Only the password method is supported by the fake.", "Bad Request")
    refused = state.login(str(name), str(password), str(domain))
    if refused:
        return _iam_error(401, refused, "Unauthorized")
    if not isinstance(scope, dict) or not (
        scope.get("id") == state.project_id or scope.get("name") == state.region
    ):
        return _iam_error(400, "The project in the scope does not exist.", "Bad Request")
    token, body = state.issue_token(state.project_id)
    if not req.get("nocatalog"):
        body["catalog"] = []
    return json_response({"token": body}, 201, {"X-Subject-Token": token})


def iam_projects(state: FakeWorkspace, req: Request) -> Response:
    """GET /v3/projects?name=<region>: the one fake project when the name matches."""
    project = {
        "id": state.project_id,
        "name": state.region,
        "domain_id": state.domain_id,
        "parent_id": state.domain_id,
        "is_domain": False,
        "enabled": True,
        "description": "",
    }
    name = req.get("name")
    projects = [project] if name in (None, state.region) else []
    return json_response({"projects": projects, "links": {"self": "/v3/projects", "next": None}})


# ---------------------------------------------------------------------------- Cloud Eye


def _body(req: Request) -> dict[str, Any]:
    doc = req.json()
    if not isinstance(doc, dict):
        raise BadRequest("Some content in message body is not correct", CES_BAD_BODY)
    return doc


def _window_ms(doc: dict[str, Any]) -> tuple[int, int]:
    start = to_int(doc.get("from"), "from", lo=0, code=CES_BAD_BODY)
    end = to_int(doc.get("to"), "to", lo=0, code=CES_BAD_BODY)
    return start, end


def ces_v2_gate(state: FakeWorkspace, req: Request) -> Response | None:
    """The answer of a region that lacks the v2 batch query (``ces_v2`` switch), given by the
    gateway before the request is looked at; None where the region has it."""
    if state.ces_v2 == "404":
        return error_response(404, "APIGW.0101", NOT_PUBLISHED)
    if state.ces_v2 == "400":
        return error_response(400, "APIGW.0201", "Request error: the API is not available in this region")
    return None


def ces_batch_v2(state: FakeWorkspace, req: Request) -> Response:
    """POST /v2/{project_id}/batch-query-metric-data: latest point of one metric for every desktop.

    Like the real response it carries no total: a client pages until a page comes back empty.
    The ``ces_v2`` switch makes the region lack it, as most regions do: ``404`` is what the
    gateway answers for an API it does not publish (APIGW.0101), ``400`` a rejection of it.
    """
    doc = _body(req)
    namespace, metric, dimension = doc.get("namespace"), doc.get("metric_name"), doc.get("metric_dimension")
    start, end = _window_ms(doc)
    limit = to_int(doc.get("limit", default_limit("ces_batch_v2")), "limit", code=CES_BAD_BODY)
    offset = to_int(doc.get("offset", 0), "offset", code=CES_BAD_BODY)
    latest: list[tuple[str, float, int]] = []
    if namespace == CES_NAMESPACE and dimension == state.ces_dimension and metric in CES_METRICS:
        latest = state.ces_latest(str(metric), start, end)
    chunk = [
        {
            "dimensions": [{"name": dimension, "value": desktop_id, "origin_value": desktop_id}],
            "timestamp": ts,
            "value": value,
            "unit": CES_UNITS[str(metric)],
        }
        for desktop_id, value, ts in latest[offset : offset + limit]
    ]
    return json_response(
        {
            "namespace": namespace,
            "metric_name": metric,
            "metric_dimension": dimension,
            "data_points": chunk,
        }
    )


def ces_batch_v1(state: FakeWorkspace, req: Request) -> Response:
    """POST /V1.0/{project_id}/batch-query-metric-data: series of up to 500 metrics.

    A window too long for the period or for 3,000 datapoints is answered from a later
    ``from``, as Cloud Eye documents; at most 3,000 datapoints come back in any case.
    """
    doc = _body(req)
    metrics = doc.get("metrics")
    if not isinstance(metrics, list):  # pragma: no cover - the constraint table refuses it
        raise BadRequest("metrics must be a list", CES_BAD_BODY)
    period, stat = str(doc.get("period", "")), str(doc.get("filter"))
    start, end = _window_ms(doc)
    start = v1_from(start, end, period, len(metrics))
    budget = V1_MAX_POINTS
    out = []
    for item in metrics:
        if not isinstance(item, dict) or not isinstance(item.get("dimensions"), list):
            raise BadRequest("Each metric needs namespace, metric_name and dimensions", CES_BAD_BODY)
        dims = [d for d in item["dimensions"] if isinstance(d, dict)]
        name = str(item.get("metric_name", ""))
        series: list[tuple[float, int]] = []
        if item.get("namespace") == CES_NAMESPACE:
            for d in dims:
                if d.get("name") == state.ces_dimension:
                    series = state.ces_series(name, str(d.get("value", "")), start, end)
        series = series[:budget]
        budget -= len(series)
        out.append(
            {
                "namespace": item.get("namespace"),
                "metric_name": name,
                "dimensions": dims,
                "unit": CES_UNITS.get(name, ""),
                "datapoints": [{stat: value, "timestamp": ts} for value, ts in series],
            }
        )
    return json_response({"metrics": out})


def ces_metrics(state: FakeWorkspace, req: Request) -> Response:
    """GET /V1.0/{project_id}/metrics: ListMetrics with ``start`` marker paging."""
    limit = to_int(req.get("limit") or default_limit("ces_metrics"), "limit", code=CES_BAD_URL)
    entries = state.ces_metric_list()
    if (ns := req.get("namespace")) is not None:
        entries = [e for e in entries if e["namespace"] == ns]
    if (name := req.get("metric_name")) is not None:
        entries = [e for e in entries if e["metric_name"] == name]
    if (dim := req.get("dim.0")) is not None:
        dname, _, dvalue = dim.partition(",")
        entries = [e for e in entries if e["dimensions"][0] == {"name": dname, "value": dvalue}]
    total = len(entries)
    if (marker := req.get("start")) is not None:
        position = next((i for i, e in enumerate(entries) if e["marker"] == marker), None)
        entries = entries[position + 1 :] if position is not None else []
    chunk = entries[:limit]
    last = chunk[-1]["marker"] if chunk else ""
    metrics = [{k: v for k, v in e.items() if k != "marker"} for e in chunk]
    return json_response(
        {"metrics": metrics, "meta_data": {"count": len(chunk), "total": total, "marker": last}}
    )
