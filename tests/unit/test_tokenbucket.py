"""The one token bucket, on explicit times: burst, refill rate, its cap, waits and charges."""

from __future__ import annotations

import pytest

from exporter.tokenbucket import TokenBucket


def _take_all(bucket: TokenBucket) -> int:
    n = 0
    while bucket.take():
        n += 1
        assert n < 1000
    return n


def test_a_new_bucket_holds_its_burst_and_nothing_more() -> None:
    bucket = TokenBucket(3, now=100.0)
    assert _take_all(bucket) == 3
    assert not bucket.take()


def test_it_refills_at_the_rate_per_period_up_to_the_burst() -> None:
    per_minute = TokenBucket(5, now=0.0, per=60.0)
    _take_all(per_minute)
    per_minute.refill(30.0, rate=60)  # 60 a minute for 30 s
    assert per_minute.tokens == pytest.approx(5.0)  # 30 would be, capped at the burst
    per_minute.tokens = 0.0
    per_minute.refill(32.0, rate=60)
    assert per_minute.tokens == pytest.approx(2.0)
    per_second = TokenBucket(10, now=0.0)
    _take_all(per_second)
    per_second.refill(2.5, rate=2)
    assert _take_all(per_second) == 5


def test_level_and_wait_look_ahead_without_changing_the_bucket() -> None:
    bucket = TokenBucket(1, now=0.0)
    assert bucket.take()
    assert bucket.level(0.5, rate=1) == pytest.approx(0.5)
    assert bucket.wait(0.5, rate=1) == pytest.approx(0.5)
    assert bucket.wait(0.0, rate=0.1) == pytest.approx(10.0)
    assert bucket.wait(1.0, rate=1) == 0.0
    assert bucket.tokens == 0.0 and bucket.updated == 0.0


def test_a_clock_that_steps_back_adds_nothing() -> None:
    bucket = TokenBucket(2, now=10.0)
    bucket.tokens = 1.0
    assert bucket.level(5.0, rate=1) == 1.0


def test_spend_charges_an_empty_bucket_without_going_below_zero() -> None:
    bucket = TokenBucket(1, now=0.0)
    bucket.spend()
    bucket.spend()
    assert bucket.tokens == 0.0
    assert bucket.wait(0.0, rate=1) == 1.0
