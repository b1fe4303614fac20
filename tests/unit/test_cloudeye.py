"""The Cloud Eye monitoring source with a fake clock and an in-memory Cloud Eye: parsing, the
newest point, dimension discovery, partial failures, expiry, inventory filtering, online state,
plus the real client's paging bounds against a real HTTP server on 127.0.0.1, and the config keys."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import Config, MonitoringConfig, parse_config
from exporter.errors import (
    ClientRequestError,
    ConfigError,
    InvalidResponseError,
    ShutdownError,
    ThrottledError,
    UpstreamError,
    UpstreamUnavailableError,
)
from exporter.sources.cloudeye.dimension import most_common_dimension
from exporter.sources.cloudeye.ledger import online_state
from exporter.sources.cloudeye.query import METRICS
from exporter.sources.cloudeye.source import CloudEyeSource, InventoryNotReadyError
from exporter.sources.cloudeye.v2 import newest_points
from exporter.sources.inventory import Desktop, InventorySnapshot
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient

T0 = 1_763_900_100  # a 5-minute boundary
DIM = "instance_id"


def _point(did: str, value: Any, ts: Any = T0 * 1000, dim: str = DIM) -> dict[str, Any]:
    return {"dimensions": [{"name": dim, "value": did, "origin_value": did}], "timestamp": ts, "value": value}


class FakeCes:
    """In-memory Cloud Eye: per metric a list of datapoints; per metric an optional error."""

    def __init__(self, dimension: str = DIM) -> None:
        self.dimension = dimension
        self.points: dict[str, list[dict[str, Any]]] = {}
        self.errors: dict[str, UpstreamError] = {}
        self.list_error: UpstreamError | None = None
        self.listing: list[dict[str, Any]] | None = None  # None: derived from the points
        self.batch_calls: list[dict[str, Any]] = []
        self.list_calls: list[tuple[str, int]] = []
        self.v2_error: UpstreamError | None = None  # every v2 call raises it (a region without v2)
        self.v1_error: UpstreamError | None = None
        self.v1_calls: list[dict[str, Any]] = []

    def ces_list_metrics(self, namespace: str, max_pages: int = 100) -> list[dict[str, Any]]:
        self.list_calls.append((namespace, max_pages))
        if self.list_error is not None:
            raise self.list_error
        if self.listing is not None:
            return self.listing
        return [
            {"namespace": namespace, "metric_name": m, "dimensions": [{"name": self.dimension, "value": "x"}]}
            for m in self.points
        ]

    def ces_batch_latest(
        self,
        namespace: str,
        metric_name: str,
        dimension: str,
        from_ms: int,
        to_ms: int,
        max_points: int = 200_000,
    ) -> list[dict[str, Any]]:
        self.batch_calls.append(
            {
                "namespace": namespace,
                "metric": metric_name,
                "dimension": dimension,
                "from": from_ms,
                "to": to_ms,
            }
        )
        if self.v2_error is not None:
            raise self.v2_error
        if metric_name in self.errors:
            raise self.errors[metric_name]
        if dimension != self.dimension:
            return []
        return list(self.points.get(metric_name, []))

    def ces_batch_series(
        self, metrics: list[dict[str, Any]], period: int, from_ms: int, to_ms: int
    ) -> list[dict[str, Any]]:
        """The v1 query over the same points: one series per (metric, desktop) entry."""
        self.v1_calls.append({"metrics": metrics, "period": period, "from": from_ms, "to": to_ms})
        if self.v1_error is not None:
            raise self.v1_error
        out = []
        for entry in metrics:
            name, dim = entry["metric_name"], entry["dimensions"][0]
            if name in self.errors:
                raise self.errors[name]
            series = [
                {"average": p["value"], "timestamp": p["timestamp"]}
                for p in self.points.get(name, [])
                if dim["name"] == self.dimension and p["dimensions"][0]["value"] == dim["value"]
            ]
            out.append({**entry, "unit": "", "datapoints": series})
        return out


class Sink:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def invalid_response(self, api: str) -> None:
        self.counts[api] += 1


def _inventory(*desktops: tuple[str, str]) -> InventorySnapshot:
    return InventorySnapshot.of([Desktop(did, login_status=ls) for did, ls in desktops], T0)


class Harness:
    def __init__(self, dimension: str = DIM, **config: Any) -> None:
        self.clock = FakeClock(T0 + 60.0)
        self.ces = FakeCes()
        self.sink = Sink()
        self.inventory: InventorySnapshot | None = _inventory(("d1", "CONNECTED"), ("d2", "REGISTERED"))
        cfg = MonitoringConfig(source="cloudeye", cloudeye_dimension=dimension, **config)
        self.source = CloudEyeSource(self.ces, cfg, self.clock, self.sink, lambda: self.inventory)

    def entries(self) -> dict[str, dict[str, float]]:
        return {did: dict(m.values) for did, m in self.source.snapshot.entries.items()}


def test_percentages_become_ratios_and_the_newest_point_per_desktop_wins() -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [
        _point("d1", 10.0, (T0 - 300) * 1000),
        _point("d1", 42.5, T0 * 1000),
        _point("d2", 7.0, T0 * 1000),
    ]
    h.ces.points["mem_util"] = [_point("d1", 80.0)]
    h.ces.points["disk_read_bytes_rate"] = [_point("d1", 1024)]
    h.ces.points["network_incoming_bytes_aggregate_rate"] = [_point("d1", 5.5)]
    h.source.refresh()
    e = h.entries()
    assert e["d1"]["cpu_usage_ratio"] == pytest.approx(0.425)
    assert e["d1"]["memory_usage_ratio"] == pytest.approx(0.8)
    assert e["d1"]["disk_read_bytes_per_second"] == 1024.0
    assert e["d1"]["network_outband_receive_bytes_per_second"] == 5.5
    assert e["d2"] == {"cpu_usage_ratio": pytest.approx(0.07)}
    assert h.source.snapshot.entries["d1"].sample_time == T0  # milliseconds became seconds
    assert h.sink.counts == Counter()


def test_every_metric_of_the_workspace_source_is_queried_once_and_kept_in_its_order() -> None:
    h = Harness()
    for metric in reversed(list(METRICS)):
        h.ces.points[metric] = [_point("d1", 1.0)]
    h.source.refresh()
    assert [c["metric"] for c in h.ces.batch_calls] == list(METRICS)
    assert [k for k, _ in h.source.snapshot.entries["d1"].values] == [k for k, _ in METRICS.values()]
    assert len(METRICS) == 12
    assert METRICS["cpu_util"] == ("cpu_usage_ratio", 100.0)
    assert METRICS["mem_util"] == ("memory_usage_ratio", 100.0)
    assert METRICS["disk_util_inband"] == ("disk_usage_ratio", 100.0)
    assert METRICS["network_vm_connections"] == ("network_connections", 1.0)


def test_the_query_window_is_just_under_five_minutes_ending_the_delay_before_now() -> None:
    """The v2 query takes a window "within 5 minutes": 300,000 ms itself may be refused."""
    h = Harness(cloudeye_delay=90.0)
    h.source.refresh()
    call = h.ces.batch_calls[0]
    assert call["to"] == (T0 + 60 - 90) * 1000
    assert call["to"] - call["from"] == 299_999
    assert call["namespace"] == "SYS.Workspace"
    assert call["dimension"] == DIM


def test_points_for_desktops_outside_the_inventory_are_counted_and_skipped() -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [_point("d1", 1.0), _point("gone", 2.0), _point("other", 3.0)]
    h.source.refresh()
    assert set(h.entries()) == {"d1"}
    assert h.sink.counts["ces_batch_v2"] == 2


def test_the_origin_value_is_used_when_the_value_is_not_a_desktop_id() -> None:
    p = {
        "dimensions": [{"name": DIM, "value": "masked", "origin_value": "d1"}],
        "timestamp": T0,
        "value": 1.0,
    }
    best, invalid = newest_points([p], DIM, {"d1": None}, T0)
    assert best == {"d1": (1.0, float(T0))}
    assert invalid == 0


@pytest.mark.parametrize(
    "point",
    [
        _point("d1", True),
        _point("d1", float("nan")),
        _point("d1", float("inf")),
        _point("d1", -1.0),
        _point("d1", "12.5%"),
        _point("d1", None),
        _point("d1", 1.0, ts=None),
        _point("d1", 1.0, ts="n/a"),
        _point("d1", 1.0, ts=(T0 + 86400) * 1000),
        _point("d1", 1.0, dim="other_dimension"),
        {"timestamp": T0, "value": 1.0},
        {"dimensions": "d1", "timestamp": T0, "value": 1.0},
    ],
    ids=lambda p: repr(p)[:60],
)
def test_garbage_points_are_counted_and_skipped(point: dict[str, Any]) -> None:
    best, invalid = newest_points([point, _point("d2", 3.0)], DIM, {"d1": None, "d2": None}, T0)
    assert best == {"d2": (3.0, float(T0))}
    assert invalid == 1


def test_a_configured_dimension_is_used_without_listing_metrics() -> None:
    h = Harness(dimension="desktop_id")
    h.ces.dimension = "desktop_id"
    h.ces.points["cpu_util"] = [_point("d1", 50.0, dim="desktop_id")]
    h.source.refresh()
    assert h.ces.list_calls == []
    assert h.source.dimension == "desktop_id"
    assert h.entries()["d1"]["cpu_usage_ratio"] == 0.5


def test_the_dimension_is_discovered_once_from_the_most_common_name() -> None:
    h = Harness(dimension="")
    h.ces.dimension = "desktop_id"
    h.ces.listing = [
        {"metric_name": "cpu_util", "dimensions": [{"name": "desktop_id", "value": "d1"}]},
        {"metric_name": "mem_util", "dimensions": [{"name": "desktop_id", "value": "d1"}]},
        {"metric_name": "cpu_util", "dimensions": [{"name": "instance_id", "value": "d1"}]},
        {"metric_name": "junk", "dimensions": "not a list"},
    ]
    h.ces.points["cpu_util"] = [_point("d1", 50.0, dim="desktop_id")]
    h.source.refresh()
    h.clock.advance(300)
    h.source.refresh()
    assert h.ces.list_calls == [("SYS.Workspace", 1)]  # one page, once
    assert h.source.dimension == "desktop_id"
    assert {c["dimension"] for c in h.ces.batch_calls} == {"desktop_id"}
    assert h.entries()["d1"]["cpu_usage_ratio"] == 0.5


def test_most_common_dimension_ignores_malformed_entries() -> None:
    assert most_common_dimension([]) is None
    assert most_common_dimension([{"dimensions": [{"name": ""}, "x", {"value": "v"}]}]) is None
    assert (
        most_common_dimension(
            [{"dimensions": [{"name": "a"}]}, {"dimensions": [{"name": "b"}]}] * 2
            + [{"dimensions": [{"name": "b"}]}]
        )
        == "b"
    )


def test_an_empty_metric_list_falls_back_to_instance_id_and_discovers_again_later() -> None:
    h = Harness(dimension="")
    h.ces.listing = []
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    h.source.refresh()
    assert {c["dimension"] for c in h.ces.batch_calls} == {"instance_id"}
    assert h.source.dimension is None  # the fallback is not cached
    assert h.entries()["d1"]["cpu_usage_ratio"] == pytest.approx(0.1)
    h.ces.listing = None  # metrics appeared
    h.ces.dimension = "desktop_id"
    h.source.refresh()
    assert len(h.ces.list_calls) == 2
    assert h.source.dimension == "desktop_id"


def test_a_failing_discovery_uses_the_fallback_and_marks_the_refresh_failed() -> None:
    h = Harness(dimension="")
    h.ces.list_error = UpstreamUnavailableError("ces_metrics", 503)
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    with pytest.raises(UpstreamUnavailableError):
        h.source.refresh()
    assert h.entries()["d1"]["cpu_usage_ratio"] == pytest.approx(0.1)  # data flowed anyway


def test_one_failing_metric_keeps_the_others_and_its_own_last_values() -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    h.ces.points["mem_util"] = [_point("d1", 20.0)]
    h.source.refresh()
    h.clock.advance(300)
    h.ces.points["cpu_util"] = [_point("d1", 30.0, (T0 + 300) * 1000)]
    h.ces.errors["mem_util"] = ThrottledError("ces_batch_v2", 429, "APIGW.0308")
    with pytest.raises(ThrottledError):  # systemic: the runner marks the source down
        h.source.refresh()
    e = h.entries()["d1"]
    assert e["cpu_usage_ratio"] == pytest.approx(0.3)
    assert e["memory_usage_ratio"] == pytest.approx(0.2)  # kept until max_age
    assert len(h.ces.batch_calls) == 2 * len(METRICS)  # the other metrics were still queried


def test_an_early_retry_asks_only_for_the_metrics_that_failed() -> None:
    h = Harness()
    h.ces.errors["mem_util"] = UpstreamUnavailableError("ces_batch_v2", 503)
    with pytest.raises(UpstreamUnavailableError):
        h.source.refresh()
    del h.ces.errors["mem_util"]
    h.ces.batch_calls.clear()
    h.clock.advance(15)  # the runner's first backoff
    h.source.refresh()
    assert [c["metric"] for c in h.ces.batch_calls] == ["mem_util"]
    h.ces.batch_calls.clear()
    h.clock.advance(300)
    h.source.refresh()
    assert len(h.ces.batch_calls) == len(METRICS)


def test_three_systemic_failures_in_a_row_end_the_refresh_early() -> None:
    h = Harness()
    for metric in METRICS:
        h.ces.errors[metric] = UpstreamUnavailableError("ces_batch_v2", 503)
    with pytest.raises(UpstreamUnavailableError):
        h.source.refresh()
    assert len(h.ces.batch_calls) == 3


def test_on_the_v1_path_three_systemic_failures_in_a_row_end_the_refresh_early() -> None:
    h = Harness()
    # 200 desktops x every metric: more v1 batches (500 pairs each) than the give-up streak.
    h.inventory = _inventory(*((f"d{i}", "CONNECTED") for i in range(200)))
    h.ces.v2_error = ClientRequestError("ces_batch_v2", 404, "APIGW.0101", "not found")
    for metric in METRICS:
        h.ces.errors[metric] = UpstreamUnavailableError("ces_batch_v1", 503)
    with pytest.raises(UpstreamUnavailableError):
        h.source.refresh()
    assert len(METRICS) * 200 > 3 * 500  # the refresh would have needed more calls
    assert len(h.ces.v1_calls) == 3


def test_a_request_error_on_one_metric_does_not_fail_the_refresh() -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    h.ces.errors["network_vm_connections"] = ClientRequestError("ces_batch_v2", 400, "ces.0014")
    h.source.refresh()  # no exception: up stays 1
    assert h.entries()["d1"]["cpu_usage_ratio"] == pytest.approx(0.1)


def test_every_metric_failing_with_request_errors_fails_the_refresh() -> None:
    h = Harness()
    h.source.refresh()  # v2 answers: the region has it
    for metric in METRICS:
        h.ces.errors[metric] = ClientRequestError("ces_batch_v2", 400, "ces.0014")
    with pytest.raises(ClientRequestError):
        h.source.refresh()


def test_values_expire_max_age_after_their_last_refresh() -> None:
    h = Harness(max_age=1800.0)
    h.ces.points["cpu_util"] = [_point("d1", 10.0), _point("d2", 20.0)]
    h.source.refresh()
    h.ces.points["cpu_util"] = [_point("d2", 25.0)]  # d1 stops reporting
    h.clock.advance(1799)
    h.source.refresh()
    assert set(h.entries()) == {"d1", "d2"}
    h.clock.advance(1)
    h.source.refresh()
    assert set(h.entries()) == {"d2"}
    assert h.entries()["d2"]["cpu_usage_ratio"] == pytest.approx(0.25)


def test_desktops_that_leave_the_inventory_vanish_at_the_next_refresh() -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [_point("d1", 10.0), _point("d2", 20.0)]
    h.source.refresh()
    h.inventory = _inventory(("d2", "CONNECTED"))
    h.ces.points["cpu_util"] = []
    h.source.refresh()
    assert set(h.entries()) == {"d2"}


@pytest.mark.parametrize(
    ("login_status", "state"),
    [
        ("CONNECTED", "logged_in"),
        ("DISCONNECTED", "not_logged_in"),
        ("REGISTERED", "not_logged_in"),
        ("UNREGISTER", "not_logged_in"),
        ("", None),
        ("SOMETHING_NEW", None),
    ],
)
def test_online_state_comes_from_the_inventory_login_status(login_status: str, state: str | None) -> None:
    assert online_state(login_status) == state
    h = Harness()
    h.inventory = _inventory(("d1", login_status))
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    h.source.refresh()
    m = h.source.snapshot.entries["d1"]
    assert m.online_state == state
    assert (m.session_start, m.session_end) == (None, None)


def test_each_refresh_swaps_in_a_new_read_only_snapshot() -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    h.source.refresh()
    first = h.source.snapshot
    h.source.refresh()
    assert h.source.snapshot is not first
    assert h.source.snapshot.version > first.version
    with pytest.raises(TypeError):
        first.entries["x"] = first.entries["d1"]  # type: ignore[index]


def test_an_empty_inventory_costs_no_cloud_eye_calls() -> None:
    h = Harness(dimension="")
    h.inventory = _inventory()
    h.source.refresh()
    assert h.ces.batch_calls == [] and h.ces.list_calls == []
    assert h.entries() == {}


def test_the_source_waits_for_the_inventory_then_gives_up_with_a_typed_error() -> None:
    h = Harness()
    h.inventory = None
    with pytest.raises(InventoryNotReadyError):
        h.source.refresh()
    assert h.ces.batch_calls == []


def test_a_disabled_source_makes_no_calls() -> None:
    h = Harness()
    h.source.reconfigure(
        Config(monitoring=MonitoringConfig(enabled=False, source="cloudeye", cloudeye_dimension=DIM))
    )
    h.source.refresh()
    assert h.ces.batch_calls == []


def test_a_new_namespace_on_reload_is_discovered_again() -> None:
    h = Harness(dimension="")
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    h.source.refresh()
    before = h.source.dimension
    h.source.reconfigure(
        Config(monitoring=MonitoringConfig(source="cloudeye", cloudeye_namespace="SYS.Other"))
    )
    assert (before, h.source.dimension) == (DIM, None)
    h.source.refresh()
    assert h.ces.list_calls == [("SYS.Workspace", 1), ("SYS.Other", 1)]


# ---------------------------------------------------------------------------- client paging


Reply = Callable[[str, dict[str, str], dict[str, Any]], dict[str, Any]]
_API_BY_PATH = {"metrics": "ces_metrics", "batch-query-metric-data": "ces_batch_v2"}


class CesServer:
    """A real HTTP server on 127.0.0.1 answering Cloud Eye calls from ``reply``; records each call."""

    def __init__(self) -> None:
        self.reply: Reply = lambda *_: {}
        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlsplit(self.path)
                api = _API_BY_PATH.get(url.path.rsplit("/", 1)[-1], "unknown")
                params = dict(parse_qsl(url.query))
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size)) if size else {}
                outer.calls.append((api, params, body))
                data = json.dumps(outer.reply(api, params, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def ces() -> Iterator[CesServer]:
    server = CesServer()
    try:
        yield server
    finally:
        server.stop()


def _client(ces: CesServer, reply: Reply) -> tuple[WorkspaceClient, list[Any]]:
    """The real client (signing, budget, HTTP) against ``ces``, which answers with ``reply``."""
    raw = {
        "region": "ap-southeast-1",
        "project_id": "p" * 32,
        "endpoints": {"ces": ces.url},
        "budget": {"per_api": {"ces_batch_v2": 100_000, "ces_metrics": 100_000}, "burst": 1000},
        "http": {"max_retries": 0},
    }
    settings = parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})
    client = WorkspaceClient(settings, Budget(settings.config.budget, FakeClock()), clock=FakeClock())
    ces.reply = reply
    ces.calls = []
    return client, ces.calls


def _fleet(n: int) -> Any:
    def reply(api: str, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        lo, hi = body["offset"], min(n, body["offset"] + body["limit"])
        return {"data_points": [_point(f"d{i}", 1.0) for i in range(lo, hi)]}

    return reply


@pytest.mark.parametrize(("desktops", "pages"), [(0, 1), (999, 2), (1000, 2), (2500, 4), (10_000, 11)])
def test_the_batch_query_pages_by_a_thousand_until_an_empty_page(
    ces: CesServer, desktops: int, pages: int
) -> None:
    client, calls = _client(ces, _fleet(desktops))
    points = client.ces_batch_latest("SYS.Workspace", "cpu_util", DIM, 1, 2)
    assert len(points) == desktops
    assert len(calls) == pages
    assert [c[2]["offset"] for c in calls] == [min(i * 1000, desktops) for i in range(pages)]
    assert {c[2]["limit"] for c in calls} == {1000}
    assert calls[0][2]["metric_dimension"] == DIM and calls[0][2]["from"] == 1 and calls[0][2]["to"] == 2


def test_a_short_page_before_the_end_does_not_end_the_batch_query(ces: CesServer) -> None:
    """The SDK documents the empty page as the end: a server that caps pages below the
    asked limit still has every datapoint read."""
    n = 1700

    def reply(api: str, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        lo = body["offset"]
        return {"data_points": [_point(f"d{i}", 1.0) for i in range(lo, min(n, lo + 400))]}

    client, calls = _client(ces, reply)
    points = client.ces_batch_latest("SYS.Workspace", "cpu_util", DIM, 1, 2)
    assert len(points) == n
    assert [c[2]["offset"] for c in calls] == [0, 400, 800, 1200, 1600, 1700]


def test_the_batch_query_fails_when_the_upstream_ignores_the_offset(ces: CesServer) -> None:
    client, calls = _client(ces, lambda *_: {"data_points": [_point("d", 1.0)] * 1000})
    with pytest.raises(InvalidResponseError, match="offset is ignored"):
        client.ces_batch_latest("SYS.Workspace", "cpu_util", DIM, 1, 2, max_points=5000)
    assert len(calls) == 2


def test_the_batch_query_stops_quietly_at_its_point_bound(ces: CesServer) -> None:
    def reply(api: str, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        offset = int(body.get("offset", 0))
        return {"data_points": [_point(f"d{offset + i}", 1.0) for i in range(1000)]}

    client, calls = _client(ces, reply)
    points = client.ces_batch_latest("SYS.Workspace", "cpu_util", DIM, 1, 2, max_points=5000)
    assert len(calls) == 5 and len(points) == 5000


def test_a_batch_answer_without_data_points_is_an_invalid_response(ces: CesServer) -> None:
    client, _ = _client(ces, lambda *_: {"unexpected": "shape"})
    with pytest.raises(InvalidResponseError):
        client.ces_batch_latest("SYS.Workspace", "cpu_util", DIM, 1, 2)
    client, _ = _client(ces, lambda *_: {"data_points": None})
    assert client.ces_batch_latest("SYS.Workspace", "cpu_util", DIM, 1, 2) == []


def test_the_metric_list_pages_by_marker_and_is_bounded(ces: CesServer) -> None:
    def reply(api: str, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        start = int(params.get("start", "0"))
        return {"metrics": [{"metric_name": "m"}] * 1000, "meta_data": {"marker": str(start + 1)}}

    client, calls = _client(ces, reply)
    assert len(client.ces_list_metrics("SYS.Workspace", max_pages=3)) == 3000
    assert [c[1].get("start") for c in calls] == [None, "1", "2"]
    assert {c[1]["namespace"] for c in calls} == {"SYS.Workspace"}
    client, calls = _client(ces, lambda *_: {"metrics": [{}] * 10, "meta_data": {"marker": "x"}})
    assert len(client.ces_list_metrics("SYS.Workspace")) == 10 and len(calls) == 1


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("monitoring", "problem"),
    [
        ({"source": "ces"}, "monitoring.source: must be one of auto, workspace, cloudeye"),
        ({"cloudeye_namespace": "Workspace"}, "monitoring.cloudeye_namespace:"),
        ({"cloudeye_dimension": "1bad"}, "monitoring.cloudeye_dimension:"),
        ({"cloudeye_dimension": "a" * 33}, "monitoring.cloudeye_dimension:"),
        ({"cloudeye_delay": "2h"}, "monitoring.cloudeye_delay: must be at most 3600s"),
    ],
)
def test_bad_cloudeye_settings_are_rejected_with_their_key_path(
    monitoring: dict[str, Any], problem: str
) -> None:
    raw = {"region": "ap-southeast-1", "monitoring": monitoring}
    with pytest.raises(ConfigError) as e:
        parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"})
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_the_keys_default_to_the_auto_source_and_a_full_cloudeye_config_is_accepted() -> None:
    cfg = MonitoringConfig()
    assert (cfg.source, cfg.cloudeye_namespace, cfg.cloudeye_dimension) == ("auto", "SYS.Workspace", "")
    assert cfg.cloudeye_delay == 60.0
    raw = {
        "region": "ap-southeast-1",
        "monitoring": {"source": "cloudeye", "cloudeye_dimension": "desktop-id_1", "cloudeye_delay": "0s"},
    }
    cfg = parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"}).config.monitoring
    assert (cfg.source, cfg.cloudeye_dimension, cfg.cloudeye_delay) == ("cloudeye", "desktop-id_1", 0.0)


def test_shutdown_while_waiting_for_the_inventory_stops_quickly() -> None:
    stop = threading.Event()
    stop.set()
    src = CloudEyeSource(
        FakeCes(), MonitoringConfig(source="cloudeye"), FakeClock(), Sink(), lambda: None, stop
    )
    with pytest.raises(ShutdownError):
        src.refresh()


def test_a_metric_that_keeps_failing_is_logged_once_although_each_answer_has_its_own_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    h.ces.points["cpu_util"] = [_point("d1", 10.0)]
    for n in range(3):
        h.ces.errors["network_vm_connections"] = ClientRequestError(
            "ces_batch_v2", 400, "ces.0014", f"bad request {n}", f"req-{n}"
        )
        h.clock.advance(300)
        h.source.refresh()
    lines = [r for r in caplog.records if "Cloud Eye query failed" in r.getMessage()]
    assert len(lines) == 1
