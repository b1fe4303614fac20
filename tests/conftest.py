"""Shared fixtures: the fake Workspace API on 127.0.0.1 and an in-process exporter against it.

Every server a fixture starts, the fixture stops. Waiting is a deadline loop, never a
fixed sleep.

The fake holds every request to the constraint table (exporter/constraints/), and after
every test :func:`no_request_broke_a_documented_constraint` fails the test if any fake
that existed during it refused or adjusted a request. A test that sends such requests
on purpose says so with ``@pytest.mark.fake_rejects``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.app.exporter import Exporter
from exporter.app.multi import MultiExporter
from exporter.config.settings import Settings, parse_config
from exporter.exposition.render import CachedExposition
from exporter.fake import FakeServer, FakeWorkspace, strict
from exporter.serve.server import HTTPServer, make_app


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def no_request_broke_a_documented_constraint(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test in which the exporter broke a row of the constraint table (any fake)."""
    before = {id(s): len(s.violations) for s in strict.live()}
    yield
    if request.node.get_closest_marker("fake_rejects") is not None:
        return
    broken = [v for s in strict.live() for v in s.violations[before.get(id(s), 0) :]]
    if broken:
        pytest.fail("requests broke the constraint table:\n" + strict.describe(broken), pytrace=False)


@dataclass
class FakeApi:
    state: FakeWorkspace
    url: str

    def env(self) -> dict[str, str]:
        return {"HUAWEICLOUD_SDK_AK": self.state.ak, "HUAWEICLOUD_SDK_SK": self.state.sk}

    def config(self, **overrides: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "region": self.state.region,
            "project_id": self.state.project_id,
            "endpoints": {"workspace": self.url, "iam": self.url, "ces": self.url},
            "http": {"backoff_initial": "0.05s", "backoff_max": "0.2s", "throttle_backoff": "0.1s"},
            "budget": {"burst": 50, "per_api": {"desktop_monitor": 6000, "desktops_detail": 6000}},
            "connections": {"enabled": False},
            "events": {"enabled": False},
        }
        for key, value in overrides.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        return raw


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    state = FakeWorkspace(desktops=10)
    server = FakeServer(state)
    url = server.start()
    try:
        yield FakeApi(state, url)
    finally:
        server.stop()


def fast(settings: Settings, inventory: float = 0.5, monitoring: float = 1.0) -> Settings:
    """Shrink refresh intervals below the validated minimums, for tests only."""
    cfg = settings.config
    cfg = dataclasses.replace(
        cfg,
        inventory=dataclasses.replace(cfg.inventory, interval=inventory),
        monitoring=dataclasses.replace(cfg.monitoring, interval=monitoring),
    )
    return dataclasses.replace(settings, config=cfg)


@dataclass
class RunningExporter:
    exporter: Exporter
    server: HTTPServer
    exposition: CachedExposition | None = None  # data are rendered in the background: wait for them

    @property
    def url(self) -> str:
        return self.server.url

    def scrape(self) -> str:
        if self.exposition is not None:
            wait_for(self.exposition.current)
        r = requests.get(self.url + "/metrics", timeout=10)
        r.raise_for_status()
        return r.text

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        out = {}
        for fam in text_string_to_metric_families(self.scrape()):
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def start_exporter(fake_api: FakeApi) -> Iterator[Callable[..., RunningExporter]]:
    running: list[RunningExporter] = []

    def start(settings: Settings | None = None, **overrides: Any) -> RunningExporter:
        s = settings or fast(parse_config(fake_api.config(**overrides), fake_api.env()))
        multi = MultiExporter([s])
        server = HTTPServer(
            "127.0.0.1",
            0,
            make_app(multi.exposition, multi.ready, multi.reload, None, lifecycle=True),
        )
        multi.start()
        server.start()
        r = RunningExporter(multi.exporters[0], server, multi.exposition)
        running.append(r)
        return r

    try:
        yield start
    finally:
        for r in running:
            r.server.stop()
            r.exporter.stop()
