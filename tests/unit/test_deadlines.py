"""The one thread that cuts upstream exchanges past their deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from exporter.upstream.deadlines import DeadlineWatch


class Cuts:
    def __init__(self) -> None:
        self.idents: list[int] = []
        self.event = threading.Event()

    def __call__(self, ident: int) -> None:
        self.idents.append(ident)
        self.event.set()


@pytest.fixture
def watch() -> Iterator[tuple[DeadlineWatch, Cuts]]:
    cuts = Cuts()
    w = DeadlineWatch(cuts)
    try:
        yield w, cuts
    finally:
        w.close()
        w.thread.join(5)
    assert not w.thread.is_alive()


def test_a_deadline_that_passes_cuts_its_thread(watch: tuple[DeadlineWatch, Cuts]) -> None:
    w, cuts = watch
    w.arm(101, 0.05)
    assert cuts.event.wait(5)
    assert cuts.idents == [101]


def test_a_withdrawn_deadline_never_cuts(watch: tuple[DeadlineWatch, Cuts]) -> None:
    w, cuts = watch
    w.disarm(w.arm(101, 0.05))
    later = w.arm(202, 0.2)  # filed after: its cut proves the watch went past the first
    assert cuts.event.wait(5)
    assert cuts.idents == [202]
    w.disarm(later)


def test_deadlines_are_cut_in_their_order_not_the_order_they_were_filed(
    watch: tuple[DeadlineWatch, Cuts],
) -> None:
    w, cuts = watch
    w.arm(3, 0.3)
    w.arm(1, 0.05)
    w.arm(2, 0.15)
    deadline = time.monotonic() + 5
    while len(cuts.idents) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cuts.idents == [1, 2, 3]


def test_calls_that_end_early_do_not_grow_what_the_watch_holds(watch: tuple[DeadlineWatch, Cuts]) -> None:
    w, cuts = watch
    for i in range(10_000):
        w.disarm(w.arm(i, 60.0))
    assert len(w._heap) <= 64 + 2  # withdrawn deadlines are dropped in bulk
    assert cuts.idents == []


def test_the_watch_is_one_thread_whatever_the_number_of_calls(watch: tuple[DeadlineWatch, Cuts]) -> None:
    w, _ = watch
    before = threading.active_count()
    tokens = [w.arm(i, 60.0) for i in range(200)]
    assert threading.active_count() == before
    for t in tokens:
        w.disarm(t)
