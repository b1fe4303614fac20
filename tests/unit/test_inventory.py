"""The inventory source on an in-memory API: consistency checks, leaving, caps, tags, pools."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import InventoryConfig, ShardConfig
from exporter.errors import AuthError, InvalidResponseError, UpstreamUnavailableError
from exporter.sources.conditions import not_found
from exporter.sources.desktop_records import desktop_hook, parse_desktop, shard_of
from exporter.sources.inventory import InventorySource
from exporter.upstream.paging import Page
from tests.unit.memory_lister import MemoryLister, Pages, Sink


def _rows(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [{"desktop_id": f"d{i:05d}", "computer_name": f"pc-{i}", **extra} for i in range(start, start + n)]


def _source(up: MemoryLister, **cfg: Any) -> tuple[InventorySource, Sink]:
    sink = Sink()
    shard = cfg.pop("shard", None)
    return InventorySource(up, InventoryConfig(**cfg), FakeClock(), sink, shard), sink


def _ids(src: InventorySource) -> list[str]:
    assert src.snapshot is not None
    return list(src.snapshot.by_id)


class Scripted(MemoryLister):
    """desktops/detail answered by a list of listings, each a list of (items, total) pages."""

    def __init__(self, listings: list[list[tuple[list[dict[str, Any]], int | None]]]) -> None:
        super().__init__([])
        self.listings = listings

    def listing(self, api: str, items_key: str, *, object_pairs_hook: Any = None) -> Pages:
        if api != "desktops_detail":
            return super().listing(api, items_key, object_pairs_hook=object_pairs_hook)
        self.calls.append(api)
        pages, offset = [], 0
        for items, total in self.listings.pop(0):
            pages.append(Page([dict(i) for i in items], total, offset))
            offset += len(items)
        return Pages(pages)


def test_a_page_that_repeats_an_earlier_one_not_the_last_is_caught() -> None:
    a, b = _rows(500), _rows(500, 500)
    up = Scripted([[(a, 1200), (b, 1200), (a, 1200)]] * 2)
    src, sink = _source(up)
    with pytest.raises(InvalidResponseError, match="only desktops listed before"):
        src.refresh()
    assert sink.count == {"desktops_detail": 1}  # counted once: the second listing, not the retry
    assert up.calls.count("desktops_detail") == 2


def test_a_listing_that_changed_while_read_is_read_again_once_and_then_used() -> None:
    rows = _rows(700)
    up = Scripted([[(rows[:500], 700), (rows[499:700], 701)], [(rows[:500], 700), (rows[500:], 700)]])
    src, sink = _source(up)
    src.refresh()
    assert len(_ids(src)) == 700
    assert sink.count == {} and up.calls.count("desktops_detail") == 2


def test_records_without_an_id_count_towards_the_total_and_do_not_fail_the_listing() -> None:
    up = MemoryLister([*_rows(3), {"computer_name": "no id"}, {"desktop_id": 17}])
    src, sink = _source(up)
    src.refresh()
    assert _ids(src) == ["d00000", "d00001", "d00002"]
    assert sink.count == {"desktops_detail": 2}


def test_the_desktop_cap_exports_the_first_desktops_and_is_logged_once_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    up = MemoryLister(_rows(1200))
    src, sink = _source(up, max_desktops=1000, max_lookups=200)
    src.refresh()
    src.refresh()
    assert len(_ids(src)) == 1000
    assert sink.truncations == [("desktops_detail", "inventory.max_desktops")] * 2
    up.detail = _rows(900)
    src.refresh()
    assert len(_ids(src)) == 900
    lines = [r.getMessage() for r in caplog.records if "inventory.max_desktops" in r.getMessage()]
    assert len(lines) == 2
    assert "stopped at a cap" in lines[0] and "fits its cap again" in lines[1]


def test_with_shards_each_keeps_only_its_own_desktops_and_the_cap_is_per_shard() -> None:
    rows = _rows(3000)
    mine = [r["desktop_id"] for r in rows if shard_of(r["desktop_id"], 4) == 1]
    src, sink = _source(MemoryLister(rows), shard=ShardConfig(1, 4), max_desktops=len(mine))
    src.refresh()
    assert _ids(src) == sorted(mine)
    assert sink.truncations == []


def test_a_lookup_that_finds_a_missed_desktop_keeps_it_with_fresh_values() -> None:
    up = MemoryLister(_rows(5))
    src, _ = _source(up)
    src.refresh()
    up.detail = _rows(4)  # d00004 missing from the listing ...
    up.lookup["d00004"] = {"desktop": {"desktop_id": "d00004", "computer_name": "renamed"}}  # ... but there
    src.refresh()
    assert src.snapshot is not None and src.snapshot.by_id["d00004"].computer_name == "renamed"
    src.refresh()
    assert "d00004" in _ids(src)  # found again: never counted as missed


def test_a_lookup_answer_for_another_desktop_is_invalid_and_keeps_the_desktop() -> None:
    up = MemoryLister(_rows(5))
    src, sink = _source(up)
    src.refresh()
    up.detail = _rows(4)
    up.lookup["d00004"] = {"desktop": {"desktop_id": "d99999"}}
    src.refresh()
    assert "d00004" in _ids(src) and sink.count == {"desktop_detail": 1}
    src.refresh()
    assert "d00004" not in _ids(src)  # the second listing without it


def test_a_lookup_saying_deleted_removes_the_desktop() -> None:
    up = MemoryLister(_rows(5))
    src, _ = _source(up)
    src.refresh()
    up.detail = _rows(4)
    up.lookup["d00004"] = {"desktop": {"desktop_id": "d00004", "status": "DELETED"}}
    src.refresh()
    assert "d00004" not in _ids(src)


def test_lookups_are_capped_per_refresh_and_the_rest_waits_for_the_second_listing() -> None:
    up = MemoryLister(_rows(100))
    src, _ = _source(up, max_lookups=10)
    src.refresh()
    up.detail = _rows(50)
    src.refresh()
    assert len(_ids(src)) == 90 and up.calls.count("desktop_detail") == 10
    src.refresh()
    assert len(_ids(src)) == 50


def test_refused_lookups_are_logged_once_and_do_not_fail_the_refresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    up = MemoryLister(_rows(10))
    src, _ = _source(up)
    src.refresh()
    up.detail = _rows(5)
    for i in range(5, 10):
        up.lookup[f"d{i:05d}"] = AuthError("desktop_detail", 403, "WKS.00081102", "no permission")
    src.refresh()
    assert len(_ids(src)) == 10
    lines = [r for r in caplog.records if "refused some items" in r.getMessage()]
    assert len(lines) == 1 and "items=5" in lines[0].getMessage() and lines[0].levelname == "WARNING"


def test_the_pool_id_last_seen_is_kept_when_the_light_list_misses_a_desktop() -> None:
    up = MemoryLister(_rows(3), {"d00000": "pool-a", "d00001": "pool-b", "d00002": ""})
    src, _ = _source(up)
    src.refresh()
    up.pools = {"d00000": "pool-a", "d00002": "pool-c"}  # d00001 shifted out of the light list
    src.refresh()
    assert src.snapshot is not None
    assert {d.desktop_id: d.pool_id for d in src.snapshot.desktops} == {
        "d00000": "pool-a",
        "d00001": "pool-b",
        "d00002": "pool-c",
    }


def test_only_tag_labels_keys_survive_the_decoding_hook() -> None:
    import json

    raw = {
        "desktops": [
            {
                "desktop_id": "d1",
                "addresses": {"net": [{"addr": "10.0.0.1"}]},
                "metadata": {"os_type": "Linux", "image_name": "x" * 1000},
                "product": {"product_id": "p1", "cpu": "4"},
                "tags": [{"key": f"k{i}", "value": "v"} for i in range(200)]
                + [{"key": "env", "value": "prod"}],
            }
        ]
    }
    doc = json.loads(json.dumps(raw), object_pairs_hook=desktop_hook({"env", "k3"}))
    (slim,) = doc["desktops"]
    assert set(slim) == {"desktop_id", "metadata", "product", "tags"}
    assert slim["metadata"] == {"os_type": "Linux"} and slim["product"] == {"product_id": "p1"}
    assert slim["tags"] == [{"key": "k3", "value": "v"}, {"key": "env", "value": "prod"}]
    d = parse_desktop(slim, {"env", "k3"})
    assert d is not None and d.tags == (("k3", "v"), ("env", "prod")) and d.os_type == "Linux"


def test_not_found_reads_each_plausible_answer() -> None:
    from exporter.errors import ClientRequestError

    assert not_found(ClientRequestError("desktop_detail", 404, "", ""))
    assert not_found(ClientRequestError("desktop_detail", 404, "WKS.00211404", "whatever"))
    assert not not_found(ClientRequestError("desktop_detail", 404, "APIGW.0101", "not published"))
    assert not_found(ClientRequestError("desktop_detail", 400, "WKS.0001", "Desktop d1 does not exist"))
    assert not_found(ClientRequestError("desktop_detail", 400, "wks.0001", "The desktop is not found."))
    assert not not_found(ClientRequestError("desktop_detail", 400, "WKS.0001", "Invalid parameter"))
    assert not not_found(ClientRequestError("desktop_detail", 400, "APIGW.0201", "does not exist"))
    assert not not_found(UpstreamUnavailableError("desktop_detail", 503))
