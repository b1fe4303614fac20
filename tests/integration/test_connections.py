"""Connection-record counting against the fake Workspace API over real HTTP on 127.0.0.1.

The fake and the client share one FakeClock, so poll windows, signatures and record
times move together without sleeping.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import ConnectionsConfig, parse_config
from exporter.errors import InvalidResponseError
from exporter.fake import FAILURE_EXAMPLE, FakeServer, FakeWorkspace
from exporter.sources.connections import ConnectionsSource
from exporter.timeutil import parse_time
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from tests.conftest import FakeApi, RunningExporter, wait_for

pytestmark = pytest.mark.integration

T0 = 1_800_000_030.0
NS = "huaweicloud_workspace_"
REASONS = (FAILURE_EXAMPLE, "400300:Desktop is not ready.", "no numeric code")


class Observer(NullObserver):
    def __init__(self) -> None:
        self.invalid: Counter[str] = Counter()

    def invalid_response(self, api: str) -> None:
        self.invalid[api] += 1


@dataclass
class World:
    clock: FakeClock
    state: FakeWorkspace
    url: str
    observer: Observer = field(default_factory=Observer)
    clients: list[WorkspaceClient] = field(default_factory=list)

    def source(self, http: dict[str, Any] | None = None, **connections: Any) -> ConnectionsSource:
        raw = {
            "region": self.state.region,
            "project_id": self.state.project_id,
            "endpoints": {"workspace": self.url, "iam": self.url, "ces": self.url},
            "budget": {"burst": 100, "per_api": {"connections": 6000, "login_records": 6000}},
            "http": http or {},
            "connections": connections,
        }
        settings = parse_config(
            raw, {"HUAWEICLOUD_SDK_AK": self.state.ak, "HUAWEICLOUD_SDK_SK": self.state.sk}
        )
        client = WorkspaceClient(
            settings, Budget(settings.config.budget, self.clock), self.observer, self.clock
        )
        self.clients.append(client)
        config: ConnectionsConfig = settings.config.connections
        return ConnectionsSource(client, config, self.clock, self.observer)

    def poll(self, *sources: ConnectionsSource, seconds: float = 60.0) -> None:
        self.clock.advance(seconds)
        for s in sources:
            s.refresh()

    def add(self, offset: float, **fields: Any) -> dict[str, Any]:
        """A record that started ``offset`` seconds from now (negative: in the past)."""
        return self.state.add_connection_record(
            connection_start_time=math.floor(self.clock.time() + offset), **fields
        )

    def expected(self, source: ConnectionsSource) -> tuple[int, Counter[str], float, int]:
        """(attempts, failures by code, network rtt sum in s, setup observations) from the fake's data."""
        attempts, failures, rtt, setups = 0, Counter[str](), 0.0, 0
        for rec in self.state.connection_records:
            start = parse_time(rec["connection_start_time"])
            if start is None or start < source.horizon:
                continue
            attempts += 1
            reason = rec.get("connection_failure_reason")
            if reason:
                code = reason.split(":", 1)[0]
                failures[code if code.isdigit() else "unknown"] += 1
                continue
            if rec.get("network_rtt") is not None:
                rtt += rec["network_rtt"] / 1000
            if rec.get("connection_setup_time"):
                setups += 1
        return attempts, failures, rtt, setups


@pytest.fixture
def world() -> Iterator[World]:
    clock = FakeClock(T0)
    state = FakeWorkspace(desktops=5, now=clock.time)
    server = FakeServer(state)
    url = server.start()
    w = World(clock, state, url)
    try:
        yield w
    finally:
        for c in w.clients:
            c.close()
        server.stop()


def _failures(source: ConnectionsSource) -> Counter[str]:
    return Counter({k[0]: v for k, v in source.snapshot.failures.items()})


def _total(source: ConnectionsSource) -> int:
    return sum(source.snapshot.connections.values())


def test_counts_are_exact_after_many_polls_with_overlapping_windows(world: World) -> None:
    src = world.source(overlap="5m")
    src.refresh()
    pending: list[str] = []
    for minute in range(12):
        world.clock.advance(60)
        for i in range(3):
            fields: dict[str, Any] = {}
            if (minute + i) % 4 == 0:
                fields["connection_failure_reason"] = REASONS[minute % len(REASONS)]
            elif i == 2:
                fields.update(connection_setup_time=None, network_rtt=None)  # still connecting
            rec = world.add(-50 + 20 * i, **fields)
            if i == 2 and not fields.get("connection_failure_reason"):
                pending.append(rec["transaction_id"])
        if len(pending) > 1:  # complete an attempt seen in an earlier poll
            tid = pending.pop(0)
            world.state.update_connection_record(
                tid, connection_setup_time=math.floor(world.clock.time()) - 5, network_rtt=33
            )
        src.refresh()
    for _ in range(6):
        world.poll(src)
    attempts, failures, rtt, setups = world.expected(src)
    snap = src.snapshot
    assert _total(src) == attempts == 36
    assert _failures(src) == failures
    assert snap.network_rtt.sum == pytest.approx(rtt)
    assert snap.setup.count == setups
    assert world.observer.invalid == Counter()


def test_records_that_arrive_late_are_counted_once(world: World) -> None:
    src = world.source(overlap="5m")
    src.refresh()
    for _ in range(4):
        world.poll(src)
    world.add(-150)  # started before the last two polls, visible only now
    world.add(-200, connection_failure_reason=FAILURE_EXAMPLE)
    world.poll(src)
    world.poll(src)
    world.poll(src)
    assert _total(src) == 2
    assert _failures(src) == Counter({"400200": 1})


def test_records_shifting_pages_during_a_poll_are_neither_lost_nor_double_counted(world: World) -> None:
    src = world.source(overlap="5m")
    world.clock.advance(120)
    for i in range(2500):
        world.add(-110 + (i % 100))
    world.state.insert_shift(7)  # after the first page, 7 newer records push every offset back
    src.refresh()
    assert world.state.calls("connections") == 3  # three pages of 1000, page 2 repeats 7 records
    assert _total(src) == 2500
    world.poll(src)
    assert _total(src) == world.expected(src)[0] == 2507


def test_the_v1_login_records_api_counts_exactly_without_transaction_ids(world: World) -> None:
    src = world.source(api="v1.0", overlap="5m")
    src.refresh()
    rec = world.add(10, connection_setup_time=None)
    world.add(12, connection_failure_reason=FAILURE_EXAMPLE)
    world.add(14)
    world.poll(src)
    world.state.update_connection_record(rec["transaction_id"], connection_setup_time=math.floor(T0) + 16)
    for _ in range(4):
        world.poll(src)
    # Only an empty page ends a v1.0 listing (its answer has no total): two calls a poll
    # with records, one for the first, empty one.
    assert world.state.calls("login_records") == 11
    assert world.state.calls("connections") == 0
    snap = src.snapshot
    assert _total(src) == 3
    assert _failures(src) == Counter({"400200": 1})
    assert (snap.setup.count, snap.setup.sum) == (2, 6.0 + 3.0)
    assert snap.network_rtt.count == 0  # v1.0 records have no rtt


def test_a_restart_counts_from_zero_and_only_newer_records(world: World) -> None:
    first = world.source(overlap="5m")
    first.refresh()
    for i in range(4):
        world.add(-10 * i)
        world.poll(first)
    assert _total(first) == 4
    second = world.source(overlap="5m")  # a new process: starts now
    second.refresh()
    world.add(5)
    world.poll(first, second)
    world.poll(first, second)
    assert (_total(first), _total(second)) == (5, 1)


def test_lookback_counts_recent_history_on_start(world: World) -> None:
    for i in range(6):
        world.add(-60 * (i + 1) - 5)
    src = world.source(lookback="4m")
    src.refresh()
    assert _total(src) == 3


def test_label_sets_beyond_the_cap_overflow_into_other(world: World) -> None:
    src = world.source(extra_labels=["user_name", "terminal_type"], max_label_sets=2)
    src.refresh()
    for user in ("alice", "bob", "carol", "dave", "alice"):
        world.add(5, user_name=user, terminal_type="WI")
    world.add(4, user_name="erin", terminal_type="WI", connection_failure_reason=FAILURE_EXAMPLE)
    world.poll(src)
    world.poll(src)
    snap = src.snapshot
    assert dict(snap.connections) == {("alice", "WI"): 2, ("bob", "WI"): 1, ("other", "other"): 3}
    assert dict(snap.failures) == {("400200", "other", "other"): 1}
    assert snap.label_overflow == 3


def test_histograms_have_the_exact_buckets_and_sums_of_the_served_records(world: World) -> None:
    src = world.source()
    src.refresh()
    values = [(3, 8, 1), (12, 30, 2), (45, 60, 4), (140, 180, 9), (700, 900, 45)]
    for rtt, e2e, setup in values:
        world.add(
            5, network_rtt=rtt, e2e_rtt=e2e, connection_setup_time=math.floor(world.clock.time()) + 5 + setup
        )
    world.poll(src)
    snap = src.snapshot
    assert dict(zip(snap.network_rtt.bounds, snap.network_rtt.cumulative, strict=True)) == {
        0.005: 1, 0.01: 1, 0.02: 2, 0.03: 2, 0.05: 3, 0.075: 3, 0.1: 3,
        0.15: 4, 0.2: 4, 0.3: 4, 0.5: 4, 1.0: 5, 2.0: 5,
    }  # fmt: skip
    assert snap.network_rtt.sum == pytest.approx(0.9)
    assert snap.e2e_rtt.sum == pytest.approx(1.178)
    assert (snap.setup.count, snap.setup.sum) == (5, 61.0)
    assert snap.setup.cumulative[snap.setup.bounds.index(2.0)] == 2


def test_upstream_garbage_is_counted_and_skipped_and_a_broken_page_is_polled_again(world: World) -> None:
    src = world.source(overlap="5m")
    src.refresh()
    for _ in range(4):
        world.add(5)
    world.state.garbage("connections", kind="badvalues")
    world.poll(src)
    assert _total(src) == 4
    assert world.observer.invalid["connections"] == 6  # 4 network_rtt + 4 e2e_rtt, minus 2 nulls
    world.add(20)
    world.state.garbage("connections", kind="notjson")
    world.clock.advance(60)
    with pytest.raises(InvalidResponseError):
        src.refresh()
    assert _total(src) == 4
    world.poll(src)
    assert _total(src) == 5


def test_upstream_calls_per_hour_at_the_default_interval(world: World) -> None:
    src = world.source()
    interval = ConnectionsConfig().interval
    src.refresh()
    world.state.reset_calls()
    polls = int(3600 / interval)
    for _ in range(polls):
        for i in range(50):  # 50 attempts a minute: ~350 records per 7-minute window, one page
            world.add(-59 + i)
        world.poll(src, seconds=interval)
    assert world.state.calls("connections") == polls == 60
    assert world.expected(src)[0] == _total(src)


def test_the_exporter_exposes_the_source_with_its_health(fake_api: FakeApi, start_exporter: Any) -> None:
    now = fake_api.state.now()
    fake_api.state.add_connection_record(connection_start_time=math.floor(now) - 5)
    fake_api.state.add_connection_record(
        connection_start_time=math.floor(now) - 5, connection_failure_reason=FAILURE_EXAMPLE
    )
    fake_api.state.add_connection_record(connection_start_time=math.floor(now) - 600)  # before the look-back
    r: RunningExporter = start_exporter(connections={"enabled": True, "lookback": "1m"})
    wait_for(lambda: r.value(NS + "up", source="connections") == 1.0)
    samples = r.samples()
    assert samples[(NS + "connections_total", ())] == 2
    assert samples[(NS + "connection_failures_total", (("reason_code", "400200"),))] == 1
    assert samples[(NS + "connection_network_rtt_seconds_count", ())] == 1
    assert (NS + "last_refresh_timestamp_seconds", (("source", "connections"),)) in samples
    assert samples[(NS + "api_requests_total", (("api", "connections"), ("code", "200")))] >= 1


@pytest.mark.parametrize(
    ("api", "http"),
    [("v2", {}), ("v2", {"max_pages_per_listing": 1}), ("v1.0", {"max_pages_per_listing": 1})],
)
def test_a_backlog_larger_than_one_window_is_split_and_counted_whole_never_retried_for_ever(
    world: World, api: str, http: dict[str, Any]
) -> None:
    for i in range(2500):  # 2,500 attempts over the last 42 hours
        world.add(-2500 * 60 + i * 60)
    src = world.source(http, lookback="2d", max_records_per_window=1000, api=api)
    windows: list[tuple[str, str]] = []
    for _ in range(20):
        world.poll(src)
        query = world.state.call_log[-1].query
        windows.append((query["start_time"], query["end_time"]))
        if sum(src.snapshot.connections.values()) == 2500:
            break
    assert sum(src.snapshot.connections.values()) == 2500
    assert len(set(windows)) == len(windows)  # each poll moved on
    assert world.state.calls("connections") + world.state.calls("login_records") < 60
