"""Connection records, one at a time: minute windows, dedupe keys, bounded labels, histograms.

Pure helpers and small value types of the connections source (the polling windows are
:mod:`exporter.sources.connections`', the dedupe set and the counters
:mod:`exporter.sources.connection_counts`').

Labels are bounded: ``reason_code`` is the numeric code before the colon; a reason without
one (the v2 API may send plain text) is looked up in :data:`KNOWN_REASONS`, a small fixed
table of documented texts, else ``unknown`` (the text itself never becomes a label: it may
be localised or name a user); at most :data:`MAX_REASON_CODES` codes. Extra labels are opt-in, trimmed to
:data:`MAX_LABEL_VALUE` characters and capped at ``max_label_sets`` (more collapse into
:data:`~exporter.sources.labels.OTHER`) by :func:`~exporter.sources.labels.admit`.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.sources.labels import bounded_text
from exporter.timeutil import finite_number

# Remote-desktop latency: LAN ~5 ms, good WAN < 50 ms, usable < 150 ms, poor beyond 300 ms.
RTT_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)
# Start -> setup of a desktop session: a few seconds normally, minutes when a desktop boots.
SETUP_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)
MAX_REASON_CODES = 100
MAX_LABEL_VALUE = 128
_CODE_RE = re.compile(r"^\d{1,12}$")
_MAX_CODE = 10**12  # a numeric reason past 12 digits is garbage, not a code
_NOT_WORD = re.compile(r"[\W_]+")
#: Failure texts without a numeric prefix whose code is documented, normalised by
#: :func:`normalise_reason` (lower case, words joined by single spaces). v1.0 documents
#: ``400200:The desktop is being prepared.``; v2 may drop the prefix.
KNOWN_REASONS: dict[str, str] = {
    "the desktop is being prepared": "400200",
    "desktop is being prepared": "400200",
}
# Fields that identify one attempt and do not change when it completes (for records
# without a transaction_id, e.g. every v1.0 login record).
_ID_FIELDS: tuple[str, ...] = ("user_name", "computer_name", "desktop_id", "sid", "desktop_ip")
_ID_FIELDS += ("terminal_mac", "terminal_name", "terminal_ip", "terminal_type")


def floor_minute(ts: float) -> float:
    return math.floor(ts / 60.0) * 60.0


def ceil_minute(ts: float) -> float:
    return math.ceil(ts / 60.0) * 60.0


def record_key(raw: Mapping[str, Any], start: float | None) -> str:
    """``t:<transaction_id>``, else ``h:<hash of the identifying fields and start time>``."""
    tid = raw.get("transaction_id")
    if isinstance(tid, str) and tid.strip():
        return "t:" + tid.strip()
    if start is None:  # garbage: only the whole record identifies it
        ident = json.dumps(raw, sort_keys=True, default=str)
    else:
        ident = json.dumps([start, *("" if raw.get(f) is None else str(raw.get(f)) for f in _ID_FIELDS)])
    return "h:" + hashlib.sha256(ident.encode()).hexdigest()[:32]


def is_failure(reason: object) -> bool:
    return bool(reason.strip() if isinstance(reason, str) else reason)


def normalise_reason(text: str) -> str:
    """``" The desktop is being  PREPARED. "`` → ``"the desktop is being prepared"``."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def reason_code(reason: object) -> str | None:
    """``"400200:The desktop is being prepared."`` → ``"400200"``; a text without a numeric
    prefix → its :data:`KNOWN_REASONS` code, else ``"unknown"``; None when the value is
    not a string or a plausible number at all (garbage)."""
    if isinstance(reason, int) and not isinstance(reason, bool):
        return str(reason) if 0 <= reason < _MAX_CODE else None
    if not isinstance(reason, str):
        return None
    code = reason.split(":", 1)[0].strip()
    if _CODE_RE.match(code):
        return code
    return KNOWN_REASONS.get(normalise_reason(reason[:200]), "unknown")


def milliseconds(value: object) -> float | None:
    """A non-negative finite number of milliseconds (numeric strings allowed), else None."""
    ms = finite_number(value)
    return ms if ms is not None and ms >= 0 else None


def label_value(value: object) -> str:
    """An extra label's value: :func:`~exporter.sources.labels.bounded_text` at
    :data:`MAX_LABEL_VALUE` characters (stripped, surrogates replaced, cut ones end in ``…``)."""
    return bounded_text(value, MAX_LABEL_VALUE)


@dataclass(frozen=True)
class HistogramData:
    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # observations <= each bound
    sum: float
    count: int


class Histogram:
    """A mutable histogram with fixed bounds; :meth:`freeze` gives an immutable copy."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.bounds):
            self.counts[i] += 1
        self.sum += value
        self.count += 1

    def freeze(self) -> HistogramData:
        return HistogramData(self.bounds, tuple(itertools.accumulate(self.counts)), self.sum, self.count)
