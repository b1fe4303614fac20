"""Per-desktop scheduling: stable phases, never faster than the interval, spread evenly."""

from __future__ import annotations

from exporter.scheduler import next_slot, phase


def test_phase_is_stable_and_inside_the_interval() -> None:
    for i in range(200):
        p = phase(f"desktop-{i}", 300.0)
        assert 0.0 <= p < 300.0
        assert p == phase(f"desktop-{i}", 300.0)


def test_phases_spread_evenly_over_the_interval() -> None:
    buckets = [0] * 10
    for i in range(5000):
        buckets[int(phase(f"d-{i:05d}", 300.0) // 30)] += 1
    assert min(buckets) > 400 and max(buckets) < 600  # 500 expected per 30 s slice


def test_next_slot_is_never_earlier_than_asked_and_on_the_phase() -> None:
    for i in range(100):
        did = f"desk-{i}"
        for earliest in (0.0, 12.5, 299.9, 1000.0, 123456.7):
            t = next_slot(did, earliest, 300.0)
            assert earliest <= t < earliest + 300.0
            assert (
                abs((t - phase(did, 300.0)) % 300.0) < 1e-6
                or abs((t - phase(did, 300.0)) % 300.0 - 300) < 1e-6
            )


def test_successive_refreshes_are_exactly_one_interval_apart_once_settled() -> None:
    t = next_slot("abc", 1000.0, 300.0)
    for _ in range(5):
        nxt = next_slot("abc", t + 300.0, 300.0)
        assert abs(nxt - t - 300.0) < 1e-6
        t = nxt
