"""Blocks: the data families as the renderer takes them, and their bytes in one format.

A :class:`Lines` block is a family whose sample lines are formatted already (the
per-desktop families, :mod:`exporter.exposition.desktop_lines`); any other family is a
metric object, encoded by :mod:`exporter.exposition.encode`. :func:`merge` joins the
blocks of several targets; :func:`encode_blocks` writes a list of blocks in one format,
family by family (what ``name[]`` selects from), and :func:`join_small` cuts them into the
pieces a scrape sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import Metric

from exporter.exposition import catalogue as m
from exporter.exposition.encode import Kind, encode_family, header, sample_names

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
