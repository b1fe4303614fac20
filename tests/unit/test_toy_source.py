"""A new source is a table row: a toy source, added by its entry alone, in a table without the
inventory (or monitoring, which reads the inventory) works from start to stop.

The toy has its own family and calls the fake API over HTTP on 127.0.0.1; nothing in
``exporter/app``, ``exporter/serve`` or the catalogue knows it. It starts, refreshes, renders
(in both formats, and by ``name[]``), gates readiness, takes a reload and stops; the
exporter's own self-metrics and readiness work without an inventory. What a real source
needs beyond this (config section, API table, constraints, docs, chart, fake, contract
cases) is listed in docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from exporter.app.entry import Families, SourceEntry, Wiring
from exporter.app.multi import MultiExporter
from exporter.app.table import SOURCES
from exporter.clock import Clock
from exporter.config.settings import Config
from exporter.config.targets import load_targets
from exporter.exposition.catalogue.family import Family
from exporter.serve.server import HTTPServer, make_app
from tests.conftest import FakeApi, wait_for

# The toy's one family, in the catalogue's shape (a real source adds it to the catalogue).
TOY = Family("toy_desktops", "gauge", "Desktops the toy source listed (cached, refreshed every hour).")
NS = "huaweicloud_workspace_"


@dataclasses.dataclass(frozen=True)
class ToySnapshot:
    desktops: int


class ToySource:
    """Counts the desktops of the light list (``desktops_list``) through the real client."""

    name = "toy"
    apis: tuple[str, ...] = ("desktops_list",)

    def __init__(self, client: Any, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self.snapshot: ToySnapshot | None = None
        self.configs: list[Config] = []
        self.refreshes = 0
        self.refreshed = threading.Event()

    def interval(self) -> float:
        return 3600.0  # once at start; a kick (a reload that moves the upstream) refreshes again

    def refresh(self) -> None:
        n = sum(len(page.items) for page in self._client.listing("desktops_list", "desktops"))
        if self.snapshot is None or self.snapshot.desktops != n:  # unchanged: keep it, render nothing
            self.snapshot = ToySnapshot(n)
        self.refreshes += 1
        self.refreshed.set()

    def reconfigure(self, config: Config) -> None:
        self.configs.append(config)


def toy_families(snap: ToySnapshot) -> list[Metric]:
    return [GaugeMetricFamily(TOY.full_name, TOY.help, value=snap.desktops)]


def _render_toy(x: Wiring) -> Families:
    toy = x.source("toy", ToySource)
    return Families(lambda: toy.snapshot, toy_families)


TOY_ENTRY = SourceEntry(
    "toy",
    lambda x: ToySource(x.client, x.clock),
    _render_toy,
    ToySource.apis,
    readiness=True,
)
CONNECTIONS = next(e for e in SOURCES if e.name == "connections")
TABLE = (TOY_ENTRY, CONNECTIONS)  # no inventory, no monitoring


def _write(path: Path, fake_api: FakeApi, connections: bool = True) -> None:
    raw = fake_api.config(connections={"enabled": connections}, web={"ready_timeout": "1h"})
    path.write_text(yaml.safe_dump(raw), "utf-8")


def _scrape(url: str, accept: str = "", **params: str) -> str:
    r = requests.get(url + "/metrics", headers={"Accept": accept}, params=params, timeout=10)
    r.raise_for_status()
    return r.text


def test_a_toy_source_added_by_its_table_row_alone_works_without_an_inventory(
    fake_api: FakeApi, tmp_path: Path, monkeypatch: Any
) -> None:
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "config.yaml"
    _write(config, fake_api)
    multi = MultiExporter(load_targets(config), table=TABLE)
    e = multi.exporters[0]
    toy = e.source("toy", ToySource)
    assert list(e.sources) == ["toy", "connections"]
    assert not multi.ready()  # before start: the toy has not refreshed
    server = HTTPServer(
        "127.0.0.1", 0, make_app(multi.exposition, multi.ready, multi.reload, None, lifecycle=True)
    )
    multi.start()
    server.start()
    try:
        # start, refresh, ready
        assert toy.refreshed.wait(15)
        wait_for(multi.ready)
        wait_for(multi.exposition.current)
        # render: the toy's family, its up and its API's self-metrics, no desktop families
        text = _scrape(server.url)
        assert f"{TOY.full_name} {float(len(fake_api.state.desktops))}\n" in text
        assert f'{NS}up{{source="toy"}} 1.0' in text
        assert f'{NS}up{{source="connections"}}' in text
        assert f'{NS}api_request_duration_seconds_count{{api="desktops_list"}}' in text
        assert 'source="inventory"' not in text and f"{NS}desktop_info" not in text
        assert f"{NS}monitored_desktops" not in text
        om = _scrape(server.url, "application/openmetrics-text; version=1.0.0")
        families = {f.name for f in openmetrics_families(om)}
        assert {TOY.full_name, f"{NS}up", f"{NS}connections"} <= families
        only = _scrape(server.url, "application/openmetrics-text; version=1.0.0", **{"name[]": TOY.full_name})
        assert [f.name for f in openmetrics_families(only)] == [TOY.full_name]
        # reload: the new config reaches the toy; connections turned off stops exporting
        before = toy.refreshes
        _write(config, fake_api, connections=False)
        r = requests.post(server.url + "/-/reload", timeout=10)
        assert r.status_code == 200, r.text
        assert toy.configs[-1].connections.enabled is False
        wait_for(multi.exposition.current)
        text = _scrape(server.url)
        assert f'{NS}up{{source="toy"}} 1.0' in text and 'source="connections"' not in text
        assert toy.refreshes == before  # nothing upstream moved: no refresh forced
        assert multi.ready()
    finally:
        server.stop()
        multi.stop()
    # stop: every runner ended
    assert not any(t.is_alive() for t in e.threads())
    assert e.runner("toy") is not None and not e.runner("toy").is_alive()  # type: ignore[union-attr]
