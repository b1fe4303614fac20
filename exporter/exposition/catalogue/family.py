"""The shape of a catalogue entry: a metric family's name, type, help text and labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NAMESPACE = "huaweicloud_workspace"

Kind = Literal["gauge", "counter", "histogram", "info"]


@dataclass(frozen=True)
class Family:
    name: str  # without namespace; counters without _total; info without _info
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    api: str = ""  # upstream API the data comes from ("" = the exporter itself)

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}_{self.name}"

    @property
    def exposed_name(self) -> str:
        """The sample name Prometheus sees (with ``_total`` / ``_info``)."""
        suffix = {"counter": "_total", "info": "_info"}.get(self.kind, "")
        return self.full_name + suffix
