"""Answer bodies as JSON, bounded: :func:`loads_bounded` refuses documents nested too deep
(never a ``RecursionError``), :func:`parse_json_object` turns a body that is not a JSON
object into an :class:`~exporter.errors.InvalidResponseError` naming why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from exporter.errors import InvalidResponseError

# JSON deeper than this is not a Huawei Cloud answer (the deepest documented shape nests
# about 6 levels); refusing it keeps every later walk over the document shallow.
MAX_JSON_DEPTH = 32
# Sees every object of a document as it is decoded (``json.loads``' ``object_pairs_hook``).
ObjectHook = Callable[[list[tuple[str, Any]]], Any]


def loads_bounded(
    content: bytes | str, max_depth: int = MAX_JSON_DEPTH, object_pairs_hook: ObjectHook | None = None
) -> object:
    """``json.loads`` that refuses documents nested deeper than ``max_depth``.

    ``object_pairs_hook`` (as for ``json.loads``) sees every object as it is decoded,
    innermost first, so a caller can drop what it does not need before the next one is
    built. Raises ``ValueError`` (never ``RecursionError``) for invalid or too-deep JSON.
    """
    try:
        doc: object = json.loads(content, object_pairs_hook=object_pairs_hook)
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"JSON nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return doc


def parse_json_object(
    api: str, content: bytes, status: int, host: str, object_pairs_hook: ObjectHook | None = None
) -> dict[str, Any]:
    """A JSON object body, or InvalidResponseError naming why not."""
    try:
        doc = loads_bounded(content, object_pairs_hook=object_pairs_hook)
    except ValueError as e:
        cause = str(e) if "nested" in str(e) else "body is not JSON"
        raise InvalidResponseError(api, status, host=host, cause=cause) from None
    if not isinstance(doc, dict):
        raise InvalidResponseError(api, status, host=host, cause="body is not a JSON object")
    return doc
