"""The hot path: exposition text for the per-desktop families, formatted incrementally.

prometheus_client spends a few microseconds per sample building Sample tuples and
formatting them, which is seconds per render at 10,000 desktops. Here the same samples
(from the row functions in :mod:`exporter.exposition.rows`, shared with the
prometheus_client path) are formatted straight to text lines, and a desktop's lines
are kept and reused while its monitoring values are unchanged, so a render after a
monitoring publish formats only the desktops that changed and joins the rest.

The sample lines of gauge and info families are the same in the text format and in
OpenMetrics; only the HELP/TYPE headers differ, and those are produced by the
negotiated prometheus_client encoder itself (on an empty family), as is every
family that is not per-desktop. The result is byte-identical to the encoder's output
on the collector path; a test compares both on random fleets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.exposition.rows import MONITORING_FAMILIES, info_label_names, info_row, monitoring_rows
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.monitoring import DesktopMetrics, MonitoringSnapshot

_EOF = b"# EOF\n"
_SMALL = 64 * 1024  # pieces below this are merged with their neighbours
# The very function prometheus_client formats sample values with (ints as "1.0", "+Inf", "NaN").
_go_string = cast(Callable[[float], str], floatToGoString)
_INF = float("inf")


# id(family) -> (position in MONITORING_FAMILIES, sample name): looked up once per sample.
_MON_META = {id(f): (i, f.full_name) for i, f in enumerate(MONITORING_FAMILIES)}


@dataclass(frozen=True)
class Lines:
    """A family we format ourselves: its catalogue entry and its sample lines as UTF-8 chunks."""

    family: m.Family
    chunks: tuple[bytes, ...]

    @property
    def name(self) -> str:
        return self.family.full_name


Block = Lines | Metric


def escape_value(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def format_labels(labels: Mapping[str, str]) -> str:
    """``{a="x",b="y"}`` with names sorted, as prometheus_client writes them ("" for none)."""
    if not labels:
        return ""
    parts = []
    for k, v in sorted(labels.items()):
        if "\\" in v or "\n" in v or '"' in v:  # rare: skip three replace calls otherwise
            v = escape_value(v)
        parts.append(f'{k}="{v}"')
    return "{" + ",".join(parts) + "}"


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self._metric


Encoder = Callable[[Collector], bytes]


def encode_family(metric: Metric, encoder: Encoder) -> bytes:
    """One family as the encoder writes it, without OpenMetrics' closing ``# EOF``."""
    raw = encoder(_One(metric))
    return raw[: -len(_EOF)] if raw.endswith(_EOF) else raw


def _empty(f: m.Family) -> Metric:
    if f.kind == "info":
        return InfoMetricFamily(f.full_name, f.help)
    return GaugeMetricFamily(f.full_name, f.help)


class Headers:
    """HELP/TYPE lines per (content type, family), produced once by the encoder itself."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def get(self, f: m.Family, encoder: Encoder, content_type: str) -> bytes:
        key = (content_type, f.full_name)
        hit = self._cache.get(key)
        if hit is None:
            hit = encode_family(_empty(f), encoder)
            with self._lock:
                if len(self._cache) < 1024:  # a handful of formats × the catalogue
                    self._cache[key] = hit
        return hit


class DesktopView(Protocol):
    """The snapshots and options the desktop families are rendered from."""

    @property
    def inventory(self) -> InventorySnapshot | None: ...
    @property
    def monitoring(self) -> MonitoringSnapshot | None: ...
    @property
    def inventory_config(self) -> InventoryConfig: ...


def _no_families() -> list[Metric]:
    return []


class DesktopLines:
    """Per-desktop lines of one exporter (one target), cached between renders.

    Only the renderer thread calls :meth:`blocks` (renders are serialised), so the caches
    need no lock of their own.
    """

    def __init__(
        self, view: Callable[[], DesktopView], others: Callable[[], list[Metric]] = _no_families
    ) -> None:
        self._view = view
        self._others = others  # the exporter's other data families, rendered after these
        self._prefix_key: object = None
        self._labels: dict[tuple[object, ...], str] = {}
        self._info = b""
        # desktop_id -> (its metrics when formatted, one text per monitoring family)
        self._desktops: dict[str, tuple[DesktopMetrics, tuple[str, ...]]] = {}
        self.formatted = 0  # desktops (re)formatted by the last render (tests, benchmark)

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]:
        """The exporter's data families in collector order; ``extra_labels`` go on every sample."""
        v = self._view()
        out: list[Block] = []
        if v.inventory is not None:
            out.extend(self._desktop_blocks(v.inventory, v, extra_labels))
        out.extend(self._others())
        return out

    def _desktop_blocks(
        self, inv: InventorySnapshot, v: DesktopView, extra: Mapping[str, str]
    ) -> list[Block]:
        cfg = v.inventory_config
        extra_key = tuple(sorted(extra.items()))
        prefix_key = (inv.version, cfg.user_name_label, tuple(cfg.tag_labels), extra_key)
        if prefix_key != self._prefix_key:
            self._prefix_key = prefix_key
            self._labels = {}
            self._desktops = {}
            names = info_label_names(cfg)
            line = m.DESKTOP_INFO.full_name + "_info"
            self._info = "".join(
                f"{line}{format_labels({**extra, **dict(zip(names, info_row(d, cfg), strict=True))})} 1.0\n"
                for d in inv.desktops
            ).encode("utf-8")
        out: list[Block] = [Lines(m.DESKTOP_INFO, (self._info,))]
        mon = v.monitoring
        if mon is None:
            self.formatted = 0
            return out
        # Joined afresh on every render (tens of ms) rather than kept: it would hold the body twice.
        joined = self._join(inv.desktops, mon.entries, extra)
        out.extend(Lines(f, (text,)) for f, text in zip(MONITORING_FAMILIES, joined, strict=True))
        return out

    def _join(
        self, desktops: Sequence[Desktop], entries: Mapping[str, DesktopMetrics], extra: Mapping[str, str]
    ) -> tuple[bytes, ...]:
        cache = self._desktops
        fresh: dict[str, tuple[DesktopMetrics, tuple[str, ...]]] = {}
        rows: list[tuple[str, ...]] = []
        formatted = 0
        for d in desktops:
            did = d.desktop_id
            dm = entries.get(did)
            if dm is None:
                continue
            hit = cache.get(did)
            if hit is None or not (hit[0] is dm or hit[0] == dm):
                hit = (dm, self._format(did, dm, extra))
                formatted += 1
            fresh[did] = hit
            rows.append(hit[1])
        # Desktops that left the inventory or lost their data drop out of the cache here.
        self._desktops = fresh
        self.formatted = formatted
        if not rows:
            return (b"",) * len(MONITORING_FAMILIES)
        # rows -> families; encoded per family, so no str of the whole body ever exists (a
        # single non-ASCII character would make it 2-4 bytes per character).
        return tuple("".join(column).encode("utf-8") for column in zip(*rows, strict=True))

    def _format(self, did: str, dm: DesktopMetrics, extra: Mapping[str, str]) -> tuple[str, ...]:
        texts = [""] * len(MONITORING_FAMILIES)
        labels_cache = self._labels
        meta = _MON_META
        last: tuple[object, object] = (None, None)
        lab = ""
        for f, values, value in monitoring_rows(did, dm):
            # Consecutive rows usually share their label values (the same list): format them once.
            if last[0] is not values or last[1] is not f.labels:
                last = (values, f.labels)
                key = (f.labels, *values)
                hit = labels_cache.get(key)
                if hit is None:
                    hit = format_labels({**extra, **dict(zip(f.labels, values, strict=True))})
                    labels_cache[key] = hit
                lab = hit
            # floatToGoString's common case inlined (a finite float Go writes like repr): once per sample.
            if value.__class__ is float and -_INF < value < _INF:
                text = repr(value)
                if value > 0 and text.find(".") > 6:
                    text = _go_string(value)
            else:
                text = _go_string(value)
            i, name = meta[id(f)]
            texts[i] += f"{name}{lab} {text}\n"
        return tuple(texts)


def merge(parts: Sequence[tuple[list[Block], Mapping[str, str]]]) -> list[Block]:
    """Families of several targets merged by name in order of first appearance, as
    ``MergedCollector`` does: samples of the first target first, each with its target's labels
    (already applied to :class:`Lines`; added here to other families)."""
    if len(parts) == 1 and not parts[0][1]:
        return parts[0][0]
    merged: dict[str, Block] = {}
    for blocks, labels in parts:
        for b in blocks:
            out = merged.get(b.name)
            if isinstance(b, Lines):
                chunks = out.chunks if isinstance(out, Lines) else ()
                merged[b.name] = Lines(b.family, (*chunks, *b.chunks))
                continue
            if not isinstance(out, Metric):
                out = Metric(b.name, b.documentation, b.type, b.unit)
                merged[b.name] = out
            for s in b.samples:
                out.samples.append(s._replace(labels={**labels, **s.labels}))
    return list(merged.values())


def render_pieces(
    blocks: Sequence[Block], encoder: Encoder, content_type: str, headers: Headers
) -> list[bytes]:
    """The data part of the exposition (no ``# EOF``) in the negotiated format, as pieces to send
    in order: the large family texts are shared with other formats, never copied into one body;
    small neighbours are merged so a scrape writes a few dozen pieces at most."""
    pieces: list[bytes] = []
    small: list[bytes] = []

    def add(piece: bytes) -> None:
        if len(piece) < _SMALL:
            small.append(piece)
            return
        if small:
            pieces.append(b"".join(small))
            small.clear()
        pieces.append(piece)

    for b in blocks:
        if isinstance(b, Lines):
            add(headers.get(b.family, encoder, content_type))
            for chunk in b.chunks:
                add(chunk)
        else:
            add(encode_family(b, encoder))
    if small:
        pieces.append(b"".join(small))
    return pieces


def render_text(blocks: Sequence[Block], encoder: Encoder, content_type: str, headers: Headers) -> bytes:
    """The data part of the exposition as one byte string (tests, the benchmark)."""
    return b"".join(render_pieces(blocks, encoder, content_type, headers))
