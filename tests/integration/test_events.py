"""Key desktop events against the fake Workspace API over real HTTP on 127.0.0.1.

Most tests drive :class:`EventsSource` refreshes by hand on a :class:`FakeClock` shared
with the fake (so the request budget sleeps on fake time and nothing waits for real);
the last one runs the whole exporter and scrapes ``/metrics``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import parse_config
from exporter.errors import ThrottledError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.sources.event_tracking import GRACE
from exporter.sources.events import EventsSource
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from tests.conftest import FakeApi, RunningExporter, wait_for

pytestmark = pytest.mark.integration

NS = "huaweicloud_workspace_"
T0 = 1_795_000_000.0


class Sink(NullObserver):
    """The client's ApiObserver and the source's InvalidSink, counting what matters here."""

    def __init__(self) -> None:
        self.invalid: Counter[str] = Counter()
        self.codes: Counter[tuple[str, str]] = Counter()

    def request_done(self, api: str, code: str, seconds: float) -> None:
        self.codes[(api, code)] += 1

    def throttled(self, api: str) -> None:
        pass

    def retried(self, api: str) -> None:
        pass

    def invalid_response(self, api: str) -> None:
        self.invalid[api] += 1


@dataclasses.dataclass
class Rig:
    clock: FakeClock
    state: FakeWorkspace
    url: str
    sink: Sink = dataclasses.field(default_factory=Sink)
    clients: list[WorkspaceClient] = dataclasses.field(default_factory=list)

    def source(self, page_size: int = 1000, burst: int = 5, **events: Any) -> EventsSource:
        """A fresh source (as after a process start) with its own client and budget."""
        raw = FakeApi(self.state, self.url).config(
            events={"enabled": True, **events},
            budget={"burst": burst, "per_api": {}},
            http={"max_retries": 1},
        )
        settings = parse_config(raw, FakeApi(self.state, self.url).env())
        budget = Budget(settings.config.budget, self.clock)
        client = WorkspaceClient(settings, budget, self.sink, self.clock)
        self.clients.append(client)
        return EventsSource(
            client,
            settings.config.events,
            self.clock,
            self.sink,
            lambda: budget.rate_for("os_operations"),
            page_size=page_size,
        )

    def op(self, rid: str, *args: str, ago: float = 0.0, **fields: Any) -> None:
        self.state.add_operation(rid, *args, operation_time=self.clock.time() - ago, **fields)

    def reads(self, rid: str | None = None) -> int:
        return sum(
            1
            for c in self.state.call_log
            if c.api == "os_operations" and (rid is None or f"/{rid}/" in c.path)
        )


@pytest.fixture
def rig() -> Iterator[Rig]:
    clock = FakeClock(T0)
    state = FakeWorkspace(desktops=3, now=clock.time)
    server = FakeServer(state)
    r = Rig(clock, state, server.start())
    try:
        yield r
    finally:
        errors = server.errors
        for client in r.clients:
            client.close()
        server.stop()
    assert not errors


def total(source: EventsSource) -> int:
    return sum(source.snapshot.counts.values())


def cycle(r: Rig, source: EventsSource, seconds: float = 60.0) -> None:
    r.clock.advance(seconds)
    source.refresh()


def test_counts_are_exact_across_polls_while_a_live_recording_grows(rig: Rig) -> None:
    desktop = rig.state.desktops[0]["desktop_id"]
    src = rig.source()
    live = rig.state.add_screen_record(desktop)["id"]
    expected = 0
    for n in (2, 0, 7, 1, 3):
        for i in range(n):
            rig.op(live, "APP", "APP_START" if i % 2 else "APP_CRASH", "INFO" if i % 2 else "ERROR")
        expected += n
        cycle(rig, src)
        assert total(src) == expected
    assert src.snapshot.counts[(desktop, "APP", "APP_CRASH", "error")] == 8
    assert src.snapshot.counts[(desktop, "APP", "APP_START", "info")] == 5
    assert rig.reads(live) == 5
    assert src.snapshot.recordings["RECORDING"] == 1


def test_completed_recordings_are_read_once_as_the_call_counts_prove(rig: Rig) -> None:
    src = rig.source(lookback="1h")
    done = [
        rig.state.add_screen_record(status="UPLOAD_COMPLETED", start_time=T0 - 1200)["id"] for _ in range(3)
    ]
    live = rig.state.add_screen_record(start_time=T0 - 300)["id"]
    for rid in [*done, live]:
        rig.op(rid, "FILE", "FILE_DELETE", "ALARM", ago=30)
    for _ in range(4):
        cycle(rig, src)
    rig.op(live, "FILE", "FILE_DELETE", "ALARM")
    rig.state.set_record_status(live, "UPLOAD_COMPLETED")
    for _ in range(4):
        cycle(rig, src)
    assert [rig.reads(rid) for rid in done] == [1, 1, 1]
    assert rig.reads(live) == 5  # four live polls, then one final read
    assert rig.state.calls("screen_records") == 8
    assert total(src) == 5


def test_paging_reads_every_operation_of_a_long_recording_once_at_every_visit(rig: Rig) -> None:
    src = rig.source()
    rid = rig.state.add_screen_record(start_time=T0 - 60)["id"]
    for i in range(2500):
        rig.op(rid, "HDP", "HDP_CLIPBOARD", "INFO", ago=-1 - i / 1000)
    cycle(rig, src)
    assert total(src) == 2500
    # os-operations takes at most 100 a page (the seed's range; the SDK says 1000).
    calls = [c for c in rig.state.call_log if c.api == "os_operations"]
    assert [c.query["offset"] for c in calls] == [str(n) for n in range(0, 2500, 100)]
    assert {c.query["limit"] for c in calls} == {"100"}
    for _ in range(10):
        rig.op(rid, "HDP", "HDP_CLIPBOARD", "INFO", ago=-5)
    cycle(rig, src)
    assert total(src) == 2510
    # No documented order: a live recording is read in full, ceil(2510 / 100) calls.
    assert [c.query["offset"] for c in rig.state.call_log if c.api == "os_operations"][25:] == [
        str(n) for n in range(0, 2600, 100)
    ]
    assert rig.state.violations == []
    assert rig.state.violations == []


@pytest.mark.parametrize("path", ["rec_completed", "upload"])
@pytest.mark.parametrize("order", ["oldest_first", "newest_first", "unordered"])
def test_every_operation_is_counted_exactly_once_whatever_the_order_and_status_path(
    rig: Rig, order: str, path: str
) -> None:
    rig.state.configure(operations_order=order, recording_path=path)
    src = rig.source(page_size=5, lookback="1h")
    rid = rig.state.add_screen_record(start_time=T0 - 900)["id"]
    for i in range(40):
        rig.op(rid, "APP", "APP_START", "INFO", ago=800 - i)
    cycle(rig, src)
    assert total(src) == 40
    for _ in range(25):  # new operations land on the first page, the last, or anywhere
        rig.op(rid, "APP", "APP_STOP", "INFO", ago=1)
    cycle(rig, src)
    assert total(src) == 65
    late = 0
    while True:  # walk the status path; on the upload path each later step adds an operation
        try:
            rig.state.advance_recording(rid)
        except ValueError:
            break
        late += 1 if rig.state.screen_records[-1]["status"] in ("UPLOADING", "UPLOAD_COMPLETED") else 0
        cycle(rig, src)
    assert late == (2 if path == "upload" else 0)
    for _ in range(int(GRACE // 60) + 1):  # REC_COMPLETED settles once the grace period passed
        cycle(rig, src)
    assert total(src) == 65 + late
    assert src.snapshot.counts[(rig.state.desktops[0]["desktop_id"], "APP", "APP_STOP", "info")] == 25
    reads = rig.reads(rid)
    for _ in range(5):
        cycle(rig, src)
    assert rig.reads(rid) == reads  # a done recording is never read again
    assert total(src) == 65 + late


def test_unknown_event_values_pass_through_lower_cased_and_sanitised(rig: Rig) -> None:
    desktop = rig.state.desktops[1]["desktop_id"]
    src = rig.source()
    rid = rig.state.add_screen_record(desktop)["id"]
    rig.op(rid, "APP", "APP_HANG", "Information")
    rig.op(rid, "USB-Storage", "Mass Storage.Mount", "CRITICAL")
    rig.state.add_operation(rid, "APP", "APP_HANG", "Information", operation_time="not a time")
    cycle(rig, src)
    assert dict(src.snapshot.counts) == {
        (desktop, "APP", "APP_HANG", "info"): 1,
        (desktop, "usb_storage", "mass_storage_mount", "critical"): 1,
    }
    assert rig.sink.invalid["os_operations"] == 1


def test_hundreds_of_recordings_are_worked_off_newest_first_within_the_budget(rig: Rig) -> None:
    rig.state.set_rate_limit("os_operations", 105)  # the default 100/min plus the burst of 5
    src = rig.source(lookback="1d")
    ids = [
        rig.state.add_screen_record(status="REC_COMPLETED", start_time=T0 - 7200 - 10 * i)["id"]
        for i in range(300)
    ]  # ids[0] is the newest
    for rid in ids:
        rig.op(rid, "APP", "APP_STOP", "INFO", ago=3600)
        rig.op(rid, "APP", "APP_CRASH", "ERROR", ago=3590)
    per_cycle = []
    for _ in range(6):
        before = rig.reads()
        cycle(rig, src)
        per_cycle.append(rig.reads() - before)
    assert per_cycle == [80, 80, 80, 60, 0, 0]  # 80% of 100/min per 60 s refresh
    first = [c.path.split("/")[-2] for c in rig.state.call_log if c.api == "os_operations"][:80]
    assert first == ids[:80]
    assert all(c.status == 200 for c in rig.state.call_log)
    assert total(src) == 600
    assert src.backlog == 0


def test_throttling_and_garbage_mid_cycle_keep_the_counts_exact(rig: Rig) -> None:
    src = rig.source(lookback="1h")
    ids = [
        rig.state.add_screen_record(status="UPLOAD_COMPLETED", start_time=T0 - 600 - i)["id"]
        for i in range(4)
    ]
    for rid in ids:
        for _ in range(3):
            rig.op(rid, ago=60)
    rig.state.garbage("os_operations", times=1, kind="wrongshape")
    cycle(rig, src)
    assert total(src) == 9  # one recording answered garbage and waits for the next refresh
    rig.state.throttle("os_operations", times=10)
    with pytest.raises(ThrottledError):
        cycle(rig, src)
    assert total(src) == 9
    rig.state.reset_faults()
    cycle(rig, src)
    cycle(rig, src)
    assert total(src) == 12
    assert rig.sink.invalid["os_operations"] == 1
    assert sorted(rig.reads(rid) for rid in ids) == [1, 1, 1, 4]  # garbage, 2 throttled tries, a read


def test_a_restart_counts_from_zero_and_does_not_reread_finished_recordings(rig: Rig) -> None:
    before = rig.source()
    live = rig.state.add_screen_record(start_time=T0 - 60)["id"]
    done = rig.state.add_screen_record(status="REC_COMPLETED", start_time=T0 - 3000)["id"]
    rig.op(done, ago=2500)
    rig.op(live, ago=-10)
    cycle(rig, before)
    rig.op(live)
    cycle(rig, before)
    assert total(before) == 2
    rig.clock.advance(300)  # the exporter is down for five minutes
    rig.op(live, ago=100)  # happened while it was down
    after = rig.source()  # lookback 0: only what happens from now on counts
    newer = rig.state.add_screen_record(start_time=rig.clock.time())["id"]
    rig.state.reset_calls()
    cycle(rig, after)
    assert total(after) == 0
    assert rig.reads(done) == 0  # ended before the cutoff: no call at all
    rig.op(live)
    rig.op(newer)
    cycle(rig, after)
    assert total(after) == 2
    recovered = rig.source(lookback="10m")  # a look-back covering the downtime counts it
    cycle(rig, recovered)
    assert total(recovered) == 5  # also re-counts what `before` saw: a counter reset for Prometheus


def test_upstream_cost_of_an_hour_at_the_defaults(rig: Rig) -> None:
    src = rig.source()
    for i in range(45):  # recordings that ended before the start cost nothing
        rig.state.add_screen_record(status="UPLOAD_COMPLETED", start_time=T0 - 20000 + 100 * i)
    live = [rig.state.add_screen_record(start_time=T0 - 60 * i)["id"] for i in range(5)]
    rig.state.reset_calls()
    for minute in range(60):
        for rid in live if minute <= 30 else live[2:]:
            rig.op(rid, ago=-1)
        if minute == 30:  # two recordings end; their last refresh is the final read
            for rid in live[:2]:
                rig.state.set_record_status(rid, "UPLOAD_COMPLETED")
        cycle(rig, src)
    # One listing per refresh; one os-operations call per live recording per refresh.
    assert rig.state.calls("screen_records") == 60
    assert rig.state.calls("os_operations") == 5 * 31 + 3 * 29 == 242
    assert total(src) == 242


def test_the_exporter_exposes_event_counters_and_recordings(
    fake_api: FakeApi, start_exporter: Callable[..., RunningExporter]
) -> None:
    state = fake_api.state
    desktop = state.desktops[0]["desktop_id"]
    rid = state.add_screen_record(desktop)["id"]
    for _ in range(3):
        state.add_operation(rid, "HDP", "HDP_USB", "ALARM", operation_time=time.time() - 60)
    r = start_exporter(events={"enabled": True, "lookback": "1h"})
    labels = {"desktop_id": desktop, "event_type": "HDP", "event_id": "HDP_USB", "event_level": "alarm"}
    assert wait_for(lambda: r.value(NS + "desktop_events_total", **labels)) == 3.0
    assert r.value(NS + "screen_records", status="RECORDING") == 1.0
    assert r.value(NS + "up", source="events") == 1.0
    assert state.calls("os_operations") >= 1
