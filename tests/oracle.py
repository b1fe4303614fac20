"""prometheus_client's encoders as the tests' oracle: what our renderer must write, byte for byte.

The exporter writes its exposition with its own encoder (exporter/exposition/encode.py); the
tests hold every byte of it to what prometheus_client's ``generate_latest`` (text format) and
OpenMetrics ``generate_latest`` write for the same families, as ``choose_encoder`` picks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

EOF = b"# EOF\n"


class Families(Collector):
    """A collector yielding the families ``build`` returns (fresh ones on each collect)."""

    def __init__(self, build: Callable[[], Iterable[Metric]]) -> None:
        self._build = build

    def collect(self) -> Iterator[Metric]:
        yield from self._build()


def fixed(*families: Metric) -> Families:
    """A collector yielding ``families``."""
    return Families(lambda: families)


def encoded(collector: Collector, accept: str = "") -> bytes:
    """``collector``'s families as prometheus_client writes them for ``accept``, without ``# EOF``."""
    encoder, _ = choose_encoder(accept)
    return encoder(collector).removesuffix(EOF)


def content_type(accept: str) -> str:
    """The Content-Type prometheus_client answers ``accept`` with."""
    return choose_encoder(accept)[1]
