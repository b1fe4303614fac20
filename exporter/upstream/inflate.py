"""Decoding a ``Content-Encoding`` (gzip, deflate, identity) without ever producing more
than a cap: the body is inflated here with ``zlib``'s ``max_length``, chunk by chunk as it is
read, so a 2 MB gzip bomb never grows past the cap."""

from __future__ import annotations

import zlib


class TooLarge(Exception):
    """The decoded body would pass the room it was given."""


class Inflater:
    """Decodes a Content-Encoding without ever producing more than the cap."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self._wbits: int | None = None
        elif enc in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif enc == "deflate":
            self._wbits = zlib.MAX_WBITS
        else:
            raise ValueError(f"unsupported Content-Encoding {enc[:40]}")
        self._d = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._first = True

    def feed(self, chunk: bytes, room: int) -> bytes:
        """Decoded bytes of ``chunk``; raises :class:`TooLarge` past ``room`` more bytes."""
        if self._d is None:
            if len(chunk) > room:
                raise TooLarge
            return chunk
        out: list[bytes] = []
        data = chunk
        while data:
            if self._d.eof:  # a second gzip member follows
                data = self._d.unused_data + data
                self._d = zlib.decompressobj(self._wbits or zlib.MAX_WBITS)
            try:
                part = self._d.decompress(data, room + 1)
            except zlib.error:
                if not self._first or self._wbits != zlib.MAX_WBITS:
                    raise
                # "deflate" sent as a raw stream without the zlib header.
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                part = self._d.decompress(data, room + 1)
            self._first = False
            room -= len(part)
            if room < 0:
                raise TooLarge
            out.append(part)
            data = self._d.unconsumed_tail
            if self._d.eof and not data:
                data = self._d.unused_data
                if not data:
                    break
        return b"".join(out)
