"""The /metrics body: data rendered in the background once per data change, served as is.

Rendering 10,000 desktops takes a large fraction of a second even on the fast path
(:mod:`exporter.exposition.desktop_lines`) and compressing it as much again, so a scrape never
does either. Once :meth:`CachedExposition.start` has run, one renderer thread watches
the *data version* (a stamp per enabled source, new whenever its snapshot is another
object, and the settings; polled every ``poll_interval``,
which costs a few microseconds, or woken at once by :meth:`CachedExposition.poke`).
When it changes, the thread renders each format asked for in the last ten minutes (the
text format and OpenMetrics, written by :mod:`exporter.exposition.encode`; the text format
from the start), compresses each, and swaps one immutable reference. A scrape reads that
reference and appends only the small, per-scrape self-metrics; its data lag behind the
sources by at most one render. This is the only render path: a ``name[]`` request gets
the families it names cut from the same cached bytes.

A render that raises leaves the last good bytes in place and is counted in
``huaweicloud_workspace_render_errors_total``; that version is not retried until the
data change again. Without :meth:`start` (tests, one-off tools) a scrape renders the
current version itself when it changed.

Gzip: the data part is compressed once with a sync flush and the compressor state is
kept; each scrape copies that state and compresses only the self-metrics into it,
which yields one valid gzip member without recompressing the data.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.core import CounterMetricFamily

from exporter.exposition.catalogue import RENDER_ERRORS
from exporter.exposition.encode import TEXT, Kind, negotiate
from exporter.exposition.lines import Block, Encoded, encode_blocks, join_small

log = logging.getLogger(__name__)

# zlib level 1, measured at 10,000 desktops (benchmarks, render phase): 4.4 MB in ~0.15 s
# against 4.0 MB in ~0.45 s at level 6. The compression runs once per data change in the
# background, so the CPU it costs per hour matters more than the last 10 % of the body.
GZIP_LEVEL = 1
POLL_INTERVAL = 0.25
# A format nobody asked for in this long is no longer rendered in the background (Prometheus
# negotiates OpenMetrics, so the text format rendered from the start would only cost CPU and
# a copy of the body); asked again, it is rendered once by that scrape.
FORMAT_IDLE = 600.0
_NEVER = object()


@dataclass(frozen=True)
class _Rendered:
    parts: tuple[bytes, ...]  # the data part, in pieces shared with other formats where possible
    families: tuple[Encoded, ...] = ()  # the same bytes family by family (for ``name[]``)
    gzip_prefix: bytes | None = None
    gzip_state: Any = None  # zlib compressor after the data part (copied per scrape)


@dataclass(frozen=True)
class _State:
    key: object
    entries: Mapping[Kind, _Rendered] = field(default_factory=dict)


@dataclass
class RenderStats:
    """What the renderer has spent so far (thread CPU seconds), for the benchmark and tests."""

    renders: int = 0
    errors: int = 0
    render_cpu: float = 0.0
    compress_cpu: float = 0.0
    last_render_seconds: float = 0.0
    last_compress_seconds: float = 0.0


class CachedExposition:
    """Serves the ``data`` families (rendered once per ``version``, in the background once
    started) followed by the ``live`` ones (encoded on every scrape).

    ``data`` returns the data families as blocks (:class:`~exporter.exposition.lines.Lines`
    we formatted ourselves, or metric families); only the renderer calls it, one render at a
    time. ``live`` returns the self-metrics; scrapes call it concurrently.
    """

    def __init__(
        self,
        data: Callable[[], Sequence[Block]],
        live: Callable[[], Sequence[Block]],
        version: Callable[[], Hashable],
        *,
        poll_interval: float = POLL_INTERVAL,
        gzip_level: int = GZIP_LEVEL,
        format_idle: float = FORMAT_IDLE,
    ) -> None:
        self._data = data
        self._live = live
        # Per format, the live families of the last scrape and their encodings (keyed by the
        # object: a collector that returns the same object again reuses the encoding).
        self._live_encoded: dict[Kind, dict[int, tuple[Block, Encoded]]] = {}
        self.stats = RenderStats()
        self._version = version
        self._poll = poll_interval
        self._level = gzip_level
        self._state = _State(_NEVER)
        # The text format is rendered from the start, so even the first scrape finds it ready.
        self._formats: set[Kind] = {TEXT}
        self._format_idle = format_idle
        self._asked: dict[Kind, float] = {TEXT: time.monotonic()}  # last request per format
        self._failed_key: object = _NEVER
        self._lock = threading.Lock()  # one render at a time
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped_by: threading.Event | None = None

    @property
    def renders(self) -> int:
        """Data renders so far (one per format rendered)."""
        return self.stats.renders

    # ------------------------------------------------------------ renderer thread

    def start(self, stopped: threading.Event | None = None) -> None:
        """Start the background renderer (idempotent); it also ends once ``stopped`` is set."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._stopped_by = stopped
        self._thread = threading.Thread(target=self._run, name="exposition-renderer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None

    @property
    def thread(self) -> threading.Thread | None:
        """The renderer thread while it runs (the process watches it: see exporter.fatal)."""
        return self._thread

    def current(self) -> bool:
        """Whether scrapes serve the current data version (tests wait for this before asserting)."""
        return self._thread is None or self._state.key == self._version()

    def poke(self) -> None:
        """Render now rather than at the next poll (a source has published)."""
        self._wake.set()

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            if self._stopped_by is not None and self._stopped_by.is_set():
                return
            self._wake.clear()
            try:
                with self._lock:
                    self._forget_idle_formats()
                    self._refresh(set(self._formats), gzip=True)
            except MemoryError:
                raise  # ends the thread, which is fatal (exporter.fatal)
            except Exception as e:  # noqa: BLE001 - e.g. a version callback failing: keep the thread
                self.stats.errors += 1
                if not failing:  # once per run of failures, not every poll
                    log.warning(
                        "render failed, serving the previous exposition error_type=%s error=%s",
                        type(e).__name__,
                        e,
                    )
                failing = True
            else:
                failing = False
            self._wake.wait(self._poll)

    def _forget_idle_formats(self) -> None:
        """Stop rendering the formats idle too long; the most recently asked one always stays."""
        now = time.monotonic()
        for kind in sorted(self._formats, key=lambda k: self._asked.get(k, now)):  # oldest first
            if len(self._formats) > 1 and now - self._asked.get(kind, now) > self._format_idle:
                self._formats.discard(kind)

    def refresh(self) -> None:
        """Bring every format asked for so far up to the current data version (the renderer's step)."""
        with self._lock:
            self._refresh(set(self._formats), gzip=True)

    # ------------------------------------------------------------------ rendering

    def _refresh(self, formats: set[Kind], gzip: bool) -> None:
        if not formats:
            return
        key = self._version()
        state = self._state
        current = state.entries if key == state.key else {}
        todo = [k for k in sorted(formats) if k not in current]
        zip_todo = [k for k in sorted(formats) if gzip and (k in todo or current[k].gzip_prefix is None)]
        if not todo and not zip_todo:
            return
        if todo and key == self._failed_key:
            return  # this version failed to render: wait for the data to change
        entries = dict(current)
        try:
            if todo:
                t0, c0 = time.monotonic(), time.thread_time()
                blocks = self._data()
                for kind in todo:
                    families = tuple(encode_blocks(blocks, kind))
                    parts = join_small(p for f in families for p in f.pieces)
                    entries[kind] = _Rendered(tuple(parts), families)
                    self.stats.renders += 1
                self.stats.render_cpu += time.thread_time() - c0
                self.stats.last_render_seconds = time.monotonic() - t0
            if zip_todo:
                t0, c0 = time.monotonic(), time.thread_time()
                for kind in zip_todo:
                    entries[kind] = self._compress(entries[kind])
                self.stats.compress_cpu += time.thread_time() - c0
                self.stats.last_compress_seconds = time.monotonic() - t0
        except MemoryError:
            raise  # fatal (exporter.fatal): a half-rendered exposition helps nobody
        except Exception as e:  # noqa: BLE001 - any failure must leave the last good bytes served
            self.stats.errors += 1
            self._failed_key = key
            log.warning(
                "render failed, serving the previous exposition error_type=%s error=%s", type(e).__name__, e
            )
            return
        self._state = _State(key, entries)

    def _compress(self, rendered: _Rendered) -> _Rendered:
        comp = zlib.compressobj(self._level, zlib.DEFLATED, 31)
        packed = [comp.compress(p) for p in rendered.parts]
        packed.append(comp.flush(zlib.Z_SYNC_FLUSH))
        return replace(rendered, gzip_prefix=b"".join(packed), gzip_state=comp)

    def _entry(self, kind: Kind, gzip: bool) -> _Rendered:
        self._asked[kind] = time.monotonic()
        running = self._thread is not None
        state = self._state
        hit = state.entries.get(kind)
        ready = hit is not None and (not gzip or hit.gzip_prefix is not None)
        if hit is not None and ready and (running or state.key == self._version()):
            return hit
        # First scrape in this format (or with gzip), or no renderer thread: render here, once.
        with self._lock:
            self._formats.add(kind)
            self._refresh(set(self._formats) if running else {kind}, gzip or running)
            hit = self._state.entries.get(kind)
        if hit is None:  # never rendered successfully: only the self-metrics can be served
            return self._compress(_Rendered(())) if gzip else _Rendered(())
        if gzip and hit.gzip_prefix is None:
            return self._compress(hit)
        return hit

    # ---------------------------------------------------------------------- serving

    def chunks(
        self, accept: str, gzip: bool, names: Collection[str] | None = None
    ) -> tuple[list[bytes], str]:
        """The exposition for an ``Accept`` header as chunks to send in order.

        The large cached part is returned as is, never concatenated with the per-scrape
        part: a scrape allocates only the self-metrics (and, for gzip, their compression).

        ``names`` (``name[]``) keeps only the families it names, by their family name or by
        one of their sample names, whole. They are cut from the cached
        render, so selecting costs no rendering; the selected bytes are then compressed for
        this request when gzip is asked for (at most the compression of the whole body).
        """
        fmt = negotiate(accept)
        if names is not None:
            wanted = frozenset(names)
            entry = self._entry(fmt.kind, False)
            parts = [p for f in entry.families if not f.names.isdisjoint(wanted) for p in f.pieces]
            parts.append(self._live_part(fmt.kind, wanted) + fmt.eof)
            if gzip:
                comp = zlib.compressobj(self._level, zlib.DEFLATED, 31)
                packed = [comp.compress(p) for p in parts]
                packed.append(comp.flush())
                parts = [b"".join(packed)]
            return parts, fmt.content_type
        entry = self._entry(fmt.kind, gzip)
        live = self._live_part(fmt.kind) + fmt.eof
        if not gzip:
            return [*entry.parts, live], fmt.content_type
        state = entry.gzip_state.copy()
        return [entry.gzip_prefix or b"", state.compress(live) + state.flush()], fmt.content_type

    def _live_part(self, kind: Kind, names: frozenset[str] | None = None) -> bytes:
        """The per-scrape self-metrics, the renderer's error counter last (those ``names`` selects).

        A family object collected again unchanged (the API counters between calls) keeps its
        encoding from the scrape before; the others are encoded now."""
        f = RENDER_ERRORS
        blocks = [*self._live(), CounterMetricFamily(f.full_name, f.help, value=self.stats.errors)]
        before = self._live_encoded.get(kind, {})
        now: dict[int, tuple[Block, Encoded]] = {}
        families: list[Encoded] = []
        for b in blocks:
            hit = before.get(id(b))
            encoded = hit[1] if hit is not None and hit[0] is b else encode_blocks([b], kind)[0]
            now[id(b)] = (b, encoded)
            families.append(encoded)
        self._live_encoded[kind] = now  # one assignment: concurrent scrapes see one or the other
        return b"".join(
            p for e in families if names is None or not e.names.isdisjoint(names) for p in e.pieces
        )

    def body(self, accept: str, gzip: bool, names: Collection[str] | None = None) -> tuple[bytes, str]:
        """The whole exposition as one byte string (tests, small consumers)."""
        parts, content_type = self.chunks(accept, gzip, names)
        return b"".join(parts), content_type
