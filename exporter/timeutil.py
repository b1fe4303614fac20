"""Parsing and formatting the many time shapes Huawei Cloud APIs use."""

from __future__ import annotations

import math
from datetime import UTC, datetime

# 2001-09-09 in seconds; below this a number is not a plausible epoch timestamp.
_MIN_EPOCH_SECONDS = 1_000_000_000
# 2100-01-01: later is a placeholder (year 9999) or garbage, never a real event.
_MAX_EPOCH_SECONDS = 4_102_444_800
#: How far past "now" a timestamp may be and still count as plausible (clock skew).
FUTURE_SKEW = 86400.0


def finite_number(value: object, *, text: bool = True) -> float | None:
    """A finite int/float, or (when ``text``) a string holding one, as float; None otherwise
    (booleans too, and ints too large for a float); -0.0 comes back as 0.0. ``text=False`` is
    for fields the API documents as JSON numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and text:
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:  # an int past float's range (a 400-digit number) is not a usable value either
        number = float(value)
    except OverflowError:
        return None
    # + 0.0 turns -0.0 into 0.0: one value, one text. Snapshots compare -0.0 equal to 0.0, so
    # a desktop whose value flipped between them would keep the other one's cached text.
    return number + 0.0 if math.isfinite(number) else None


def epoch_seconds(value: object) -> float | None:
    """Normalise an epoch timestamp given in seconds, milliseconds or microseconds.

    Returns None for anything that is not a plausible timestamp (booleans, NaN,
    negative numbers, values before 2001 or from 2100 on). The unit is detected from magnitude:
    seconds are 10 digits today, milliseconds 13, microseconds 16.
    """
    seconds = finite_number(value)
    if seconds is None or seconds <= 0:
        return None
    if seconds >= 1e17:
        return None
    if seconds >= 1e14:
        seconds /= 1e6
    elif seconds >= 1e11:
        seconds /= 1e3
    return seconds if _MIN_EPOCH_SECONDS <= seconds < _MAX_EPOCH_SECONDS else None


def parse_time(value: object) -> float | None:
    """Epoch seconds from an ISO 8601 string (``Z``, offsets, fractions, or a space
    instead of ``T``; minute precision allowed) or an epoch number. None if unparseable
    or outside 2001..2100 (year 9999 placeholders, negative or year-1 times)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_seconds(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return epoch_seconds(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        ts = dt.timestamp()
    except (OverflowError, ValueError):  # out of datetime's range once the offset is applied
        return None
    return ts if _MIN_EPOCH_SECONDS <= ts < _MAX_EPOCH_SECONDS else None


def plausible_time(value: object, now: float) -> float | None:
    """:func:`parse_time`, and no later than ``now`` plus :data:`FUTURE_SKEW`; else None."""
    ts = parse_time(value)
    return ts if ts is not None and ts <= now + FUTURE_SKEW else None


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def fmt_seconds(ts: float) -> str:
    """``2021-05-11T11:45:42Z`` (desktop-monitor windows)."""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_minutes(ts: float) -> str:
    """``2016-08-20T21:11Z`` (connection and login-record windows)."""
    return utc(ts).strftime("%Y-%m-%dT%H:%MZ")


def fmt_space(ts: float) -> str:
    """``2024-10-15 11:04:41`` (screen-record windows: a space, no T or Z)."""
    return utc(ts).strftime("%Y-%m-%d %H:%M:%S")
