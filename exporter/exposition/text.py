"""Label and sample-value text exactly as prometheus_client's encoders write it.

Used by our encoder (:mod:`exporter.exposition.encode`) and the per-desktop renderer
(:mod:`exporter.exposition.desktop_lines`), which formats hundreds of thousands of samples per render:
label sets prepared once per label name set (:class:`LabelTemplate`), escaped values
(:func:`escaped`), Go-style float text (:func:`go_float`) and sample values with the recurring
large ones cached (:func:`sample_value`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence


def go_float(value: float) -> str:
    """``value`` as Prometheus clients write sample values: Go's shortest text, as
    prometheus_client writes it ("1.0" for one, "+Inf", "-Inf", "NaN"; a positive value of a
    million or more in exponent form, "1.5e+06", where Python would write "1500000.0")."""
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(v)
    point = text.find(".")
    if v <= 0 or point <= 6:  # small, negative or already in exponent form: Python agrees
        return text
    digits = (text[:point] + text[point + 1 :]).rstrip("0")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}e+{point - 1:02d}"


def escape_value(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class LabelTemplate:
    """A label set as prometheus_client writes it (``{a="x",b="y"}``, names sorted, "" for
    none) for one label name set: ``extra`` (fixed) plus ``names``, whose values are given
    per call in that order. The sorting, the fixed labels and the escaping check are done
    once; a call is one ``%`` formatting (or a per-value escape when one of the values
    needs it). As with ``{**extra, **dict(zip(names, values))}``, a name in ``names`` wins
    over ``extra`` and a repeated name takes its last value."""

    def __init__(self, extra: Mapping[str, str], names: Sequence[str]) -> None:
        last = {name: i for i, name in enumerate(names)}
        pieces: list[str] = []
        order: list[int] = []
        for name in sorted({*extra, *last}):
            if name in last:
                pieces.append(name.replace("%", "%%") + '="%s"')
                order.append(last[name])
            else:
                pieces.append(f'{name}="{escaped(extra[name])}"'.replace("%", "%%"))
        self._format = "{" + ",".join(pieces) + "}" if pieces else ""
        # The ``%`` format itself: one ``%s`` per name in sorted order (for escaped values).
        self.pattern = self._format
        # itemgetter of one index returns the item, not a 1-tuple: always pick one more and cut.
        self._n = len(order)
        self._pick = operator.itemgetter(*order, 0)
        self._width = len(names)

    def __call__(self, values: Sequence[str]) -> str:
        if len(values) != self._width:
            raise ValueError(f"{len(values)} label values for {self._width} label names")
        if not self._n:
            return self._format % ()
        picked: tuple[str, ...] = self._pick(values)[: self._n]
        joined = "".join(picked)
        if "\\" in joined or "\n" in joined or '"' in joined:
            picked = tuple(escaped(v) for v in picked)
        return self._format % picked


def escaped(v: str) -> str:
    return escape_value(v) if "\\" in v or "\n" in v or '"' in v else v


# Texts of large values (epoch timestamps, byte rates): the same timestamps recur across
# desktops, and Go's exponent form costs several string operations to build.
_LARGE: dict[float, str] = {}
_LARGE_MAX = 4096


def sample_value(value: float) -> str:
    """:func:`go_float`, with the texts of recurring large values cached."""
    if value.__class__ is float:
        if -1e6 < value < 1e6:
            return repr(value)  # Go and Python agree below 1e6 (and on "-0.0")
        if not value >= 1e6:  # NaN, -Inf and large negative values: rare, and NaN is no dict key
            return go_float(value)
        hit = _LARGE.get(value)
        if hit is None:
            hit = go_float(value)
            if len(_LARGE) >= _LARGE_MAX:
                _LARGE.clear()
            _LARGE[value] = hit
        return hit
    return go_float(value)
