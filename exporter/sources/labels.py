"""Bounded label values: the one cap every source uses to keep series counts finite."""

from __future__ import annotations

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
