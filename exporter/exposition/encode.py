"""Our exposition encoder: the text format (0.0.4, and 1.0.0) and OpenMetrics 1.0.0.

It writes every family kind the exporter emits (gauge, counter, histogram, info) exactly as
prometheus_client's encoders would (the tests hold it to them, byte for byte, on random
families in both formats): HELP and TYPE lines (and UNIT in OpenMetrics), ``_total`` on
counter samples and ``_info`` on info samples, label sets sorted by name with escaped values,
Go-style float text, and OpenMetrics' closing ``# EOF`` (:data:`EOF`, added once per body by
the caller). It writes no ``_created`` series (a library default must not double the
self-metric series), no timestamps and no exemplars.

:func:`negotiate` picks the format from an ``Accept`` header as prometheus_client's
``choose_encoder`` does: the first acceptable media range wins, q-values are ignored,
``application/openmetrics-text`` without a version or with version 1.0.0 or later gets
OpenMetrics, ``text/plain`` with version 1.0.0 or later the text format 1.0.0, and anything
else the text format 0.0.4. Two answers differ from prometheus_client's, both to say only
what the body is: a version above 1.0.0 is answered as 1.0.0 (the body is OpenMetrics 1.0),
and ``escaping=dots`` as ``escaping=underscores`` (every name the exporter writes is a
legacy name, which needs no escaping; dots would double each underscore). Every escaping
scheme therefore yields the same bytes, so a render is cached per :class:`Format` kind, not
per content type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import Metric

from exporter.exposition.text import escaped, sample_value

Kind = Literal["text", "openmetrics"]
TEXT: Kind = "text"
OPENMETRICS: Kind = "openmetrics"
EOF = b"# EOF\n"

_TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
_TEXT_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"
_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_ESCAPINGS = {"allow-utf-8": "allow-utf-8", "underscores": "underscores", "values": "values"}
_MAX_RANGES = 32  # media ranges of one Accept header looked at; real clients send a handful


@dataclass(frozen=True)
class Format:
    """A negotiated format: which body (``kind``) and the Content-Type to send with it."""

    kind: Kind
    content_type: str

    @property
    def eof(self) -> bytes:
        """What ends a body in this format (``# EOF`` in OpenMetrics, nothing in text)."""
        return EOF if self.kind == OPENMETRICS else b""


TEXT_FORMAT = Format(TEXT, _TEXT_0_0_4)
OPENMETRICS_FORMAT = Format(OPENMETRICS, _OPENMETRICS)


def _param(tokens: list[str], key: str) -> str:
    for token in tokens:
        name, sep, value = token.strip().partition("=")
        if sep and name == key:
            return value
    return ""


def _at_least_1(version: str) -> bool:
    """``version`` is dotted numbers at or above 1.0.0 (anything else is not)."""
    parts = version.split(".")
    if len(parts) > 8 or not all(p.isdigit() and len(p) <= 9 for p in parts):
        return False
    return tuple(int(p) for p in parts) >= (1, 0, 0)


def negotiate(accept: str) -> Format:
    """The format for an ``Accept`` header (see the module docstring); never raises."""
    for media_range in accept.split(",", _MAX_RANGES)[:_MAX_RANGES]:
        tokens = media_range.split(";")
        mime = tokens[0].strip()
        if mime not in ("application/openmetrics-text", "text/plain"):
            continue
        version = _param(tokens, "version")
        escaping = _ESCAPINGS.get(_param(tokens, "escaping"), "underscores")
        if mime == "application/openmetrics-text":
            if not version:
                return OPENMETRICS_FORMAT
            if _at_least_1(version):
                return Format(OPENMETRICS, f"{_OPENMETRICS}; escaping={escaping}")
        elif _at_least_1(version):
            return Format(TEXT, f"{_TEXT_1_0_0}; escaping={escaping}")
    return TEXT_FORMAT


def _help_text(text: str, kind: Kind) -> str:
    out = text.replace("\\", r"\\").replace("\n", r"\n")
    return out.replace('"', r"\"") if kind == OPENMETRICS else out


def header(name: str, mtype: str, documentation: str, kind: Kind, unit: str = "") -> str:
    """The HELP and TYPE lines (and UNIT in OpenMetrics) of family ``name`` of type ``mtype``."""
    if kind == OPENMETRICS:
        lines = f"# HELP {name} {_help_text(documentation, kind)}\n# TYPE {name} {mtype}\n"
        return lines + f"# UNIT {name} {unit}\n" if unit else lines
    # The text format has no counter or info type: a counter is named after its samples
    # (``_total``), an info family is a gauge of ``_info`` samples.
    if mtype == "counter":
        name += "_total"
    elif mtype == "info":
        name, mtype = name + "_info", "gauge"
    elif mtype != "gauge" and mtype != "histogram":
        raise ValueError(f"family {name}: type {mtype} is not one the exporter writes")
    return f"# HELP {name} {_help_text(documentation, kind)}\n# TYPE {name} {mtype}\n"


def label_text(labels: Mapping[str, str]) -> str:
    """``{a="x",b="y"}``: names sorted, values escaped; "" for no labels."""
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escaped(v)}"' for k, v in sorted(labels.items())) + "}"


def encode_family(metric: Metric, kind: Kind) -> bytes:
    """One family in format ``kind`` (without OpenMetrics' closing ``# EOF``)."""
    if metric.type not in ("gauge", "counter", "histogram", "info"):
        raise ValueError(f"family {metric.name}: type {metric.type} is not one the exporter writes")
    out = [header(metric.name, metric.type, metric.documentation, kind, metric.unit)]
    created = metric.name + "_created"
    for s in metric.samples:
        if s.name == created:
            continue
        if s.timestamp is not None or s.exemplar is not None or s.native_histogram is not None:
            raise ValueError(f"family {metric.name}: timestamps and exemplars are not written")
        out.append(f"{s.name}{label_text(s.labels)} {sample_value(s.value)}\n")
    return "".join(out).encode("utf-8")


def sample_names(name: str, mtype: str) -> tuple[str, ...]:
    """The names the samples of family ``name`` carry (what ``name[]`` may name besides it)."""
    if mtype == "counter":
        return (name + "_total",)
    if mtype == "info":
        return (name + "_info",)
    if mtype == "histogram":
        return (name + "_bucket", name + "_count", name + "_sum")
    return (name,)
