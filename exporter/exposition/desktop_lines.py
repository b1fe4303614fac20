"""The hot path: the per-desktop families as text lines, formatted incrementally.

Building a metric object per sample and formatting it costs a few microseconds, which is
seconds per render at 10,000 desktops. Here the samples are formatted straight to text
lines: :class:`InfoLines` renders the inventory's info family (its labels from
:mod:`exporter.exposition.rows`), :class:`MonitoringLines` the monitoring families, joined
to the inventory (only desktops still in it, in its order). A desktop's label strings and
info line are kept while the desktop is unchanged (across inventory snapshots) and its
sample lines while its monitoring values are, so a render after a refresh formats only the
desktops that changed and joins the rest.

The sample lines of gauge and info families are the same in the text format and in
OpenMetrics; only the HELP/TYPE headers differ, and our encoder writes those
(:func:`~exporter.exposition.lines.encode_blocks`). The result is byte-identical to what
prometheus_client's encoders write for the same families; a test compares both on random
fleets. Only the renderer thread calls ``blocks`` (renders are serialised), so the caches
need no lock of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.exposition.catalogue import MONITORING_FAMILIES
from exporter.exposition.lines import Block, Lines
from exporter.exposition.rows import info_label_names, info_row
from exporter.exposition.text import LabelTemplate, escaped, sample_value
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.sources.labels import clean_text
from exporter.sources.monitoring import ONLINE_STATES, DesktopMetrics, MonitoringSnapshot


class InfoLines:
    """The inventory's info family, one line per desktop, kept while the desktop is unchanged."""

    def __init__(
        self, inventory: Callable[[], InventorySnapshot | None], config: Callable[[], InventoryConfig]
    ) -> None:
        self._inventory = inventory
        self._config = config
        # The extra labels and options every cached line depends on; when they change, all go.
        self._key: object = None
        self._info_template = LabelTemplate({}, ())
        self._info_lines: dict[str, tuple[Desktop, str]] = {}  # desktop_id -> (desktop, info line)
        self._info_version: object = None
        self._info = b""
        self.info_formatted = 0  # info lines (re)formatted at the last inventory change

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]:
        """The info family (nothing before the first inventory); ``extra_labels`` on every line."""
        inv = self._inventory()
        if inv is None:
            return []
        cfg = self._config()
        key = (cfg.user_name_label, tuple(cfg.tag_labels), tuple(sorted(extra_labels.items())))
        if key != self._key:
            self._key = key
            self._info_lines = {}
            self._info_version = None
            self._info_template = LabelTemplate(extra_labels, info_label_names(cfg))
        if inv.version != self._info_version:
            self._info = self._join_info(inv.desktops, cfg)
            self._info_version = inv.version
        return [Lines(m.DESKTOP_INFO, (self._info,))]

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


class MonitoringLines:
    """The monitoring families of the desktops in the inventory, in its order; a desktop's
    lines are kept while its values are unchanged."""

    def __init__(
        self,
        monitoring: Callable[[], MonitoringSnapshot | None],
        inventory: Callable[[], InventorySnapshot | None],
    ) -> None:
        self._monitoring = monitoring
        self._inventory = inventory
        self._key: object = None  # the extra labels every cached text carries
        self._did = LabelTemplate({}, ("desktop_id",))
        self._online = _OnlineLines({})
        # desktop_id -> (its metrics when formatted, one text per monitoring family,
        # ({desktop_id="…"} with the extra labels, the escaped desktop id))
        self._desktops: dict[str, tuple[DesktopMetrics, tuple[str, ...], tuple[str, str]]] = {}
        self.formatted = 0  # desktops (re)formatted by the last render (tests, benchmark)

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]:
        """The monitoring families (nothing before the first inventory); ``extra_labels`` on
        every line."""
        inv, mon = self._inventory(), self._monitoring()
        if inv is None or mon is None:
            self.formatted = 0
            return []
        key = tuple(sorted(extra_labels.items()))
        if key != self._key:
            self._key = key
            self._desktops = {}
            self._did = LabelTemplate(extra_labels, ("desktop_id",))
            self._online = _OnlineLines(extra_labels)
        # Joined afresh on every render (tens of ms) rather than kept: it would hold the body twice.
        joined = self._join(inv.desktops, mon.entries)
        return [Lines(f, (text,)) for f, text in zip(MONITORING_FAMILIES, joined, strict=True)]

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
