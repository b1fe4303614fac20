"""No silent zeros, end to end: refusals by the fake API reach the exporter's metrics and
``up``, even when they concern single items of a refresh."""

from __future__ import annotations

import time
from typing import Any

import pytest

from exporter.config.settings import parse_config
from tests.conftest import FakeApi, fast, wait_for

pytestmark = pytest.mark.integration

ERRORS = "huaweicloud_workspace_api_error_responses_total"


def test_a_refusal_is_counted_by_api_status_and_error_code(fake_api: FakeApi, start_exporter: Any) -> None:
    fake_api.state.deny("desktops_list")  # the light list: the inventory still refreshes
    running = start_exporter()
    labels = {"api": "desktops_list", "status": "403", "error_code": "WKS.00081102"}
    wait_for(lambda: (running.value(ERRORS, **labels) or 0) >= 1)
    assert running.value("huaweicloud_workspace_up", source="inventory") == 1.0
    text = running.scrape()
    assert f'{ERRORS}{{api="desktops_detail"' not in text  # nothing pre-declared


def test_events_whose_every_recording_is_refused_read_as_down_not_as_a_quiet_zero(
    fake_api: FakeApi, start_exporter: Any
) -> None:
    state = fake_api.state
    now = time.time()
    for desktop in state.desktops[:3]:
        rec = state.add_screen_record(desktop["desktop_id"], start_time=now - 600)
        state.add_operation(rec["id"])
    state.fail("os_operations", 400, times=None, error_code="WKS.00211102", error_msg="Invalid parameter")
    settings = fast(parse_config(fake_api.config(events={"enabled": True}), fake_api.env()))
    running = start_exporter(settings)
    labels = {"api": "os_operations", "status": "400", "error_code": "WKS.00211102"}
    # up reads 0 before the first refresh ends, so wait for the refusals themselves too.
    wait_for(
        lambda: (
            running.value("huaweicloud_workspace_up", source="events") == 0.0
            and (running.value(ERRORS, **labels) or 0) >= 3
        )
    )
    assert (
        running.value(
            "huaweicloud_workspace_api_page_shrinks_total", api="os_operations", reason="bad_request"
        )
        or 0
    ) >= 1
    state.reset_faults()
    wait_for(lambda: running.value("huaweicloud_workspace_up", source="events") == 1.0, timeout=120)
