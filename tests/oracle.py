"""prometheus_client's encoders as the tests' oracle: what our renderer must write, byte for byte.

The exporter writes its exposition with its own encoder (exporter/exposition/encode.py); the
tests hold every byte of it to what prometheus_client's ``generate_latest`` (text format) and
OpenMetrics ``generate_latest`` write for the same families, as ``choose_encoder`` picks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from exporter.app.exporter import Exporter
from exporter.app.multi import MultiExporter
from exporter.config.settings import InventoryConfig
from exporter.exposition import catalogue as m
from exporter.exposition.catalogue import MONITORING_FAMILIES
from exporter.exposition.desktop_lines import InfoLines, MonitoringLines
from exporter.exposition.lines import Block
from exporter.exposition.render import CachedExposition
from exporter.exposition.rows import info_label_names, info_row
from exporter.sources.inventory import InventorySnapshot, InventorySource
from exporter.sources.labels import clean_text
from exporter.sources.monitoring import ONLINE_STATES, DesktopMetrics, MonitoringSnapshot
from exporter.sources.monitoring_paths import MonitoringPaths

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


# ------------------------------------------------------------- the desktop families, by the book


def monitoring_rows(desktop_id: str, dm: DesktopMetrics) -> Iterator[tuple[m.Family, list[str], float]]:
    """One desktop's monitoring samples as (family, label values, value), family by family:
    what the renderer's unrolled per-desktop formatting must write."""
    did = [clean_text(desktop_id)]
    for key, value in dm.values:
        yield m.MONITORING[key], did, value
    if dm.sample_time is not None:
        yield m.DESKTOP_MONITORING_TIMESTAMP, did, dm.sample_time
    if dm.online_state is not None:
        for state in ONLINE_STATES:
            yield m.DESKTOP_ONLINE_STATUS, [did[0], state], 1.0 if state == dm.online_state else 0.0
    if dm.session_start is not None:
        yield m.DESKTOP_SESSION_START, did, dm.session_start
    if dm.session_end is not None:
        yield m.DESKTOP_SESSION_END, did, dm.session_end


def desktop_families(
    inventory: InventorySnapshot | None, monitoring: MonitoringSnapshot | None, config: InventoryConfig
) -> list[Metric]:
    """The inventory's info family and the monitoring families, built with prometheus_client's
    objects. Monitoring rows are kept only for desktops still in the inventory, so a removed
    desktop disappears everywhere at once."""
    if inventory is None:
        return []
    info = InfoMetricFamily(m.DESKTOP_INFO.full_name, m.DESKTOP_INFO.help, labels=info_label_names(config))
    for d in inventory.desktops:
        info.add_metric(info_row(d, config), {})
    out: list[Metric] = [info]
    if monitoring is None:
        return out
    gauges = {
        f.full_name: GaugeMetricFamily(f.full_name, f.help, labels=list(f.labels))
        for f in MONITORING_FAMILIES
    }
    for d in inventory.desktops:
        dm = monitoring.entries.get(d.desktop_id)
        if dm is None:
            continue
        for f, labels, value in monitoring_rows(d.desktop_id, dm):
            gauges[f.full_name].add_metric(labels, value)
    out.extend(gauges.values())
    return out


class MergedCollector(Collector):
    """Each family once, with the samples of every part and the part's extra labels (what
    several targets' families merged must be)."""

    def __init__(self, parts: list[tuple[Collector, dict[str, str]]]) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        if len(self._parts) == 1 and not self._parts[0][1]:
            yield from self._parts[0][0].collect()
            return
        merged: dict[str, Metric] = {}
        for collector, labels in self._parts:
            for fam in collector.collect():
                out = merged.get(fam.name)
                if out is None:
                    out = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                    merged[fam.name] = out
                for s in fam.samples:
                    out.samples.append(s._replace(labels={**labels, **s.labels}))
        yield from merged.values()


# --------------------------------------------------------------------- a whole exporter, by the book


def exporter_families(e: Exporter) -> list[Metric]:
    """One target's data families as prometheus_client's objects: the desktop families by the
    book (:func:`desktop_families`), every other family as the exporter builds it."""
    cfg = e.settings.config
    inventory = e.source("inventory", InventorySource).snapshot if "inventory" in e.sources else None
    monitoring = None
    if "monitoring" in e.sources and cfg.monitoring.enabled:
        monitoring = e.source("monitoring", MonitoringPaths).snapshot
    out = desktop_families(inventory, monitoring, cfg.inventory)
    for entry in e._active():
        if entry.name not in ("inventory", "monitoring"):  # pure families(snapshot): safe to call here
            out.extend(b for b in e._renderers[entry.name].blocks({}) if isinstance(b, Metric))
    return out


def _target_labels(multi: MultiExporter) -> list[dict[str, str]]:
    label = len(multi.exporters) > 1 or multi.settings.config.target_labels == "always"
    return [
        {"project_id": e.settings.config.project_id, "region": e.settings.config.region} if label else {}
        for e in multi.exporters
    ]


def data_collector(multi: MultiExporter) -> Collector:
    """Every target's data families merged, as the reference for the cached data part."""
    parts: list[tuple[Collector, dict[str, str]]] = [
        (Families(lambda e=e: exporter_families(e)), labels)  # type: ignore[misc]
        for e, labels in zip(multi.exporters, _target_labels(multi), strict=True)
    ]
    return MergedCollector(parts)


def registry_of(multi: MultiExporter) -> CollectorRegistry:
    """The whole exposition (data, then self-metrics) as a prometheus_client registry: what
    ``make_wsgi_app`` would build on every scrape (the benchmarks' per-scrape baseline)."""
    live = MergedCollector(
        [(e.live_registry, labels) for e, labels in zip(multi.exporters, _target_labels(multi), strict=True)]
    )
    reg = CollectorRegistry()
    reg.register(data_collector(multi))
    reg.register(live)
    return reg


def scraped(exposition: CachedExposition, accept: str = "") -> CollectorRegistry:
    """What a scrape of ``exposition`` serves, parsed back into families (for
    ``get_sample_value``), rendered from the current data first."""
    exposition.refresh()
    body, _ = exposition.body(accept, False)
    families = list(text_string_to_metric_families(body.decode()))
    reg = CollectorRegistry()
    reg.register(Families(lambda: families))
    return reg


def serving(collector: Collector) -> CachedExposition:
    """An exposition serving ``collector``'s families as its live part, read on every scrape
    (for tests of the HTTP layer that need some metrics to serve)."""
    return CachedExposition(lambda: [], lambda: list(collector.collect()), lambda: 0)


# ------------------------------------------------------ the desktop renderers, as the table runs them


class DesktopLines:
    """The inventory's and the monitoring source's renderers over one view (its ``inventory``,
    ``monitoring`` and ``inventory_config``), then the ``others`` families: what the two
    table entries render, in table order."""

    def __init__(self, view: Callable[[], Any], others: Callable[[], list[Metric]] = list) -> None:
        self.info = InfoLines(lambda: view().inventory, lambda: view().inventory_config)
        self.monitoring = MonitoringLines(lambda: view().monitoring, lambda: view().inventory)
        self._others = others

    def blocks(self, extra_labels: Mapping[str, str]) -> list[Block]:
        return [*self.info.blocks(extra_labels), *self.monitoring.blocks(extra_labels), *self._others()]

    @property
    def formatted(self) -> int:
        return self.monitoring.formatted

    @property
    def info_formatted(self) -> int:
        return self.info.info_formatted
