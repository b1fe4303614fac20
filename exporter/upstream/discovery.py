"""Project discovery: when the config names no project, its id is the one IAM project named
after the region (``GET /v3/projects?name=<region>``, AK/SK auth). Every failure says it came
from discovery, and how to skip it."""

from __future__ import annotations

from exporter.errors import ClientRequestError, UpstreamError
from exporter.upstream.paging import PageFetcher

API = "iam_projects"
DISCOVERY = "project discovery (set project_id to skip it)"


def discover_project_id(client: PageFetcher, region: str) -> str:
    """The id of the one project named ``region``; raises an UpstreamError naming discovery."""
    try:
        body = client.request(API, params={"name": region})
        projects = client.page_items(API, body, "projects", query_body=False)
    except UpstreamError as e:
        raise e.with_context(DISCOVERY) from None
    ids = [p.get("id") for p in projects if isinstance(p, dict) and p.get("name") == region]
    if len(ids) != 1 or not isinstance(ids[0], str):
        raise ClientRequestError(
            API,
            200,
            host=client.host(API),
            cause=f"expected one project named {region[:64]}, found {len(ids)}",
            context=DISCOVERY,
        )
    return ids[0]
