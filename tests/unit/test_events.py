"""The key-desktop-events source on a fake clock with an in-memory screen-records API."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from exporter.clock import FakeClock
from exporter.config.settings import Config, EventsConfig, parse_config
from exporter.errors import (
    ClientRequestError,
    ConfigError,
    InvalidResponseError,
    UpstreamUnavailableError,
)
from exporter.exposition import catalogue as m
from exporter.exposition.events import families as event_families
from exporter.sources.event_records import LabelValues, sanitise
from exporter.sources.event_tracking import GRACE
from exporter.sources.events import EventsSource
from exporter.timeutil import fmt_space, parse_time, utc
from exporter.upstream.observer import NullObserver
from exporter.upstream.paging import Listing, PageSizes

T0 = 1_700_000_000.0


def iso(t: float) -> str:
    return utc(t).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class MemoryApi:
    """``screen_records`` and ``os_operations`` served from lists, with call counting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self.ops: dict[str, list[Any]] = {}
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, str, dict[str, Any]]] = []
        self.errors: dict[str, list[Exception | None]] = {}  # per call: raise, or None to answer
        self._ids = itertools.count(1)
        self.invalid: Callable[[str], None] = lambda api: None
        self.truncations: list[tuple[str, str]] = []

    def record(self, status: str = "RECORDING", age: float = 600, desktop: str = "d1", **extra: Any) -> str:
        rid = f"rec-{next(self._ids)}"
        start = self.clock.time() - age
        end = "" if status in ("RECORDING", "UPLOADING") else iso(self.clock.time() - 1)
        rec = {"id": rid, "desktop_id": desktop, "status": status, "start_time": iso(start), "end_time": end}
        self.records.append({**rec, **extra})
        self.ops[rid] = []
        return rid

    def status(self, rid: str, status: str) -> None:
        rec = next(r for r in self.records if r["id"] == rid)
        rec["status"] = status
        rec["end_time"] = iso(self.clock.time())

    def op(
        self, rid: str, etype: str = "APP", eid: str = "APP_CRASH", level: str = "ERROR", **extra: Any
    ) -> str:
        oid = f"op-{next(self._ids)}"
        item = {
            "id": oid,
            "desktop_id": next(r["desktop_id"] for r in self.records if r["id"] == rid),
            "screen_record_id": rid,
            "username": "alice",
            "event_type": etype,
            "event_id": eid,
            "event_level": level,
            "event_data": '{"process_name":"x.exe"}',
            "operation_time": iso(self.clock.time()),
        }
        self.ops[rid].append({**item, **extra})
        return oid

    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: object = None,
        **_: Any,
    ) -> dict[str, Any]:
        self.calls[api] += 1
        p = dict(params or {})
        self.log.append((api, (path_params or {}).get("record_id", ""), p))
        queue = self.errors.get(api)
        if queue and (error := queue.pop(0)) is not None:
            raise error
        offset, limit = int(p["offset"]), int(p["limit"])
        if api == "screen_records":
            lo, hi = parse_time(p["start_time"]), parse_time(p["end_time"])
            assert lo is not None and hi is not None
            recs = [r for r in self.records if lo <= (parse_time(r["start_time"]) or 0) <= hi]
            recs.sort(key=lambda r: parse_time(r["start_time"]) or 0, reverse=p["sort_type"] == "desc")
            return {"screen_records": recs[offset : offset + limit], "total_count": len(recs)}
        ops = self.ops.get((path_params or {})["record_id"])
        if ops is None:
            raise ClientRequestError(api, 404, "WKS.00000404", "The screen record does not exist.")
        return {"operations": ops[offset : offset + limit], "total_count": len(ops)}

    def listing(
        self,
        api: str,
        items_key: str,
        params: Mapping[str, Any] | None = None,
        path_params: Mapping[str, str] | None = None,
        *,
        limit: int | None = None,
        max_items: int | None = None,
        cap_key: str = "",
    ) -> Listing:
        """The client's paging over :meth:`request`: non-objects counted on ``invalid``."""
        return Listing(
            self,
            _Observer(self),
            PageSizes(),
            api,
            items_key,
            max_pages=300,
            params=params,
            path_params=path_params,
            limit=limit,
            max_items=max_items,
            cap_key=cap_key,
        )

    def page_items(self, api: str, doc: Mapping[str, Any], items_key: str, query_body: bool) -> list[Any]:
        items = doc[items_key]
        assert isinstance(items, list)
        return items

    def host(self, api: str) -> str:
        return "workspace.example"

    def reads(self, rid: str) -> int:
        return sum(1 for api, r, _ in self.log if api == "os_operations" and r == rid)


class _Observer(NullObserver):
    def __init__(self, api: MemoryApi) -> None:
        self.api = api
        self.cut: list[tuple[str, str]] = []

    def invalid_response(self, api: str) -> None:
        self.api.invalid(api)

    def truncated(self, api: str, key: str) -> None:
        self.api.truncations.append((api, key))


class Sink:
    def __init__(self) -> None:
        self.invalid: Counter[str] = Counter()

    def invalid_response(self, api: str) -> None:
        self.invalid[api] += 1


@dataclasses.dataclass
class Rig:
    clock: FakeClock
    api: MemoryApi
    sink: Sink
    source: EventsSource

    def tick(self, seconds: float = 60.0) -> None:
        self.clock.advance(seconds)
        self.source.refresh()

    def counts(self) -> dict[tuple[str, ...], int]:
        return dict(self.source.snapshot.counts)

    def total(self) -> int:
        return sum(self.source.snapshot.counts.values())


def rig(page_size: int = 1000, rate: float = 100.0, **cfg: Any) -> Rig:
    clock = FakeClock(T0)
    api = MemoryApi(clock)
    sink = Sink()
    api.invalid = sink.invalid_response  # the client counts non-objects on the same sink
    source = EventsSource(api, EventsConfig(**cfg), clock, sink, lambda: rate, page_size=page_size)
    return Rig(clock, api, sink, source)


def test_a_live_recording_is_counted_exactly_once_across_polls_while_it_grows() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid)
    r.source.refresh()
    assert r.counts() == {("d1", "APP", "APP_CRASH", "error"): 1}
    for grow in (3, 0, 5, 1):
        for _ in range(grow):
            r.api.op(rid, "HDP", "HDP_USB", "ALARM")
        r.tick()
    assert r.counts() == {("d1", "APP", "APP_CRASH", "error"): 1, ("d1", "HDP", "HDP_USB", "alarm"): 9}
    assert r.api.reads(rid) == 5  # live: one read per refresh


def test_a_completed_recording_is_read_to_the_end_once_and_never_again() -> None:
    r = rig(lookback=3600)
    rid = r.api.record("UPLOAD_COMPLETED")
    for _ in range(4):
        r.api.op(rid, operation_time=iso(T0 - 100))
    for _ in range(5):
        r.tick()
    assert r.total() == 4
    assert r.api.reads(rid) == 1
    assert r.api.calls["screen_records"] == 5


def test_a_live_recording_that_completes_its_upload_gets_one_final_read_and_is_then_left_alone() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid)
    r.source.refresh()
    r.api.op(rid)
    r.api.status(rid, "UPLOAD_COMPLETED")
    r.tick()
    r.api.op(rid)  # upstream should not do this; a done recording is not re-read anyway
    r.tick()
    r.tick()
    assert r.total() == 2
    assert r.api.reads(rid) == 2


def test_a_rec_completed_recording_is_re_read_for_the_grace_period_then_left_alone() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.source.refresh()
    r.api.status(rid, "REC_COMPLETED")  # end_time now: no upload started yet
    late = 0
    for _ in range(int(GRACE // 60) + 5):
        r.api.op(rid)
        late += 1
        r.tick()
        if rid in r.source._tracker.done:
            break
    assert rid in r.source._tracker.done
    assert r.total() == late  # operations arriving while it settled all counted
    reads = r.api.reads(rid)
    assert reads == int(GRACE // 60) + 1  # the first read, then one per refresh until settled
    for _ in range(5):
        r.tick()
    assert r.api.reads(rid) == reads


def test_a_live_recording_is_re_read_in_full_from_the_first_page_at_every_visit() -> None:
    r = rig(page_size=10)
    r.clock.advance(1)
    rid = r.api.record()
    for _ in range(25):
        r.api.op(rid)
    r.source.refresh()
    offsets = [p["offset"] for api, _, p in r.api.log if api == "os_operations"]
    assert offsets == [0, 10, 20]
    assert all(p["limit"] == 10 for api, _, p in r.api.log if api == "os_operations")
    r.api.ops[rid].insert(0, {**r.api.ops[rid][0], "id": "op-new-first"})  # new ones land anywhere
    r.tick()
    offsets = [p["offset"] for api, _, p in r.api.log if api == "os_operations"]
    assert offsets[3:] == [0, 10, 20]
    assert r.total() == 26


def test_an_operation_that_shows_up_inside_the_overlap_is_counted_once() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    for _ in range(5):
        r.api.op(rid, "FILE", "FILE_CREATE", "INFO")
    r.source.refresh()
    late = r.api.op(rid, "FILE", "FILE_DELETE", "INFO")
    r.api.ops[rid].insert(2, r.api.ops[rid].pop())  # a late upload sorts before older ones
    r.api.op(rid, "FILE", "FILE_RENAME", "INFO")
    r.tick()
    r.tick()
    assert late
    assert r.counts() == {
        ("d1", "FILE", "FILE_CREATE", "info"): 5,
        ("d1", "FILE", "FILE_DELETE", "info"): 1,
        ("d1", "FILE", "FILE_RENAME", "info"): 1,
    }


def test_levels_are_normalised_and_unknown_values_pass_through_lower_cased_and_sanitised() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid, "APP", "APP_START", "INFO")
    r.api.op(rid, "APP", "APP_START", "Information")
    r.api.op(rid, "app", "app_start", "info")
    r.api.op(rid, "PRINTER", "Printer Jam/Tray 2", "Warning!")
    r.api.op(rid, "REG", "REG_MODIFY", "")
    r.source.refresh()
    assert r.counts() == {
        ("d1", "APP", "APP_START", "info"): 3,
        ("d1", "printer", "printer_jam_tray_2", "warning"): 1,
        ("d1", "REG", "reg_modify", "unknown"): 1,
    }
    assert not r.sink.invalid


def test_sanitised_values_are_bounded_in_length_and_in_number() -> None:
    assert sanitise("  Ünïcode / Mess  ") == "n_code_mess"
    assert sanitise("x" * 500) == "x" * 64
    assert sanitise(None) == sanitise("***") == "unknown"
    values = LabelValues({"A": "A"}, limit=3)
    assert [values(v) for v in ("a", "b", "c", "d", "e", "b")] == ["A", "b", "c", "d", "other", "b"]


def test_username_and_event_data_never_become_labels() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid, username="bob", event_data="secret.docx")
    r.source.refresh()
    text = exposition(r.source)
    assert "bob" not in text and "secret" not in text
    assert r.source.snapshot.labels == ("desktop_id", "event_type", "event_id", "event_level")


def test_operations_older_than_start_minus_lookback_are_not_counted_and_not_reread() -> None:
    r = rig()
    rid = r.api.record(age=3600)
    r.api.op(rid, operation_time=iso(T0 - 60))  # before the exporter started
    r.clock.advance(5)
    r.api.op(rid)
    r.source.refresh()
    r.api.op(rid)
    r.tick()
    assert r.total() == 2
    offsets = [p["offset"] for api, _, p in r.api.log if api == "os_operations"]
    assert offsets == [0, 0]  # the stored offset (3) minus the overlap, clamped at 0


def test_a_lookback_counts_operations_from_before_the_start() -> None:
    r = rig(lookback=300)
    rid = r.api.record(age=3600)
    r.api.op(rid, operation_time=iso(T0 - 600))
    r.api.op(rid, operation_time=iso(T0 - 200))
    r.source.refresh()
    assert r.total() == 1


def test_a_completed_recording_that_ended_before_the_cutoff_costs_no_call() -> None:
    r = rig()
    old = r.api.record("REC_COMPLETED", age=3000, end_time=iso(T0 - GRACE - 60))
    r.api.op(old, operation_time=iso(T0 - 2000))
    r.tick()
    r.tick()
    assert r.api.reads(old) == 0
    assert r.total() == 0
    assert r.source.snapshot.recordings["REC_COMPLETED"] == 1


def test_a_backlog_is_worked_off_newest_first_within_the_per_cycle_cap() -> None:
    r = rig(lookback=86400, max_calls_per_cycle=10)
    ids = [r.api.record("UPLOAD_COMPLETED", age=60 * (i + 1)) for i in range(25)]  # ids[0] newest
    for rid in ids:
        r.api.op(rid, operation_time=iso(T0 - 30))
    r.source.refresh()
    assert r.api.calls["os_operations"] == 10
    assert [rid for _, rid, _ in r.api.log if rid] == ids[:10]
    assert r.source.backlog == 15
    r.tick()
    r.tick()
    assert r.api.calls["os_operations"] == 25
    assert r.source.backlog == 0
    assert r.total() == 25
    r.tick()
    assert r.api.calls["os_operations"] == 25


def test_the_default_cap_is_80_percent_of_the_budget_per_interval() -> None:
    r = rig(rate=100.0)
    assert r.source.cycle_cap(EventsConfig()) == 80
    assert r.source.cycle_cap(EventsConfig(interval=300)) == 400
    assert r.source.cycle_cap(EventsConfig(max_calls_per_cycle=7)) == 7
    assert rig(rate=1.0).source.cycle_cap(EventsConfig(interval=30)) == 1


def test_live_recordings_take_turns_when_the_cap_is_smaller_than_their_number() -> None:
    r = rig(max_calls_per_cycle=2)
    r.clock.advance(1)
    ids = [r.api.record(age=60 * (i + 1)) for i in range(5)]
    for _ in range(5):
        for rid in ids:
            r.api.op(rid)
        r.tick()
    assert sorted(r.api.reads(rid) for rid in ids) == [1, 2, 2, 2, 3]  # least recently polled first
    r.tick()
    r.tick()
    r.tick()
    assert r.total() == 25


def test_garbage_operations_are_counted_as_invalid_once_and_skipped() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid)
    r.api.ops[rid] += ["junk", {"event_id": "APP_START"}, {"id": "", "event_id": "APP_START"}]
    r.api.op(rid, operation_time="yesterday-ish")
    r.api.op(rid)
    r.source.refresh()
    r.tick()
    r.tick()
    assert r.total() == 2
    # The junk string is counted by the client at each of the 3 reads; the others by the
    # source once each, as their keys are remembered like any operation's.
    assert r.sink.invalid == {"os_operations": 3 + 3}


def test_garbage_recordings_in_the_listing_are_skipped_and_a_wrong_shape_fails_the_refresh() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid)
    r.api.records += [{"status": "RECORDING", "start_time": iso(T0)}]
    r.source.refresh()
    assert r.total() == 1
    assert r.sink.invalid == {"screen_records": 1}

    def wrong(*_: Any, **__: Any) -> Listing:
        raise InvalidResponseError("screen_records", 200, cause="body has no screen_records list")

    r.source._client = type("C", (), {"listing": staticmethod(wrong)})()
    with pytest.raises(Exception, match="screen_records"):
        r.tick()
    assert r.total() == 1  # the previous snapshot stays


def test_a_failure_mid_cycle_keeps_what_was_counted_and_the_next_refresh_resumes_exactly() -> None:
    r = rig(page_size=2)
    r.clock.advance(1)
    a, b = r.api.record(age=60), r.api.record(age=120)
    for _ in range(3):
        r.api.op(a)
        r.api.op(b)
    r.api.errors["os_operations"] = [None, None, UpstreamUnavailableError("os_operations", 503)]
    with pytest.raises(UpstreamUnavailableError):
        r.source.refresh()  # the newest recording was read (two pages), the next one failed
    assert r.total() == 3
    r.api.ops[a].append({**r.api.ops[a][0], "id": "op-new"})
    r.tick()
    assert r.total() == 7
    r.tick()
    assert r.total() == 7


def test_a_recording_deleted_upstream_is_given_up_and_other_recordings_continue() -> None:
    r = rig()
    r.clock.advance(1)
    gone, ok = r.api.record(age=60), r.api.record(age=120)
    r.api.op(ok)
    del r.api.ops[gone]
    r.source.refresh()
    r.tick()
    assert r.api.reads(gone) == 1
    assert r.total() == 1


def test_event_type_and_level_filters_restrict_what_is_counted() -> None:
    r = rig(event_types=["app", "HDP"], event_levels=["error", "ALARM"])
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid, "APP", "APP_CRASH", "ERROR")
    r.api.op(rid, "APP", "APP_START", "INFO")
    r.api.op(rid, "FILE", "FILE_DELETE", "ERROR")
    r.api.op(rid, "HDP", "HDP_USB", "Alarm")
    r.source.refresh()
    assert r.counts() == {("d1", "APP", "APP_CRASH", "error"): 1, ("d1", "HDP", "HDP_USB", "alarm"): 1}


def test_without_the_desktop_id_label_counts_aggregate_per_type_id_and_level() -> None:
    r = rig(desktop_id_label=False)
    r.clock.advance(1)
    for desktop in ("d1", "d2", "d3"):
        rid = r.api.record(desktop=desktop)
        r.api.op(rid)
        r.api.op(rid, desktop_id="")  # falls back to the recording's desktop
    r.source.refresh()
    assert r.source.snapshot.labels == ("event_type", "event_id", "event_level")
    assert r.counts() == {("APP", "APP_CRASH", "error"): 6}
    r.source.reconfigure(Config(events=EventsConfig(desktop_id_label=True)))
    r.tick()
    assert r.counts() == {(d, "APP", "APP_CRASH", "error"): 2 for d in ("d1", "d2", "d3")}


def test_the_screen_records_gauge_counts_recordings_in_the_window_by_status() -> None:
    r = rig()
    r.api.record("RECORDING")
    r.api.record("RECORDING")
    r.api.record("UPLOAD_FAILED")
    r.api.record("Paused?")
    r.api.record("UPLOAD_COMPLETED", age=2 * 86400)  # outside the window
    r.source.refresh()
    recs = r.source.snapshot.recordings
    assert recs["RECORDING"] == 2
    assert recs["UPLOAD_FAILED"] == 1
    assert recs["paused"] == 1
    assert recs["UPLOAD_COMPLETED"] == recs["UPLOADING"] == 0


def test_the_listing_asks_for_the_space_separated_window_newest_first() -> None:
    r = rig(recordings_window=7200)
    r.source.refresh()
    api, _, params = r.api.log[0]
    assert api == "screen_records"
    assert params["start_time"] == fmt_space(T0 - 7200) == "2023-11-14 20:13:20"
    assert params["end_time"] == "2023-11-14 22:13:20"
    assert (params["sort_field"], params["sort_type"], params["offset"]) == ("start_time", "desc", 0)


def test_the_listing_is_paged_and_capped_at_max_recordings() -> None:
    r = rig(page_size=4, max_recordings=10)
    for i in range(13):
        r.api.record("REC_COMPLETED", age=3000 + i)
    r.source.refresh()
    offsets = [p["offset"] for api, _, p in r.api.log if api == "screen_records"]
    assert offsets == [0, 4, 8]
    assert sum(r.source.snapshot.recordings.values()) == 10


def test_done_recordings_are_remembered_beyond_the_window_then_forgotten() -> None:
    r = rig(recordings_window=3600)
    r.clock.advance(1)
    rid = r.api.record("UPLOAD_COMPLETED", age=0)
    r.api.op(rid)
    r.source.refresh()
    r.tick(3500)
    assert r.api.reads(rid) == 1
    assert rid in r.source._tracker.done
    r.clock.advance(2 * 3600)
    r.source._tracker.done.expire()
    assert rid not in r.source._tracker.done


def test_a_disabled_source_makes_no_calls_and_exposes_nothing() -> None:
    r = rig(enabled=False)
    before = r.source.snapshot
    r.source.refresh()
    assert not r.api.calls
    assert r.source.snapshot is before


def exposition(source: EventsSource) -> str:
    class One(Collector):
        def collect(self) -> Any:
            return iter(event_families(source.snapshot))

    reg = CollectorRegistry()
    reg.register(One())
    return generate_latest(reg).decode()


def test_the_families_use_the_catalogue_names_and_a_counter_type() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid, "HDP", "HDP_PRINT", "INFO")
    r.source.refresh()
    text = exposition(r.source)
    assert "# TYPE huaweicloud_workspace_desktop_events_total counter" in text
    assert (
        'huaweicloud_workspace_desktop_events_total{desktop_id="d1",event_id="HDP_PRINT",'
        'event_level="info",event_type="HDP"} 1.0'
    ) in text
    assert 'huaweicloud_workspace_screen_records{status="RECORDING"} 1.0' in text
    assert m.DESKTOP_EVENTS in m.ALL and m.SCREEN_RECORDS in m.ALL
    fams = event_families(r.source.snapshot)
    assert [f.name for f in fams] == [m.DESKTOP_EVENTS.full_name, m.SCREEN_RECORDS.full_name]


def test_the_config_rejects_unknown_levels_and_a_lookback_beyond_the_window() -> None:
    env = {"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk"}
    raw = {
        "region": "ap-southeast-1",
        "events": {"event_levels": ["info", "warning"], "lookback": "2d", "event_types": [" "]},
    }
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, env)
    text = "\n".join(exc.value.problems)
    assert "events.event_levels[1]: must be one of info, alarm, error" in text
    assert "events.lookback: must be at most events.recordings_window" in text
    assert "events.event_types[0]" in text
    ok = parse_config({"region": "ap-southeast-1", "events": {"event_levels": ["ERROR"]}}, env)
    assert ok.config.events.max_calls_per_cycle == 0
    assert ok.config.events.max_recordings == 10000


def test_the_snapshot_is_swapped_only_when_something_changed() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid)
    r.source.refresh()
    first = r.source.snapshot
    r.tick()
    assert r.source.snapshot is first  # cached expositions stay valid
    r.api.op(rid)
    r.tick()
    assert r.source.snapshot.version > first.version
    assert first.counts == {("d1", "APP", "APP_CRASH", "error"): 1}  # the old one is immutable
    with pytest.raises(TypeError):
        first.counts[("x",)] = 1  # type: ignore[index]


def test_a_full_key_set_stops_counting_instead_of_counting_twice_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("exporter.sources.event_tracking.MAX_KEYS", 3)
    caplog.set_level(logging.INFO, "exporter.sources.events")
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    for _ in range(5):
        r.api.op(rid)
    for _ in range(3):
        r.tick()
    assert r.total() == 3  # the first three keys fit; the rest are never counted, not even twice
    lines = [rec.getMessage() for rec in caplog.records if "key set full" in rec.getMessage()]
    assert len(lines) == 1
    r.api.status(rid, "UPLOAD_COMPLETED")
    r.tick()
    assert r.total() == 3
    other = r.api.record()  # a done recording frees its keys: a new one's operations count
    r.api.op(other)
    r.api.op(other)
    r.tick()
    assert r.total() == 5
    assert any("key set has room again keys=2" in rec.getMessage() for rec in caplog.records)


def test_operations_without_an_id_are_deduplicated_by_their_fields() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid, id=None)
    r.api.ops[rid][0].pop("id")
    r.api.op(rid)
    for _ in range(3):
        r.tick()
    assert r.total() == 1
    assert r.sink.invalid == {"os_operations": 1}  # an operation without id is invalid, once


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59.000Z", "0001-01-01T00:00:00Z", -1, T0 + 3 * 86400])
def test_an_operation_with_an_implausible_time_is_invalid_once_and_not_counted(when: object) -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record()
    r.api.op(rid, operation_time=when)
    r.api.op(rid)
    r.source.refresh()
    r.tick()
    assert r.total() == 1
    assert r.sink.invalid == {"os_operations": 1}


def test_desktop_ids_are_stripped_capped_and_cleaned_and_bad_recording_ids_are_invalid() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record(desktop=" d1 ")
    r.api.op(rid)
    r.api.op(rid, desktop_id="d\ud800")
    r.api.op(rid, desktop_id="x" * 500)
    r.api.record(id="r\udfff")  # a lone surrogate cannot go into the URL path
    r.api.record(id="r" * 129)
    r.source.refresh()
    assert r.counts() == {
        ("d1", "APP", "APP_CRASH", "error"): 1,
        ("d\ufffd", "APP", "APP_CRASH", "error"): 1,
        ("x" * 127 + "…", "APP", "APP_CRASH", "error"): 1,
    }
    assert r.sink.invalid == {"screen_records": 2}
    assert r.api.calls["os_operations"] == 1


def test_a_400_digit_number_in_an_operation_is_invalid_once_logged_once_and_never_wedges(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    r = rig()
    r.clock.advance(1)
    rid = r.api.record(end_time=int("9" * 400))
    r.api.op(rid, operation_time=int("9" * 400), relative_start_time=int("9" * 400))
    r.api.op(rid, relative_start_time=int("9" * 400))
    for _ in range(3):
        r.tick()
    assert r.total() == 1
    assert r.sink.invalid == {"os_operations": 1}
    msgs = [m.getMessage() for m in caplog.records if "valid" in m.getMessage()]
    assert [m.split(" items=")[0] for m in msgs] == [
        "screen recordings or operations with invalid values skipped",
        "screen recordings and operations valid again",
    ]


# ---------------------------------------------------------------------------- no silent zeros


def _refuse(r: Rig, times: int, error: Exception) -> None:
    r.api.errors["os_operations"] = [error] * times


def test_a_refresh_in_which_every_recording_is_refused_fails_instead_of_reading_as_healthy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    r = rig()
    r.clock.advance(1)
    for age in (60, 120, 180):
        r.api.op(r.api.record(age=age))
    bad = ClientRequestError("os_operations", 400, "WKS.00211102", "Invalid parameter: start")
    _refuse(r, 100, bad)
    with pytest.raises(ClientRequestError):
        r.source.refresh()
    with pytest.raises(ClientRequestError):
        r.tick()
    warnings = [rec for rec in caplog.records if "refused some items" in rec.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "items=3" in warnings[0].getMessage() and "error_code=WKS.00211102" in warnings[0].getMessage()
    r.api.errors.clear()
    r.tick()
    assert r.total() == 3
    assert any("upstream answers again" in rec.getMessage() for rec in caplog.records)


def test_one_refused_recording_among_others_is_logged_once_and_the_refresh_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig()
    r.clock.advance(1)
    for age in (60, 120):
        r.api.op(r.api.record(age=age))
    bad = InvalidResponseError("os_operations", 200, cause="body has no operations list")
    for _ in range(3):
        r.api.errors["os_operations"] = [bad]  # the newest recording's read, every refresh
        r.tick()
    assert r.total() == 1
    warnings = [rec for rec in caplog.records if "refused some items" in rec.getMessage()]
    assert len(warnings) == 1 and "items=1" in warnings[0].getMessage()


def test_the_gateways_api_not_published_404_is_a_refusal_not_a_deleted_recording() -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record(age=60)
    r.api.op(rid)
    _refuse(r, 1, ClientRequestError("os_operations", 404, "APIGW.0101", "The API does not exist"))
    with pytest.raises(ClientRequestError):
        r.source.refresh()
    r.tick()
    assert r.total() == 1  # still read once the path answers: it was never given up


def test_a_server_that_enforces_the_seeds_limit_of_100_is_read_whole_after_one_smaller_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig()
    r.clock.advance(1)
    rid = r.api.record(age=60)
    for _ in range(250):
        r.api.op(rid)
    serve = r.api.request

    def strict(
        api: str, path_params: Any = None, params: Any = None, json_body: object = None, **_: Any
    ) -> Any:
        if api == "os_operations" and int((params or {})["limit"]) > 100:
            raise ClientRequestError(
                api, 400, "WKS.00211102", "Invalid parameter: limit must be within [0, 100]"
            )
        return serve(api, path_params, params, json_body)

    r.api.request = strict  # type: ignore[method-assign]
    r.source.refresh()
    assert r.total() == 250
    limits = [int(p["limit"]) for api, _, p in r.api.log if api == "os_operations"]
    assert limits == [100, 100, 100]  # the refused 1000 is not logged by the memory API


def test_operations_past_the_per_recording_cap_are_not_counted_and_the_cut_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig(page_size=100, max_operations_per_recording=100)
    r.clock.advance(1)
    rid = r.api.record(age=60)
    for _ in range(150):
        r.api.op(rid)
    r.source.refresh()
    r.tick()
    assert r.total() == 100
    assert r.api.truncations == [("os_operations", "events.max_operations_per_recording")] * 2
    lines = [rec for rec in caplog.records if "events.max_operations_per_recording" in rec.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"
