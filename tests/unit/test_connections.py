"""Connection-record counting on a fake clock with an in-memory API: windows, dedupe, labels."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from exporter.clock import FakeClock
from exporter.config.settings import Config, ConnectionsConfig, parse_config
from exporter.errors import UpstreamUnavailableError
from exporter.exposition import catalogue as m
from exporter.exposition.connections import families
from exporter.sources.connection_records import MAX_REASON_CODES, RTT_BUCKETS, reason_code, record_key
from exporter.sources.connections import ConnectionsSource
from exporter.timeutil import fmt_minutes, fmt_seconds, parse_time
from exporter.upstream.paging import Page

T0 = 1_800_000_030.0  # 30 s past a minute boundary
NS = "huaweicloud_workspace_"


class MemoryApi:
    """Serves stored records like the real API: minute-precision window on the start time."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.calls: list[Mapping[str, Any]] = []
        self.fail_next = 0
        self.fail_after: int | None = None  # fail after serving this many records
        self.page_size = 1000
        self.totals = True  # answers carry total_count (v1.0 login records do not)

    def add(self, start: float, **fields: Any) -> dict[str, Any]:
        n = len(self.records) + 1
        rec: dict[str, Any] = {
            "transaction_id": f"tx-{n}",
            "user_name": f"user{n}",
            "computer_name": f"ws-{n:04d}",
            "desktop_id": f"desk-{n}",
            "terminal_type": "WI",
            "connection_start_time": fmt_seconds(start),
            "connection_setup_time": fmt_seconds(start + 3),
            "connection_end_time": None,
            "connection_failure_reason": "",
            "network_rtt": 20,
            "e2e_rtt": 40,
        }
        rec.update(fields)
        self.records.append(rec)
        return rec

    def update(self, transaction_id: str, **fields: Any) -> None:
        for rec in self.records:
            if rec.get("transaction_id") == transaction_id:
                rec.update(fields)

    def listing(
        self,
        api: str,
        items_key: str,
        params: Mapping[str, Any] | None = None,
        *,
        max_items: int | None = None,
        until_empty: bool = False,
    ) -> MemoryListing:
        assert items_key == "records"
        assert until_empty == (api == "login_records")  # v1.0 publishes no page maximum
        params = dict(params or {})
        self.calls.append({"api": api, **params})
        return MemoryListing(self, api, params, max_items)

    def matching(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        lo = parse_time(params["start_time"])
        hi = parse_time(params["end_time"])
        assert lo is not None and hi is not None
        out = []
        for rec in self.records:
            t = parse_time(rec.get("connection_start_time"))
            if t is None or lo <= math.floor(t / 60) * 60 <= hi:
                out.append(copy.deepcopy(rec))
        return out


class MemoryListing:
    """Pages of ``page_size`` records with a total, as the client's listing yields them; a
    failure set with ``fail_after`` ends the page before it and fails the next fetch."""

    def __init__(self, api: MemoryApi, name: str, params: dict[str, Any], max_items: int | None) -> None:
        self._api = api
        self._name = name
        self._params = params
        self._max = max_items
        self.stopped = False
        self.pages = 0

    def __iter__(self) -> Iterator[Page]:
        api = self._api
        if api.fail_next:
            api.fail_next -= 1
            raise UpstreamUnavailableError(self._name, 503)
        rows = api.matching(self._params)
        offset = 0
        while offset < len(rows):
            size = api.page_size
            if api.fail_after is not None:
                if api.fail_after <= offset:
                    api.fail_after = None
                    raise UpstreamUnavailableError(self._name, 502)
                size = min(size, api.fail_after - offset)
            if self._max is not None and offset + size > self._max:
                size = self._max - offset
            self.pages += 1
            yield Page(rows[offset : offset + size], len(rows) if api.totals else None, offset)
            offset += size
            if self._max is not None and offset >= self._max and offset < len(rows):
                self.stopped = True
                return


class InvalidCounter:
    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.truncations: list[tuple[str, str]] = []

    def invalid_response(self, api: str) -> None:
        self.count[api] = self.count.get(api, 0) + 1

    def truncated(self, api: str, key: str) -> None:
        self.truncations.append((api, key))


class Env:
    def __init__(self, **cfg: Any) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi()
        self.invalid = InvalidCounter()
        self.source = ConnectionsSource(self.api, ConnectionsConfig(**cfg), self.clock, self.invalid)

    @property
    def config(self) -> ConnectionsConfig:
        return self.source.config

    @config.setter
    def config(self, value: ConnectionsConfig) -> None:
        """A reload: the exporter pushes the whole new config to the source."""
        self.source.reconfigure(Config(connections=value))

    def poll(self, advance: float = 60.0) -> None:
        self.clock.advance(advance)
        self.source.refresh()

    @property
    def total(self) -> int:
        return sum(self.source.snapshot.connections.values())

    @property
    def failures(self) -> dict[tuple[str, ...], int]:
        return dict(self.source.snapshot.failures)


def _samples(source: ConnectionsSource) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    class _C(Collector):
        def collect(self) -> Iterator[Any]:
            yield from families(source.snapshot)

    reg = CollectorRegistry()
    reg.register(_C())
    out = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# ------------------------------------------------------------------------------ windows


def test_the_first_window_starts_at_the_process_start_floored_to_the_minute() -> None:
    env = Env()
    env.source.refresh()
    call = env.api.calls[0]
    assert call["api"] == "connections"
    assert call["start_time"] == fmt_minutes(T0 - 30)
    assert call["end_time"] == fmt_minutes(T0 + 30)


def test_later_windows_start_one_overlap_before_the_previous_end_but_never_before_the_start() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.poll(60)
    assert env.api.calls[1]["start_time"] == fmt_minutes(T0 - 30)  # the horizon
    assert env.api.calls[1]["end_time"] == fmt_minutes(T0 + 90)
    for _ in range(9):
        env.poll(60)
    prev_end = parse_time(env.api.calls[-2]["end_time"])
    assert prev_end is not None
    assert env.api.calls[-1]["start_time"] == fmt_minutes(prev_end - 300)
    assert env.api.calls[-1]["end_time"] == fmt_minutes(prev_end + 60)


def test_lookback_moves_the_first_window_and_the_counting_horizon_back() -> None:
    env = Env(lookback=3600.0)
    env.api.add(T0 - 1800)
    env.api.add(T0 - 7200)
    env.source.refresh()
    assert env.api.calls[0]["start_time"] == fmt_minutes(T0 - 3630)
    assert env.total == 1


def test_the_v1_api_switch_polls_the_login_records_api() -> None:
    env = Env(api="v1.0")
    env.source.refresh()
    assert env.api.calls[0]["api"] == "login_records"


# ------------------------------------------------------------------------------ exact counts


def test_a_record_in_several_overlapping_windows_is_counted_once() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.api.add(T0 + 10)
    for _ in range(6):
        env.poll(60)
    assert env.total == 1
    assert len(env.api.calls) == 7


def test_a_late_record_inside_the_overlap_is_counted_once() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.poll(60)
    env.poll(60)
    env.api.add(T0 + 40)  # started two polls ago, visible only now
    env.poll(60)
    env.poll(60)
    assert env.total == 1


def test_a_poll_that_changes_nothing_keeps_the_snapshot_and_its_rendered_bytes() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.api.add(T0 + 10)
    env.poll(60)
    counted = env.source.snapshot
    for _ in range(3):  # the same record again, inside the overlap: nothing new
        env.poll(60)
    assert env.source.snapshot is counted  # same version: scrapes keep serving cached bytes
    env.api.add(T0 + 200)
    env.poll(60)
    assert env.source.snapshot.version != counted.version
    assert env.total == 2


def test_records_from_before_the_start_are_not_counted_but_remembered() -> None:
    env = Env()
    old = env.api.add(T0 - 20, connection_setup_time=None)  # same minute as the start, but earlier
    env.api.add(T0 + 5)
    env.source.refresh()
    assert env.total == 1
    env.api.update(old["transaction_id"], connection_failure_reason="400200:The desktop is being prepared.")
    env.poll(60)
    assert env.total == 1
    assert env.failures == {}
    assert env.source.snapshot.setup.count == 1


def test_a_restart_starts_from_zero_instead_of_recounting_history() -> None:
    env = Env()
    for i in range(5):
        env.api.add(T0 - 600 + i * 60)
    env.source.refresh()
    assert env.total == 0
    env.api.add(T0 + 20)
    env.poll(60)
    assert env.total == 1


def test_an_attempt_first_seen_in_progress_and_later_completed_is_one_attempt() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    rec = env.api.add(T0 + 10, connection_setup_time=None, network_rtt=None, e2e_rtt=None)
    env.poll(60)
    assert env.total == 1
    assert env.source.snapshot.setup.count == 0
    env.api.update(
        rec["transaction_id"],
        connection_setup_time=fmt_seconds(T0 + 14),
        network_rtt=25,
        e2e_rtt=45,
    )
    env.poll(60)
    env.api.update(rec["transaction_id"], connection_end_time=fmt_seconds(T0 + 100))
    env.poll(60)
    snap = env.source.snapshot
    assert env.total == 1
    assert (snap.setup.count, snap.setup.sum) == (1, 4.0)
    assert (snap.network_rtt.count, snap.network_rtt.sum) == (1, 0.025)
    assert (snap.e2e_rtt.count, snap.e2e_rtt.sum) == (1, 0.045)


def test_a_failure_reported_after_the_first_sighting_is_counted_once() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    rec = env.api.add(T0 + 10, connection_setup_time=None, network_rtt=None, e2e_rtt=None)
    env.poll(60)
    env.api.update(rec["transaction_id"], connection_failure_reason="400200:The desktop is being prepared.")
    env.poll(60)
    env.poll(60)
    assert env.total == 1
    assert env.failures == {("400200",): 1}
    assert env.source.snapshot.setup.count == 0


def test_a_failed_poll_changes_nothing_and_the_next_repeats_its_window() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.api.add(T0 + 10)
    env.api.fail_next = 1
    env.clock.advance(60)
    with pytest.raises(UpstreamUnavailableError):
        env.source.refresh()
    assert env.total == 0
    env.poll(60)
    assert env.total == 1
    assert env.api.calls[2]["start_time"] == env.api.calls[1]["start_time"]


def test_records_applied_before_a_failed_page_are_counted_once() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    for i in range(10):
        env.api.add(T0 + 10 + i, connection_failure_reason="400200:x" if i < 4 else "")
    env.api.fail_after = 6
    env.clock.advance(60)
    with pytest.raises(UpstreamUnavailableError):
        env.source.refresh()
    assert env.total == 6  # published although the poll failed
    env.poll(60)
    env.poll(60)
    assert env.total == 10
    assert env.failures == {("400200",): 4}
    assert env.source.snapshot.network_rtt.count == 6
    assert env.api.calls[2]["start_time"] == env.api.calls[1]["start_time"]


def test_keys_survive_an_outage_longer_than_any_fixed_ttl() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.api.add(T0 + 10)
    env.poll(60)
    assert env.total == 1
    env.api.fail_next = 24 * 60
    for _ in range(24 * 60):  # a day of failed polls
        env.clock.advance(60)
        with pytest.raises(UpstreamUnavailableError):
            env.source.refresh()
    env.api.fail_next = 0
    env.api.add(T0 + 86_000)
    env.poll(60)
    assert env.total == 2


def test_keys_expire_once_no_later_window_can_return_them() -> None:
    env = Env(overlap=120.0)
    env.source.refresh()
    for i in range(10):
        env.api.add(T0 + 5 + i)
    env.poll(60)
    assert env.source.snapshot.dedupe_keys == 10
    for _ in range(6):
        env.poll(60)
    assert env.source.snapshot.dedupe_keys == 0
    assert env.total == 10


def test_a_larger_overlap_after_reload_never_reaches_back_to_forgotten_keys() -> None:
    env = Env(overlap=120.0)
    env.source.refresh()
    for i in range(5):
        env.api.add(T0 + 10 + 60 * i)
        env.poll(60)
    env.poll(60)
    env.poll(60)
    assert env.total == 5
    env.config = dataclasses.replace(env.config, overlap=3600.0)
    env.poll(60)
    assert env.total == 5
    assert env.api.calls[-1]["start_time"] == env.api.calls[-2]["start_time"]


def test_records_without_a_transaction_id_are_deduplicated_by_their_fields() -> None:
    env = Env(api="v1.0", overlap=300.0)
    env.source.refresh()
    env.api.add(T0 + 10, transaction_id=None)
    env.api.add(T0 + 10, transaction_id=None, terminal_type="TC")  # another attempt
    for _ in range(4):
        env.poll(60)
    assert env.total == 2


def test_the_hash_key_ignores_the_fields_that_change_when_an_attempt_completes() -> None:
    base = {"user_name": "u", "computer_name": "c", "connection_start_time": "2027-01-01T00:00:10Z"}
    done = {**base, "connection_setup_time": "2027-01-01T00:00:12Z", "network_rtt": 5, "e2e_rtt": 9}
    start = parse_time(base["connection_start_time"])
    assert record_key(base, start) == record_key(done, start)
    assert record_key({**base, "user_name": "v"}, start) != record_key(base, start)
    assert record_key({"transaction_id": "abc", **base}, start) == "t:abc"


def test_switching_api_versions_counts_only_records_newer_than_the_last_poll() -> None:
    env = Env(overlap=300.0)
    env.api.add(T0 + 10)
    env.source.refresh()
    env.poll(60)
    env.config = dataclasses.replace(env.config, api="v1.0")
    env.api.add(T0 + 100)
    env.poll(60)
    assert env.api.calls[-1]["api"] == "login_records"
    assert env.total == 2


# ------------------------------------------------------------------------------ failures and labels


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("400200:The desktop is being prepared.", "400200"),
        (" 500100 : msg", "500100"),
        ("timeout while connecting", "unknown"),
        ("abc:def", "unknown"),
        (":no code", "unknown"),
        (400300, "400300"),
        ({"code": 1}, None),
    ],
)
def test_reason_code_is_the_numeric_code_before_the_colon(reason: object, code: str | None) -> None:
    assert reason_code(reason) == code


def test_failures_are_counted_by_reason_code_and_the_message_never_becomes_a_label() -> None:
    env = Env()
    env.api.add(T0 + 1, connection_failure_reason="400200:The desktop is being prepared.")
    env.api.add(T0 + 2, connection_failure_reason="400200:Another message.")
    env.api.add(T0 + 3, connection_failure_reason="no code here")
    env.api.add(T0 + 4, connection_failure_reason=["garbage"])
    env.api.add(T0 + 5)
    env.source.refresh()
    assert env.total == 5
    assert env.failures == {("400200",): 2, ("unknown",): 2}
    assert env.invalid.count == {"connections": 1}
    text = str(_samples(env.source))
    assert "prepared" not in text and "message" not in text


def test_reason_codes_beyond_the_cap_collapse_into_other() -> None:
    env = Env()
    for i in range(MAX_REASON_CODES + 5):
        env.api.add(T0 + 1, connection_failure_reason=f"{100000 + i}:x")
    env.source.refresh()
    assert len(env.failures) == MAX_REASON_CODES + 1
    assert env.failures[("other",)] == 5
    assert env.source.snapshot.label_overflow == 5


def test_extra_labels_are_added_in_the_configured_order() -> None:
    env = Env(extra_labels=["terminal_type", "user_name"])
    env.api.add(T0 + 1, user_name="alice", connection_failure_reason="400200:x")
    env.api.add(T0 + 2, user_name="alice")
    env.source.refresh()
    samples = _samples(env.source)
    key = (NS + "connections_total", (("terminal_type", "WI"), ("user_name", "alice")))
    assert samples[key] == 2
    fkey = (
        NS + "connection_failures_total",
        (("reason_code", "400200"), ("terminal_type", "WI"), ("user_name", "alice")),
    )
    assert samples[fkey] == 1


def test_label_sets_beyond_the_cap_go_to_other_and_are_counted() -> None:
    env = Env(extra_labels=["user_name"], max_label_sets=3)
    for i in range(5):
        env.api.add(T0 + 1, user_name=f"u{i}", connection_failure_reason="400200:x" if i == 4 else "")
    env.api.add(T0 + 2, user_name="u0")
    env.source.refresh()
    conns = dict(env.source.snapshot.connections)
    assert conns == {("u0",): 2, ("u1",): 1, ("u2",): 1, ("other",): 2}
    assert env.failures == {("400200", "other"): 1}
    assert _samples(env.source)[(NS + "connection_label_overflow_total", ())] == 2


def test_changing_extra_labels_on_reload_restarts_the_counters_with_the_new_labels() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    rec = env.api.add(T0 + 10, connection_setup_time=None)
    env.poll(60)
    env.config = dataclasses.replace(env.config, extra_labels=["desktop_id"])
    env.api.update(rec["transaction_id"], connection_failure_reason="400200:x")
    env.poll(60)
    assert dict(env.source.snapshot.connections) == {}
    assert env.failures == {("400200", rec["desktop_id"]): 1}
    _samples(env.source)  # a valid exposition


def test_without_extra_labels_the_total_is_exposed_at_zero_from_the_start() -> None:
    env = Env()
    samples = _samples(env.source)
    assert samples[(NS + "connections_total", ())] == 0
    assert not any(name == NS + "connection_failures_total" for name, _ in samples)


# ------------------------------------------------------------------------------ garbage and histograms


def test_garbage_records_are_counted_as_invalid_once_and_skipped() -> None:
    env = Env(overlap=300.0)
    env.source.refresh()
    env.api.add(T0 + 10, connection_start_time="yesterday")
    env.api.add(T0 + 11, network_rtt="n/a", e2e_rtt=float("nan"))
    env.api.add(T0 + 12, connection_setup_time=fmt_seconds(T0 + 2))  # setup before start
    env.api.add(T0 + 13, network_rtt=-5, e2e_rtt=True)
    for _ in range(3):
        env.poll(60)
    snap = env.source.snapshot
    assert env.total == 3
    assert env.invalid.count == {"connections": 6}
    assert snap.network_rtt.count == 1 and snap.e2e_rtt.count == 1
    assert snap.setup.count == 2


def test_histograms_have_remote_desktop_buckets_and_exact_sums() -> None:
    env = Env()
    for i, (rtt, setup) in enumerate([(4, 1), (10, 3), (60, 9), (2500, 400)]):
        start = T0 + 1 + i
        env.api.add(
            start, network_rtt=rtt, e2e_rtt=rtt + 10, connection_setup_time=fmt_seconds(start + setup)
        )
    env.api.add(T0 + 9, connection_failure_reason="400200:x", network_rtt=999)  # failures: no latency
    env.source.refresh()
    s = _samples(env.source)
    net = NS + "connection_network_rtt_seconds"
    assert s[(net + "_bucket", (("le", "0.005"),))] == 1
    assert s[(net + "_bucket", (("le", "0.01"),))] == 2
    assert s[(net + "_bucket", (("le", "0.075"),))] == 3
    assert s[(net + "_bucket", (("le", "2.0"),))] == 3
    assert s[(net + "_bucket", (("le", "+Inf"),))] == 4
    assert s[(net + "_count", ())] == 4
    assert s[(net + "_sum", ())] == pytest.approx(2.574)
    assert s[(NS + "connection_e2e_rtt_seconds_sum", ())] == pytest.approx(2.614)
    setup = NS + "connection_setup_duration_seconds"
    assert s[(setup + "_bucket", (("le", "1.0"),))] == 1
    assert s[(setup + "_bucket", (("le", "3.0"),))] == 2
    assert s[(setup + "_bucket", (("le", "300.0"),))] == 3
    assert s[(setup + "_count", ())] == 4
    assert s[(setup + "_sum", ())] == 413.0
    bounds = [float(le) for (name, labels), _ in s.items() if name == net + "_bucket" for _, le in labels]
    assert sorted(b for b in bounds if math.isfinite(b)) == list(RTT_BUCKETS)


def test_every_family_the_source_exposes_is_in_the_catalogue() -> None:
    env = Env(extra_labels=["user_name"])
    env.api.add(T0 + 1, connection_failure_reason="400200:x")
    env.source.refresh()
    names = {f.full_name for f in m.ALL} | {f.exposed_name for f in m.ALL}
    fams = families(env.source.snapshot)
    assert {f.name for f in fams} <= names
    assert len(fams) == len(m.CONNECTION_FAMILIES)


def test_a_disabled_source_exposes_nothing_and_polls_nothing() -> None:
    env = Env()
    env.config = dataclasses.replace(env.config, enabled=False)
    before = env.source.snapshot
    env.source.refresh()
    assert env.api.calls == []
    assert env.source.snapshot is before


def test_config_rejects_unknown_and_repeated_extra_labels() -> None:
    from exporter.errors import ConfigError

    raw = {"region": "ap-southeast-1", "connections": {"extra_labels": ["user_name", "ip", "user_name"]}}
    env = {"HUAWEICLOUD_SDK_AK": "a", "HUAWEICLOUD_SDK_SK": "b"}
    with pytest.raises(ConfigError) as e:
        parse_config(raw, env)
    assert e.value.problems == [
        "connections.extra_labels[1]: must be one of user_name, computer_name, desktop_id, terminal_type "
        "(got 'ip')",
        "connections.extra_labels[2]: 'user_name' is listed twice",
    ]


# ------------------------------------------------------------------------------ poisoned values


@pytest.mark.parametrize(
    "field", ["connection_start_time", "connection_setup_time", "network_rtt", "e2e_rtt"]
)
def test_a_400_digit_number_in_a_record_is_counted_invalid_and_never_wedges_the_source(
    field: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = Env(overlap=300.0)
    env.api.add(T0 + 5, **{field: int("9" * 400)})
    env.api.add(T0 + 6)
    for _ in range(3):
        env.poll(60)
    assert env.invalid.count == {"connections": 1}
    assert env.total == (1 if field == "connection_start_time" else 2)
    env.api.add(T0 + 200)
    env.poll(60)  # the source is not wedged: later records still count
    assert env.total == (2 if field == "connection_start_time" else 3)
    lines = [r.getMessage() for r in caplog.records if "invalid values" in r.getMessage()]
    assert len(lines) == 1  # one line when invalid records start, not one per poll


def test_the_invalid_record_log_says_when_records_are_valid_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    env = Env()
    env.api.add(T0 + 5, connection_start_time=int("9" * 400))
    env.poll(60)
    env.poll(120)  # the window moved past the bad record
    env.poll(60)
    msgs = [r.getMessage() for r in caplog.records if "connection records" in r.getMessage()]
    assert [m.split(" api=")[0] for m in msgs if "valid" in m] == [
        "connection records with invalid values skipped",
        "connection records valid again",
    ]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("The desktop is being prepared.", "400200"),
        ("  the DESKTOP is being prepared ", "400200"),
        ("Benutzer alice ist gesperrt", "unknown"),
        (int("9" * 400), None),
        (-1, None),
    ],
)
def test_a_reason_without_a_numeric_prefix_maps_known_texts_and_else_is_unknown(
    reason: object, code: str | None
) -> None:
    assert reason_code(reason) == code


def test_plain_text_reasons_never_become_labels_and_each_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    env = Env()
    env.api.add(T0 + 1, connection_failure_reason="The desktop is being prepared.")
    for i in range(3):
        env.api.add(T0 + 2 + i, connection_failure_reason="User alice is locked.")
    env.source.refresh()
    assert env.failures == {("400200",): 1, ("unknown",): 3}
    assert "alice" not in str(_samples(env.source))
    lines = [r.getMessage() for r in caplog.records if "without a numeric code" in r.getMessage()]
    assert lines == ["connection failure without a numeric code api=connections reason=user alice is locked"]


@pytest.mark.parametrize(
    "start", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", -5, "2100-06-01T00:00:00Z"]
)
def test_an_implausible_start_time_is_invalid_and_the_record_skipped(start: object) -> None:
    env = Env()
    env.api.add(T0 + 5, connection_start_time=start)
    env.api.add(T0 + 6)
    env.source.refresh()
    assert env.total == 1
    assert env.invalid.count == {"connections": 1}


def test_extra_label_values_are_stripped_capped_and_cleaned() -> None:
    env = Env(extra_labels=["user_name"])
    env.api.add(T0 + 1, user_name=" alice ")
    env.api.add(T0 + 2, user_name="alice")
    env.api.add(T0 + 3, user_name="b\ud800b")
    env.api.add(T0 + 4, user_name="z" * 1000)
    env.source.refresh()
    assert dict(env.source.snapshot.connections) == {
        ("alice",): 2,
        ("b\ufffdb",): 1,
        ("z" * 127 + "…",): 1,
    }
    _samples(env.source)  # a valid exposition


# ---------------------------------------------------------------------------- windows too large


def _backlog(env: Env, n: int, days: float) -> None:
    step = days * 86400 / n
    for i in range(n):
        env.api.add(T0 - days * 86400 + 60 + i * step)


def test_a_window_larger_than_the_cap_is_split_and_every_record_is_counted_once() -> None:
    env = Env(lookback=3 * 86400, max_records_per_window=10)
    env.api.page_size = 5
    _backlog(env, 200, 3)
    seen_windows: list[tuple[str, str]] = []
    for _ in range(40):
        env.poll()
        seen_windows.append((env.api.calls[-1]["start_time"], env.api.calls[-1]["end_time"]))
        if env.total == 200:
            break
    assert env.total == 200
    assert env.invalid.truncations == []  # a split loses nothing: no cut to report
    # A window over the cap cost its first page only (its total said so), then was halved ...
    oversized = [c for c in env.api.calls if len(env.api.matching(c)) > 10]
    assert len(oversized) <= 16 + len(seen_windows)
    # ... and each poll moved on: no window was asked for again and again.
    assert len(set(seen_windows)) == len(seen_windows)
    env.poll()
    assert env.source._span is None  # caught up: windows are whole again


def test_without_a_total_a_window_found_too_large_while_reading_is_split_from_the_next_poll() -> None:
    env = Env(lookback=86400, max_records_per_window=10, api="v1.0")
    env.api.totals = False
    env.api.page_size = 5
    _backlog(env, 60, 1)
    for _ in range(40):
        env.poll()
        if env.total == 60:
            break
    assert env.total == 60
    assert env.invalid.truncations == []


def test_a_minute_with_more_records_than_the_cap_is_cut_counted_and_passed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = Env(max_records_per_window=10)
    env.api.page_size = 5
    for i in range(25):
        env.api.add(T0 + 5 + i)  # 25 attempts in one minute
    env.poll()
    env.poll()
    assert env.total == 10
    # Cut at every poll that still re-reads the minute (connections.overlap), and marked each time.
    assert env.invalid.truncations == [("connections", "connections.max_records_per_window")] * 2
    last = env.api.calls[-1]
    assert parse_time(last["start_time"]) == math.floor(T0 / 60) * 60  # re-read for the overlap ...
    env.api.add(T0 + 400)  # ... and once the overlap has passed it, a later record is counted
    for _ in range(10):
        env.poll()
    assert env.total == 11
    lines = [r for r in caplog.records if "connections.max_records_per_window" in r.getMessage()]
    assert any(r.levelname == "WARNING" and "stopped at a cap" in r.getMessage() for r in lines)
