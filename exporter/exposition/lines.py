"""The hot path: exposition text for the per-desktop families, formatted incrementally.

Building a metric object per sample and formatting it costs a few microseconds, which is
seconds per render at 10,000 desktops. Here the samples are formatted straight to text
lines (the info labels from :mod:`exporter.exposition.rows`). A desktop's label
strings and info line are kept while the desktop is unchanged (across inventory
snapshots) and its sample lines while its monitoring values are, so a render after a
refresh formats only the desktops that changed and joins the rest.

The sample lines of gauge and info families are the same in the text format and in
OpenMetrics; only the HELP/TYPE headers differ, and those are written by our encoder
(:mod:`exporter.exposition.encode`), as is every family that is not per-desktop. The
result is byte-identical to what prometheus_client's encoders write for the same
families; a test compares both on random fleets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import Metric

from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.exposition.catalogue import MONITORING_FAMILIES
from exporter.exposition.encode import Kind, encode_family, header, sample_names
from exporter.exposition.rows import info_label_names, info_row
from exporter.exposition.text import LabelTemplate, escaped, sample_value
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.labels import clean_text
from exporter.sources.monitoring import ONLINE_STATES, DesktopMetrics, MonitoringSnapshot

_SMALL = 64 * 1024  # pieces below this are merged with their neighbours


@dataclass(frozen=True)
class Lines:
    """A family we format ourselves: its catalogue entry and its sample lines as UTF-8 chunks."""

    family: m.Family
    chunks: tuple[bytes, ...]

    @property
    def name(self) -> str:
        return self.family.full_name


Block = Lines | Metric


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
        # The extra labels and options every cached text depends on; when they change, all go.
        self._key: object = None
        self._did = LabelTemplate({}, ("desktop_id",))
        self._online = _OnlineLines({})
        self._info_template = LabelTemplate({}, ())
        # Per desktop, reused across inventory versions while the desktop is unchanged:
        self._info_lines: dict[str, tuple[Desktop, str]] = {}  # desktop_id -> (desktop, info line)
        self._info_version: object = None
        self._info = b""
        # desktop_id -> (its metrics when formatted, one text per monitoring family,
        # ({desktop_id="…"} with the extra labels, the escaped desktop id))
        self._desktops: dict[str, tuple[DesktopMetrics, tuple[str, ...], tuple[str, str]]] = {}
        self.formatted = 0  # desktops (re)formatted by the last render (tests, benchmark)
        self.info_formatted = 0  # info lines (re)formatted at the last inventory change

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
        key = (cfg.user_name_label, tuple(cfg.tag_labels), tuple(sorted(extra.items())))
        if key != self._key:
            self._key = key
            self._info_lines = {}
            self._info_version = None
            self._desktops = {}
            self._info_template = LabelTemplate(extra, info_label_names(cfg))
            self._did = LabelTemplate(extra, ("desktop_id",))
            self._online = _OnlineLines(extra)
        if inv.version != self._info_version:
            self._info = self._join_info(inv.desktops, cfg)
            self._info_version = inv.version
        out: list[Block] = [Lines(m.DESKTOP_INFO, (self._info,))]
        mon = v.monitoring
        if mon is None:
            self.formatted = 0
            return out
        # Joined afresh on every render (tens of ms) rather than kept: it would hold the body twice.
        joined = self._join(inv.desktops, mon.entries)
        out.extend(Lines(f, (text,)) for f, text in zip(MONITORING_FAMILIES, joined, strict=True))
        return out

    def _join_info(self, desktops: Sequence[Desktop], cfg: InventoryConfig) -> bytes:
        """The info family's text; only new or changed desktops are formatted (an inventory
        refresh publishes a new snapshot even when nothing changed)."""
        cache = self._info_lines
        fresh: dict[str, tuple[Desktop, str]] = {}
        template = self._info_template
        line = m.DESKTOP_INFO.full_name + "_info"
        texts: list[str] = []
        formatted = 0
        for d in desktops:
            hit = cache.get(d.desktop_id)
            if hit is None or not (hit[0] is d or hit[0] == d):
                hit = (d, f"{line}{template(info_row(d, cfg))} 1.0\n")
                formatted += 1
            fresh[d.desktop_id] = hit
            texts.append(hit[1])
        self._info_lines = fresh
        self.info_formatted = formatted
        return "".join(texts).encode("utf-8")

    def _join(self, desktops: Sequence[Desktop], entries: Mapping[str, DesktopMetrics]) -> tuple[bytes, ...]:
        cache = self._desktops
        fresh: dict[str, tuple[DesktopMetrics, tuple[str, ...], tuple[str, str]]] = {}
        rows: list[tuple[str, ...]] = []
        formatted = 0
        for d in desktops:
            did = d.desktop_id
            dm = entries.get(did)
            if dm is None:
                continue
            hit = cache.get(did)
            if hit is None:
                ident = clean_text(did)
                labels = (self._did((ident,)), escaped(ident))
                hit = (dm, self._format(labels, dm), labels)
                formatted += 1
            # Equal metrics render alike: the sources publish no -0.0 (timeutil.finite_number),
            # the one float that compares equal to another yet has another text.
            elif not (hit[0] is dm or hit[0] == dm):
                hit = (dm, self._format(hit[2], dm), hit[2])
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

    def _format(self, labels: tuple[str, str], dm: DesktopMetrics) -> tuple[str, ...]:
        # One desktop's monitoring samples, family by family, unrolled: this runs for every
        # changed desktop on every render. The byte-identity tests compare the result with
        # the same samples written by the book (tests/oracle.py: monitoring_rows).
        texts = [""] * _N_FAMILIES
        index = _KEY_INDEX
        did_labels = labels[0]
        for key, value in dm.values:
            i = index[key]
            # sample_value's common case inlined: twelve samples per desktop.
            text = repr(value) if value.__class__ is float and -1e6 < value < 1e6 else sample_value(value)
            texts[i] += f"{_NAMES[i]}{did_labels} {text}\n"
        if dm.sample_time is not None:
            texts[_TS] = f"{_NAMES[_TS]}{did_labels} {sample_value(dm.sample_time)}\n"
        if dm.online_state is not None:
            texts[_ONLINE] = self._online(labels[1], dm.online_state)
        if dm.session_start is not None:
            texts[_START] = f"{_NAMES[_START]}{did_labels} {sample_value(dm.session_start)}\n"
        if dm.session_end is not None:
            texts[_END] = f"{_NAMES[_END]}{did_labels} {sample_value(dm.session_end)}\n"
        return tuple(texts)


_N_FAMILIES = len(MONITORING_FAMILIES)
_NAMES = tuple(f.full_name for f in MONITORING_FAMILIES)
_KEY_INDEX = {key: MONITORING_FAMILIES.index(f) for key, f in m.MONITORING.items()}
_TS = MONITORING_FAMILIES.index(m.DESKTOP_MONITORING_TIMESTAMP)
_ONLINE = MONITORING_FAMILIES.index(m.DESKTOP_ONLINE_STATUS)
_START = MONITORING_FAMILIES.index(m.DESKTOP_SESSION_START)
_END = MONITORING_FAMILIES.index(m.DESKTOP_SESSION_END)


class _OnlineLines:
    """The online-status family's three lines of one desktop, per state: one ``%`` format per
    state (the extra labels and the values fixed), filled with the escaped desktop id."""

    def __init__(self, extra: Mapping[str, str]) -> None:
        self._extra = dict(extra)  # the caller's mapping may change after this
        self._formats = {state: self._build(state) for state in ONLINE_STATES}

    def _build(self, state: str) -> str:
        name = _NAMES[_ONLINE]
        return "".join(
            f"{name}{LabelTemplate({**self._extra, 'state': s}, ('desktop_id',)).pattern} "
            f"{'1.0' if s == state else '0.0'}\n"
            for s in ONLINE_STATES
        )

    def __call__(self, escaped_id: str, state: str) -> str:
        fmt = self._formats.get(state)
        if fmt is None:  # not a state the sources publish; the rows would still write three zeros
            fmt = self._build(state)
        return fmt % (escaped_id, escaped_id, escaped_id)


def merge(parts: Sequence[tuple[list[Block], Mapping[str, str]]]) -> list[Block]:
    """Families of several targets merged by name in order of first appearance, as
    the tests' reference does: samples of the first target first, each with its target's labels
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


@dataclass(frozen=True)
class Encoded:
    """One family in one format: the names that select it (``name[]``) and its bytes in pieces."""

    names: frozenset[str]
    pieces: tuple[bytes, ...]


def encode_blocks(blocks: Sequence[Block], kind: Kind) -> list[Encoded]:
    """Every family of ``blocks`` in format ``kind``: a family we format ourselves is its
    header and its shared line chunks (never copied), any other family is encoded here."""
    out: list[Encoded] = []
    for b in blocks:
        if isinstance(b, Lines):
            f = b.family
            head = header(f.full_name, f.kind, f.help, kind).encode("utf-8")
            out.append(
                Encoded(frozenset((f.full_name, *sample_names(f.full_name, f.kind))), (head, *b.chunks))
            )
        else:
            out.append(Encoded(frozenset((b.name, *sample_names(b.name, b.type))), (encode_family(b, kind),)))
    return out


def join_small(pieces: Iterable[bytes]) -> list[bytes]:
    """``pieces`` with each run of small ones joined, so a scrape writes a few dozen pieces at
    most; the large family texts stay as they are (shared, never copied into one body)."""
    out: list[bytes] = []
    small: list[bytes] = []
    for piece in pieces:
        if len(piece) < _SMALL:
            small.append(piece)
            continue
        if small:
            out.append(b"".join(small))
            small.clear()
        out.append(piece)
    if small:
        out.append(b"".join(small))
    return out


def render_pieces(blocks: Sequence[Block], kind: Kind) -> list[bytes]:
    """The data part of the exposition (no ``# EOF``) in format ``kind``, as pieces to send in order."""
    return join_small(p for e in encode_blocks(blocks, kind) for p in e.pieces)
