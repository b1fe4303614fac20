"""Render the upstream-data exposition once per data change and serve the cached bytes.

Building an exposition with prometheus_client costs a few microseconds per sample
(about a second for 10,000 desktops × 17 series), so rendering it on every scrape
would make a scrape cost O(fleet). Here the data families are rendered once per
*data version* (the tuple of snapshot versions) and per negotiated format; a scrape
appends only the small, per-scrape self-metrics.

Gzip: the data part is compressed once with a sync flush and the compressor state is
kept; each scrape copies that state and compresses only the self-metrics into it,
which yields one valid gzip member without recompressing the data.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

_EOF = b"# EOF\n"


@dataclass
class _Rendered:
    raw: bytes
    gzip_prefix: bytes | None = None
    gzip_state: object = None  # zlib compressor after the data part (copied per scrape)


class CachedExposition:
    """Serves ``data`` (cached per version) followed by ``live`` (rendered per scrape)."""

    def __init__(self, data: Collector, live: Collector, version: Callable[[], Hashable]) -> None:
        self._data = data
        self._live = live
        self._version = version
        self._lock = threading.Lock()
        self._key: Hashable = object()
        self._cache: dict[str, _Rendered] = {}
        self.renders = 0  # data renders so far (for tests and the benchmark)

    def _rendered(self, encoder: Callable[[Collector], bytes], content_type: str, om: bool) -> _Rendered:
        key = self._version()
        with self._lock:
            if key != self._key:
                self._key = key
                self._cache = {}
            hit = self._cache.get(content_type)
            if hit is not None:
                return hit
            raw = encoder(self._data)
            if om and raw.endswith(_EOF):
                raw = raw[: -len(_EOF)]
            self.renders += 1
            entry = _Rendered(raw)
            if len(self._cache) < 8:  # a handful of negotiated formats at most
                self._cache[content_type] = entry
            return entry

    def chunks(self, accept: str, gzip: bool) -> tuple[list[bytes], str]:
        """The exposition for an ``Accept`` header as chunks to send in order.

        The large cached part is returned as is, never concatenated with the per-scrape
        part: a scrape allocates only the self-metrics (and, for gzip, their compression).
        """
        encoder, content_type = choose_encoder(accept)
        om = content_type.startswith("application/openmetrics-text")
        entry = self._rendered(encoder, content_type, om)
        live = encoder(self._live)
        if not gzip:
            return [entry.raw, live], content_type
        with self._lock:
            if entry.gzip_state is None:
                comp = zlib.compressobj(6, zlib.DEFLATED, 31)
                entry.gzip_prefix = comp.compress(entry.raw) + comp.flush(zlib.Z_SYNC_FLUSH)
                entry.gzip_state = comp
            state = entry.gzip_state.copy()  # type: ignore[attr-defined]
            prefix = entry.gzip_prefix or b""
        return [prefix, state.compress(live) + state.flush()], content_type

    def body(self, accept: str, gzip: bool) -> tuple[bytes, str]:
        """The whole exposition as one byte string (tests, small consumers)."""
        parts, content_type = self.chunks(accept, gzip)
        return b"".join(parts), content_type
