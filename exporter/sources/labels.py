"""Bounded label values: the one cap every source uses to keep series counts finite, and
the length cap and cleaning every label value from upstream goes through."""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import TypeVar

OTHER = "other"  # the value every label (or label set) past its cap folds into

_H = TypeVar("_H", bound=Hashable)


def admit(value: _H, seen: set[_H], limit: int) -> bool:
    """True if ``value`` is in ``seen`` or fits (then it is added); False once ``limit`` is reached."""
    if value in seen:
        return True
    if len(seen) < limit:
        seen.add(value)
        return True
    return False


# Label values that come from upstream are capped: ids at MAX_ID_LEN characters, names and
# other free text at MAX_NAME_LEN (a 10 kB name would otherwise be repeated in every
# scrape). A cut value ends in TRUNCATED, so it is visibly not the upstream's full value.
MAX_ID_LEN = 128
MAX_NAME_LEN = 256
TRUNCATED = "…"
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` with every lone surrogate (valid in JSON, unencodable in UTF-8) as U+FFFD:
    the one cleaner of label values, where they are parsed and again where they are written."""
    if value.isascii():  # nearly every label value: ids, enums, most names
        return value
    return _SURROGATES.sub("\ufffd", value)


def bounded_text(value: object, cap: int = MAX_NAME_LEN) -> str:
    """A label value from upstream: text (numbers as text, None as ""), surrogates replaced,
    surrounding whitespace stripped, at most ``cap`` characters (cut ones end in TRUNCATED)."""
    if value is None or isinstance(value, dict | list):
        return ""
    text = clean_text(value if isinstance(value, str) else str(value)).strip()
    return text if len(text) <= cap else text[: cap - len(TRUNCATED)] + TRUNCATED


def bounded_id(value: object) -> str:
    """An upstream id as a label value: :func:`bounded_text` at :data:`MAX_ID_LEN`; "" if not text."""
    return bounded_text(value, MAX_ID_LEN) if isinstance(value, str) else ""
