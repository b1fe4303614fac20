"""Conditions of a refresh that are not its outcome, each logged once per change.

A refresh can succeed while part of it did not: a listing stopped at a configured cap, or
the upstream refused one item (one recording's operations, one desktop's lookup or
monitoring call). :class:`RefreshConditions` collects those during one refresh and, at its
end, logs a warning for each condition that appeared and one line for each that cleared,
so a condition that lasts is one line, not one per refresh. It also says when every item
of the refresh failed: such a refresh is a failed refresh (``up`` 0), never a quiet one.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from exporter.errors import ClientRequestError, UpstreamError
from exporter.sources.base import failure_key

log = logging.getLogger(__name__)

# The API gateway's own 404: the API is not published here (a wrong host or path), which
# says nothing about the item asked for.
_GATEWAY_NO_API = frozenset({"APIGW.0101", "APIG.0101"})
_NOT_FOUND_TEXT = re.compile(r"not\s+(?:be\s+)?(?:exist|found)|does\s*n[o']t\s+exist|no\s+such", re.I)


def not_found(error: UpstreamError) -> bool:
    """True when an error answering a call about one item (a desktop, a recording) says the
    item does not exist.

    A 404 or 410 with any body, except the gateway's "API not published" (APIGW.0101: a
    wrong host or path, which would otherwise make every item look gone); a 400 whose
    Workspace error message says it does not exist (nothing documents which code a missing
    item gets, so the text decides).
    """
    if not isinstance(error, ClientRequestError):
        return False
    if error.status in (404, 410):
        return error.error_code not in _GATEWAY_NO_API
    return (
        error.status == 400
        and error.error_code.upper().startswith("WKS.")
        and bool(_NOT_FOUND_TEXT.search(error.error_msg))
    )


@dataclass
class _Failure:
    error: UpstreamError
    item: str
    count: int = 1


class RefreshConditions:
    """Truncations and item failures of one refresh (or pass) of ``source``; thread-safe."""

    def __init__(self, source: str, item: str) -> None:
        """``item`` names what one item is, for the log lines ("screen recording", ...)."""
        self.source = source
        self.item = item
        self._lock = threading.Lock()
        self._cuts: dict[tuple[str, str], str] = {}  # (api, key) -> detail, this refresh
        self._failures: dict[tuple[object, ...], _Failure] = {}
        self._attempted = 0
        self._succeeded = 0
        self._cut_before: frozenset[tuple[str, str]] = frozenset()
        self._failing_before: frozenset[tuple[object, ...]] = frozenset()

    def begin(self) -> None:
        """Start collecting for a new refresh."""
        with self._lock:
            self._cuts = {}
            self._failures = {}
            self._attempted = self._succeeded = 0

    def truncated(self, api: str, key: str, detail: str = "") -> None:
        """A listing of ``api`` stopped at the cap ``key`` (a config key) with more left."""
        with self._lock:
            self._cuts.setdefault((api, key), detail)

    def item_ok(self) -> None:
        with self._lock:
            self._attempted += 1
            self._succeeded += 1

    def item_failed(self, item_id: str, error: UpstreamError) -> None:
        """The upstream refused the item ``item_id``; the refresh goes on without it."""
        with self._lock:
            self._attempted += 1
            key = failure_key(error)
            found = self._failures.get(key)
            if found is None:
                self._failures[key] = _Failure(error, item_id)
            else:
                found.count += 1

    def end(self) -> UpstreamError | None:
        """Log what changed since the last refresh; return an error when items were tried and
        every one failed (the caller fails the refresh with it), else None."""
        with self._lock:
            cuts, failures = dict(self._cuts), dict(self._failures)
            all_failed = self._attempted > 0 and self._succeeded == 0
            cut_before, failing_before = self._cut_before, self._failing_before
            self._cut_before = frozenset(cuts)
            self._failing_before = frozenset(failures)
        for api, key in sorted(set(cuts) - cut_before):
            log.warning(
                "listing stopped at a cap, exporting what was read; raise the key to read all "
                "source=%s api=%s key=%s read=%s",
                self.source,
                api,
                key,
                cuts[(api, key)] or "-",
            )
        for api, key in sorted(cut_before - set(cuts)):
            log.info("listing fits its cap again source=%s api=%s key=%s", self.source, api, key)
        for kind in sorted(failing_before - set(failures), key=str):
            was = " ".join(str(part) for part in kind if part not in ("", 0))
            log.info("upstream answers again source=%s what=%s was=%s", self.source, self.item, was)
        for kind in sorted(set(failures) - failing_before, key=str):
            f = failures[kind]
            log.warning(
                "upstream refused some items, skipping them this refresh source=%s what=%s items=%d "
                "first=%s error=%s",
                self.source,
                self.item,
                f.count,
                f.item,
                f.error,
            )
        if all_failed and failures:
            return max(failures.values(), key=lambda f: f.count).error
        return None
