"""Families of the quotas (:mod:`exporter.sources.quotas`), rendered by :mod:`exporter.exposition.quotas`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_UNIT = "in the resource's own unit: a count, or GB for Memory and volume_gigabytes"
_EVERY = "cached, refreshed every quotas.interval"

QUOTA_LIMIT = Family(
    "quota_limit",
    "gauge",
    f"Workspace quota of the resource, {_UNIT}; site_id is empty for the project's own quota; absent "
    f"when the quota is unlimited (negative) ({_EVERY}).",
    ("resource", "site_id"),
    "quotas",
)
QUOTA_USED = Family(
    "quota_used",
    "gauge",
    f"Quota of the resource in use, {_UNIT} ({_EVERY}).",
    ("resource", "site_id"),
    "quotas",
)
QUOTA_FAMILIES: tuple[Family, ...] = (QUOTA_LIMIT, QUOTA_USED)
