"""Every desktop of a project at once, through the real client: for tests and benchmarks that
want the whole list (the inventory source streams the pages instead)."""

from __future__ import annotations

from typing import Any

from exporter.upstream.client import WorkspaceClient


def list_desktops(client: WorkspaceClient) -> list[dict[str, Any]]:
    """Every desktop of the project (``/desktops/detail``), de-duplicated by id across pages;
    an item without an id is counted as invalid and skipped."""
    seen: dict[str, dict[str, Any]] = {}
    for item in client.paginate("desktops_detail", "desktops"):
        did = item.get("desktop_id")
        if isinstance(did, str) and did:
            seen[did] = item
        else:
            client.invalid_item("desktops_detail")
    return list(seen.values())
