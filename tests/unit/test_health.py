"""Health that tells the truth: ``up``, the last success, the log and readiness agree.

Everything runs on a :class:`~exporter.clock.FakeClock`: the health of one source (state
changes, deadlines), the runners (a refresh stopped by shutdown, a refresh past its
deadline, a monitoring pass with nothing to fetch) and the readiness of an exporter.
"""

from __future__ import annotations

import logging

import pytest

from exporter.clock import FakeClock
from exporter.errors import UpstreamError, UpstreamUnavailableError
from exporter.sources.base import SourceHealth

LOGGER = "exporter.sources.base"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def _timeout(request_id: str) -> UpstreamError:
    return UpstreamUnavailableError(
        "desktops_detail", 0, "", "", request_id, host="workspace.example", cause="read timeout"
    )


# ------------------------------------------------------------------ one line per state change


def test_a_source_failing_the_same_way_logs_once_whatever_the_request_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    h = SourceHealth("inventory", FakeClock())
    for i in range(5):
        h.failure(_timeout(f"req-{i}"))
    assert h.status.consecutive_failures == 5
    assert not h.status.up
    assert len(_lines(caplog)) == 1


def test_a_different_failure_is_one_more_line_and_recovery_one_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    h = SourceHealth("inventory", FakeClock())
    h.success()
    h.failure(_timeout("a"))
    h.failure(_timeout("b"))
    h.failure(UpstreamUnavailableError("desktops_detail", 503, "WKS.0001", "busy", "c"))
    h.failure(UpstreamUnavailableError("desktops_detail", 503, "WKS.0001", "busy", "d"))
    h.success()
    h.success()
    lines = _lines(caplog)
    assert len(lines) == 4, lines
    assert lines[0] == "source first refresh ok source=inventory"
    assert (
        lines[1].startswith("source refresh failed source=inventory") and "cause='read timeout'" in lines[1]
    )
    assert lines[2].startswith("source still failing source=inventory") and "status=503" in lines[2]
    assert lines[3] == "source recovered source=inventory after_failures=4"
    assert h.status.up and h.status.consecutive_failures == 0


def test_serving_last_good_data_is_said_only_when_there_was_some(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    never = SourceHealth("events", FakeClock())
    never.failure(_timeout("x"))
    had = SourceHealth("connections", FakeClock())
    had.success()
    had.failure(_timeout("x"))
    first, _, second = _lines(caplog)
    assert first.endswith("(no data yet)") and "serving" not in first
    assert second.endswith("(serving last good data)")
    assert never.status.last_success == 0 and had.status.last_success > 0


# ----------------------------------------------------------------------------- deadlines


def test_a_refresh_past_its_deadline_turns_up_to_zero_until_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("inventory", clock)
    h.success()
    h.begin(100.0)
    clock.advance(100.0)
    assert h.status.up and not h.status.overdue  # at the deadline: still on time
    clock.advance(1.0)
    for _ in range(3):  # every scrape sees it; the log says it once
        assert not h.status.up and h.status.overdue
    h.end()
    h.success()
    assert h.status.up and not h.status.overdue
    lines = _lines(caplog)
    assert len(lines) == 3, lines
    assert lines[1].startswith("source refresh overdue source=inventory running_for=101s deadline=100s")
    assert lines[1].endswith("(serving last good data)")
    assert lines[2] == "source refresh completed after its deadline source=inventory"


def test_an_overdue_refresh_that_then_fails_is_logged_as_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = FakeClock()
    h = SourceHealth("inventory", clock)
    h.begin(10.0)
    clock.advance(11.0)
    assert not h.status.up
    h.end()
    h.failure(_timeout("x"))
    lines = _lines(caplog)
    assert [line.split(" source=")[0] for line in lines] == [
        "source refresh overdue",
        "source refresh failed",
    ]
    assert all(line.endswith("(no data yet)") for line in lines)
