"""Nothing vanishes silently from the inventory: hostile listings against the fake API.

An upstream that ignores ``offset``, a ``total_count`` that disagrees with the listing, a
desktop deleted between two pages (the offsets shift under the reader), lookups that fail,
and desktops with hundreds of tags. Each runs the real client and the real inventory
source against the fake Workspace API on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import parse_config
from exporter.errors import InvalidResponseError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.sources.inventory import InventorySource
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from tests.conftest import FakeApi, fast, wait_for


class Counts(NullObserver):
    def __init__(self) -> None:
        self.invalid: dict[str, int] = {}
        self.shrunk: list[tuple[str, str]] = []
        self.cut: list[tuple[str, str]] = []

    def invalid_response(self, api: str) -> None:
        self.invalid[api] = self.invalid.get(api, 0) + 1

    def page_shrunk(self, api: str, reason: str) -> None:
        self.shrunk.append((api, reason))

    def truncated(self, api: str, key: str) -> None:
        self.cut.append((api, key))


@dataclass
class Rig:
    state: FakeWorkspace
    client: WorkspaceClient
    source: InventorySource
    counts: Counts

    def ids(self) -> set[str]:
        assert self.source.snapshot is not None
        return set(self.source.snapshot.by_id)


@pytest.fixture
def big_fake() -> Iterator[FakeApi]:
    state = FakeWorkspace(desktops=1199)
    server = FakeServer(state)
    try:
        yield FakeApi(state, server.start())
    finally:
        server.stop()


def _rig(api: FakeApi, **overrides: Any) -> Iterator[Rig]:
    settings = parse_config(api.config(**overrides), api.env())
    clock = FakeClock(time.time())  # requests are signed with this time
    counts = Counts()
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), counts, clock)
    source = InventorySource(client, settings.config.inventory, clock, counts, settings.config.shard)
    try:
        yield Rig(api.state, client, source, counts)
    finally:
        client.close()


@pytest.fixture
def rig(big_fake: FakeApi) -> Iterator[Rig]:
    yield from _rig(big_fake)


def _all_ids(state: FakeWorkspace) -> set[str]:
    return {d["desktop_id"] for d in state.desktops}


# ---------------------------------------------------------------------------- offset ignored


def test_an_upstream_that_ignores_offset_fails_the_refresh_and_keeps_the_last_inventory(rig: Rig) -> None:
    rig.source.refresh()
    assert rig.ids() == _all_ids(rig.state) and len(rig.ids()) == 1199
    rig.state.ignore_offset("desktops_detail")
    with pytest.raises(InvalidResponseError, match="offset"):
        rig.source.refresh()
    assert len(rig.ids()) == 1199  # the last good inventory, not the first page
    assert rig.counts.invalid["desktops_detail"] >= 1


def test_an_upstream_that_ignores_offset_from_the_start_publishes_nothing(rig: Rig) -> None:
    rig.state.ignore_offset("desktops_detail")
    with pytest.raises(InvalidResponseError):
        rig.source.refresh()
    assert rig.source.snapshot is None


def test_a_total_count_that_disagrees_with_the_listing_is_an_invalid_response(rig: Rig) -> None:
    rig.source.refresh()
    rig.state.remove_desktop(sorted(_all_ids(rig.state))[0])
    rig.state.garbage("desktops_detail", times=None, kind="wrongtotal")
    with pytest.raises(InvalidResponseError, match="total_count"):
        rig.source.refresh()
    assert len(rig.ids()) == 1199
    rig.state.reset_faults()
    rig.source.refresh()
    assert len(rig.ids()) == 1198


def test_the_exporter_reports_an_offset_ignoring_upstream_as_down_and_counts_it(
    big_fake: FakeApi, start_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    big_fake.state.ignore_offset("desktops_detail")
    running = start_exporter(fast(parse_config(big_fake.config(), big_fake.env()), inventory=0.3))
    wait_for(lambda: running.value("huaweicloud_workspace_up", source="inventory") == 0.0)
    invalid = "huaweicloud_workspace_api_invalid_responses_total"
    wait_for(lambda: (running.value(invalid, api="desktops_detail") or 0) >= 1)
    assert (
        running.value("huaweicloud_workspace_desktop_info", desktop_id=sorted(_all_ids(big_fake.state))[0])
        is None
    )
    lines = [r for r in caplog.records if "offset" in r.getMessage() and r.levelname == "WARNING"]
    assert len(lines) == 1, [r.getMessage() for r in lines]


# ---------------------------------------------------------------------------- deleted mid-listing


def test_a_desktop_deleted_mid_listing_never_makes_a_live_desktop_disappear(rig: Rig) -> None:
    rig.source.refresh()
    order = [d["desktop_id"] for d in rig.state.desktops]
    deleted = order[10]  # on the first page: every later desktop moves one place forward
    rig.state.after_answer("desktops_detail", 1, lambda: rig.state.remove_desktop(deleted))
    rig.source.refresh()
    live = _all_ids(rig.state)
    assert live <= rig.ids(), sorted(live - rig.ids())  # order[500] was skipped by the shift
    rig.source.refresh()
    assert rig.ids() == live  # the deleted one is gone once a lookup confirms it


def test_every_page_boundary_survives_a_deletion_on_any_page(big_fake: FakeApi) -> None:
    for page, position in ((1, 499), (2, 500), (2, 999)):
        state = big_fake.state
        state.reset_faults()
        for rig in _rig(big_fake):
            rig.source.refresh()
            victim = [d["desktop_id"] for d in state.desktops][position]
            state.after_answer("desktops_detail", page, lambda v=victim, s=state: s.remove_desktop(v))
            rig.source.refresh()
            assert _all_ids(state) <= rig.ids(), (page, position)


def test_a_deleted_desktop_leaves_at_once_when_a_lookup_confirms_it(rig: Rig) -> None:
    rig.source.refresh()
    victim = sorted(_all_ids(rig.state))[7]
    rig.state.remove_desktop(victim)
    rig.state.reset_calls()
    rig.source.refresh()
    assert victim not in rig.ids()
    assert rig.state.calls("desktop_detail") == 1


def test_without_lookups_a_desktop_leaves_after_the_second_listing_that_misses_it(rig: Rig) -> None:
    rig.source.refresh()
    victim = sorted(_all_ids(rig.state))[7]
    rig.state.remove_desktop(victim)
    rig.state.fail("desktop_detail", 503, times=None)
    rig.source.refresh()
    assert victim in rig.ids()  # the lookup could not say: kept as last seen
    rig.source.refresh()
    assert victim not in rig.ids()


@pytest.mark.parametrize(
    ("status", "code", "msg", "gone"),
    [
        (404, "WKS.00211404", "The desktop does not exist.", True),
        (404, "", "", True),
        (404, "WKS.00211404", "<html>Not Found</html>", True),
        (410, "", "", True),
        (400, "WKS.00010103", "The desktop does not exist.", True),
        (400, "WKS.00211102", "Invalid parameter: desktop_id", False),
        (404, "APIGW.0101", "The API does not exist or has not been published in the environment", False),
        (403, "WKS.00081102", "no permission", False),
        (500, "WKS.00211401", "", False),
    ],
)
def test_each_plausible_not_found_answer_of_a_lookup(
    big_fake: FakeApi, status: int, code: str, msg: str, gone: bool
) -> None:
    for rig in _rig(big_fake, http={"max_retries": 0}):
        rig.source.refresh()
        victim = sorted(_all_ids(rig.state))[3]
        rig.state.remove_desktop(victim)
        rig.state.fail("desktop_detail", status, times=None, error_code=code, error_msg=msg)
        rig.source.refresh()
        assert (victim not in rig.ids()) is gone


# ---------------------------------------------------------------------------- tags


def _tagged(state: FakeWorkspace, n: int, tags: int, value_len: int = 60) -> None:
    for i in range(n):
        tag_list: list[Any] = [
            {"key": f"key-{j:03d}", "value": f"{i}-" + "v" * value_len} for j in range(tags)
        ]
        tag_list.insert(5, {"key": "env", "value": "prod"})
        state.add_desktop(tags=tag_list)


def test_only_the_configured_tags_are_kept_and_a_page_past_the_body_cap_shrinks(fake_api: FakeApi) -> None:
    _tagged(fake_api.state, 120, 200)  # about 24 kB of tags a desktop
    for rig in _rig(fake_api, inventory={"tag_labels": ["env", "key-007"]}, http={"max_body_bytes": 1 << 20}):
        rig.source.refresh()
        assert rig.source.snapshot is not None
        assert len(rig.source.snapshot.desktops) == 130
        keys = [{k for k, _ in d.tags} for d in rig.source.snapshot.desktops]
        assert keys.count({"env", "key-007"}) == 120
        assert keys.count({"env"}) == 10  # the fake's own desktops carry env and team
        assert ("desktops_detail", "body_too_large") in rig.counts.shrunk


def test_hostile_tags_are_skipped_and_never_crash_the_inventory(fake_api: FakeApi) -> None:
    hostile: list[Any] = [
        "not an object",
        None,
        {"key": 42, "value": "number key"},
        {"key": None},
        {"value": "no key"},
        {"key": " env ", "value": "first wins"},
        {"key": "env", "value": "second"},
        {"key": "team", "value": {"nested": ["x"]}},
        {"key": "huge", "value": "x" * 100_000},
    ]
    d = fake_api.state.add_desktop(tags=hostile)
    fake_api.state.add_desktop(tags={"env": "a mapping, not a list"})
    for rig in _rig(fake_api, inventory={"tag_labels": ["env", "team", "huge"]}):
        rig.source.refresh()
        assert rig.source.snapshot is not None
        desktop = rig.source.snapshot.by_id[d["desktop_id"]]
        assert desktop.tag("env") == "first wins"
        assert desktop.tag("team") == ""
        assert len(desktop.tag("huge")) == 256
