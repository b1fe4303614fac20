"""Garbage bodies for the fake: what ``state.garbage(api, kind=...)`` turns a successful
answer into, so tests see the malformed answers a real upstream (or a proxy) may send."""

from __future__ import annotations

import json
from typing import Any

GARBAGE_KINDS: tuple[str, ...] = ("notjson", "wrongshape", "badvalues", "wrongtotal")
WRONG_TOTAL_EXTRA = 7  # a "wrongtotal" body claims this many items more than exist

# "NaN" is a string on purpose: float("NaN") parses it, and a NaN literal would make the whole
# body unparseable for strict JSON decoders (simplejson, which requests prefers when installed).
_BAD_VALUES: tuple[Any, ...] = ("n/a", "NaN", None, "12.5%", "Infinity")
_BAD_KEYS = frozenset({"average", "value", "network_rtt", "e2e_rtt", "relative_start_time", "duration"})


def _badvalues(node: Any, counter: list[int]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _BAD_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = _BAD_VALUES[counter[0] % len(_BAD_VALUES)]
                counter[0] += 1
            else:
                out[key] = _badvalues(value, counter)
        return out
    if isinstance(node, list):
        return [_badvalues(item, counter) for item in node]
    return node


def corrupt(kind: str, body: bytes, content_type: str) -> bytes:
    """Malformed variants of a successful body.

    * ``notjson``: a truncated, invalid JSON document (for byte downloads: a broken archive);
    * ``wrongshape``: valid JSON with every top-level list removed (``{"unexpected": ...}`` when
      there is none);
    * ``badvalues``: numeric values (average, value, rtt, ...) replaced in turn by ``"n/a"``,
      ``"NaN"``, ``null``, ``"12.5%"`` and ``"Infinity"`` (still valid JSON);
    * ``wrongtotal``: ``total_count`` claims :data:`WRONG_TOTAL_EXTRA` items more than exist.
    """
    if not content_type.startswith("application/json"):
        return b"PK\x03\x04 this is not a complete archive" if kind == "notjson" else b"\x00garbage\xff"
    if kind == "notjson":
        return body[: max(1, len(body) // 2)] + b"<html>502 Bad Gateway"
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if kind == "wrongtotal":
        if isinstance(doc, dict) and isinstance(doc.get("total_count"), int):
            doc["total_count"] += WRONG_TOTAL_EXTRA
        return json.dumps(doc).encode()
    if kind == "wrongshape":
        if isinstance(doc, dict):
            stripped = {k: v for k, v in doc.items() if not isinstance(v, list)}
            if stripped != doc:
                return json.dumps(stripped).encode()
        return json.dumps({"unexpected": "shape"}).encode()
    return json.dumps(_badvalues(doc, [0])).encode()
