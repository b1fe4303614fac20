"""What a pass of Cloud Eye batch queries needs on either path (:mod:`.v2`, :mod:`.v1`).

The metrics it reads and their units, what one pass asks about (:class:`Query`), how a
datapoint names its desktop, what a refused query means, and when a pass gives up
(:class:`Streak`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import AuthError, ClientRequestError, UpstreamError
from exporter.sources.base import is_systemic
from exporter.sources.inventory import InventorySnapshot
from exporter.sources.monitoring import FIELDS

API = "ces_batch_v2"
API_V1 = "ces_batch_v1"
FUTURE_SLACK_S = 3600.0  # datapoints further ahead of our clock than this are garbage
GIVE_UP_AFTER = 3  # consecutive systemic failures that end a refresh (the upstream is down)

# Cloud Eye metric name -> (metric key, divisor to base units), derived from the workspace
# source's table so both sources expose the same families in the same order.
_CES_NAMES = {"cpu_info": "cpu_util", "memory_info": "mem_util"}
METRICS: dict[str, tuple[str, float]] = {_CES_NAMES.get(k, k): v for k, v in FIELDS.items()}


@dataclass(frozen=True)
class Query:
    """One pass: the namespace and dimension asked, the inventory the answers are matched
    to, our clock when the pass began (epoch seconds) and the end of its window (epoch ms)."""

    namespace: str
    dimension: str
    inventory: InventorySnapshot
    now: float
    to_ms: int


def desktop_of(point: Mapping[str, Any], dimension: str, known: Mapping[str, object]) -> str | None:
    """The desktop id a datapoint (or v1 answer entry) names in ``dimension``, if it is in ``known``."""
    dims = point.get("dimensions")
    if not isinstance(dims, list):
        return None
    for d in dims:
        if isinstance(d, dict) and d.get("name") == dimension:
            for key in ("value", "origin_value"):
                value = d.get(key)
                if isinstance(value, str) and value in known:
                    return value
    return None


def lacks_api(error: UpstreamError) -> bool:
    """True for the answers of a region that does not offer an API: 404 (not published,
    APIGW.0101) or a 400 rejecting the call itself."""
    return isinstance(error, ClientRequestError) and error.status in (400, 404)


def denied(error: UpstreamError) -> bool:
    """A batch query Cloud Eye will not answer: forbidden (the IAM action is missing), or
    the v1 query not found (no Cloud Eye batch query in this region at all)."""
    if error.api not in (API, API_V1):
        return False
    if isinstance(error, AuthError):
        return error.status == 403
    return error.api == API_V1 and error.status == 404


class Streak:
    """Consecutive systemic failures within one refresh: past ``GIVE_UP_AFTER`` the
    upstream is taken to be down and the rest of the refresh is skipped, on either path."""

    def __init__(self) -> None:
        self._n = 0

    @property
    def given_up(self) -> bool:
        return self._n >= GIVE_UP_AFTER

    def failed(self, error: UpstreamError) -> None:
        self._n = self._n + 1 if is_systemic(error) else 0

    def ok(self) -> None:
        self._n = 0
