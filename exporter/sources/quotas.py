"""Quotas: how much of each Workspace quota the project (and each of its sites) uses.

One call, ``GET /v2/{project_id}/quotas``: ``quotas.resources`` (the project's, exported with
``site_id=""``) and ``site_quotas[].resources`` (each site but the central one). A resource
is its ``type`` as the upstream spells it (``Cores`` and ``cores`` are different quotas).

A negative ``quota`` is read as "no limit", as in other Huawei Cloud services (the Workspace
reference does not say): its limit series is absent, so no ratio can alert on it. ``site_id``
is a string in the SDK and a number in the reference's example: both are read as text.
At most :data:`MAX_SITES` sites and :data:`MAX_RESOURCES` resources each are exported; the
rest is counted as invalid and logged once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exporter.config.settings import QuotasConfig
from exporter.sources.base import next_version
from exporter.sources.fleet_common import FleetSource, count
from exporter.sources.labels import bounded_text

API = "quotas"
MAX_SITES = 20
MAX_RESOURCES = 50


@dataclass(frozen=True)
class Quota:
    resource: str
    site_id: str  # "" for the project's own quota
    limit: int | None  # None: no limit (negative) or not a number
    used: int | None


@dataclass(frozen=True)
class QuotasSnapshot:
    quotas: tuple[Quota, ...]
    version: int = field(default_factory=next_version, compare=False)


def _limit(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return None  # unlimited
    return count(value)


def _site_id(value: object) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return bounded_text(value, 64) if isinstance(value, str) else ""


class QuotasSource(FleetSource[QuotasConfig]):
    """Keeps the latest :class:`QuotasSnapshot`; a failed refresh keeps the old one."""

    name = "quotas"
    apis: tuple[str, ...] = (API,)
    snapshot: QuotasSnapshot | None = None

    def refresh(self) -> None:
        if not self.config.enabled:
            return
        with self._lock:
            self.notes.begin()
            body = self._client.request(API)
            found: dict[tuple[str, str], Quota] = {}
            project = body.get("quotas")
            self._resources("", project.get("resources") if isinstance(project, dict) else None, found)
            sites = body.get("site_quotas")
            sites = sites if isinstance(sites, list) else []
            for i, site in enumerate(sites):
                site_id = _site_id(site.get("site_id")) if isinstance(site, dict) else ""
                if not site_id:
                    self._sink.invalid_response(API)
                elif i >= MAX_SITES:
                    self.notes.note("too many sites", f"{len(sites)} sites, {MAX_SITES} exported")
                else:
                    self._resources(site_id, site.get("resources"), found)
            self.notes.end()
            fresh = QuotasSnapshot(tuple(sorted(found.values(), key=lambda q: (q.site_id, q.resource))))
            if fresh != self.snapshot:
                self.snapshot = fresh

    def _resources(self, site_id: str, items: Any, found: dict[tuple[str, str], Quota]) -> None:
        if not isinstance(items, list):
            if items is not None:
                self._sink.invalid_response(API)
            return
        kept = 0
        for raw in items:
            resource = bounded_text(raw.get("type"), 64) if isinstance(raw, dict) else ""
            if not resource or (resource, site_id) in found:
                self._sink.invalid_response(API)
                continue
            if kept >= MAX_RESOURCES:
                self.notes.note("too many quota resources", f"site {site_id or '(project)'}")
                continue
            kept += 1
            found[(resource, site_id)] = Quota(
                resource, site_id, _limit(raw.get("quota")), count(raw.get("used"))
            )
