"""A wrapper that keeps secrets out of logs, reprs and exceptions, and the scrubber.

Every :class:`Secret` value (and every value passed to :func:`register`) is
remembered in a small bounded registry so that :func:`scrub` can blank it out of
any text about to be logged or raised, in each form an upstream echo or an
exception message can carry it: raw, JSON-escaped, URL-escaped (``%XX`` and ``+``
for spaces), ``repr``-escaped (as in ``b'...'`` from a header error) and base64.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from urllib.parse import quote, quote_plus

MASK = "***"
# Values shorter than this are not scrubbed: blanking "a" or "1" everywhere would mangle
# every log line, and a secret that short is rejected at start-up anyway.
_MIN_SCRUB_LENGTH = 4
# Bounded so that token refreshes over months cannot grow memory; far above the number of
# live secrets (a few per target, one token per refresh).
_MAX_REGISTERED = 512

_lock = threading.Lock()
_forms: OrderedDict[str, tuple[str, ...]] = OrderedDict()
_all_forms: tuple[str, ...] = ()


def _variants(value: str) -> tuple[str, ...]:
    out = {value}
    stripped = value.strip()
    if stripped:
        out.add(stripped)
    for v in list(out):
        out.add(json.dumps(v)[1:-1])
        out.add(json.dumps(v, ensure_ascii=False)[1:-1])
        out.add(quote(v, safe=""))
        out.add(quote_plus(v, safe=""))
        out.add(repr(v)[1:-1])
        out.add(repr(v.encode("utf-8", "surrogatepass"))[2:-1])
        try:
            raw = v.encode("utf-8")
        except UnicodeEncodeError:
            continue
        b64 = base64.b64encode(raw).decode()
        out.add(b64)
        out.add(b64.rstrip("="))
        out.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    # Longest first, so a form that contains another is replaced whole.
    return tuple(sorted((f for f in out if len(f) >= _MIN_SCRUB_LENGTH), key=len, reverse=True))


def register(value: str) -> None:
    """Remember ``value`` as a secret that :func:`scrub` must blank out."""
    global _all_forms
    if len(value.strip()) < _MIN_SCRUB_LENGTH:
        return
    with _lock:
        if value in _forms:
            _forms.move_to_end(value)
            return
        _forms[value] = _variants(value)
        while len(_forms) > _MAX_REGISTERED:
            _forms.popitem(last=False)
        _all_forms = tuple(sorted({f for fs in _forms.values() for f in fs}, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with every known secret, in every encoded form, replaced by ``***``."""
    forms = _all_forms
    if not forms or not text:
        return text
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


class Secret:
    """Holds a secret string; ``str`` and ``repr`` print ``'***'``.

    Call :meth:`reveal` at the one place the plain value is needed (signing a
    request, building an IAM token body).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")
