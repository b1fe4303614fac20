"""Paged listings (exporter/upstream/paging.py) against a scripted server on 127.0.0.1:
page shrinking on the body cap and on a 400, caps that truncate, offsets that are ignored."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import parse_config
from exporter.errors import ClientRequestError, InvalidResponseError
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from exporter.upstream.paging import PAGE_FLOOR

Reply = Callable[[dict[str, str]], tuple[int, Any]]


class Server:
    """Answers every request with ``reply(query)``; remembers each query."""

    def __init__(self) -> None:
        self.reply: Reply = lambda q: (200, {"records": [], "total_count": 0})
        self.queries: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def limits(self) -> list[int]:
        with self.lock:
            return [int(q["limit"]) for q in self.queries]

    def offsets(self) -> list[int]:
        with self.lock:
            return [int(q["offset"]) for q in self.queries]


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    s = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            with s.lock:
                s.queries.append(query)
            status, body = s.reply(query)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield s, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class Events(NullObserver):
    def __init__(self) -> None:
        self.shrunk: list[tuple[str, str]] = []
        self.truncated_: list[tuple[str, str]] = []
        self.invalid: list[str] = []

    def page_shrunk(self, api: str, reason: str) -> None:
        self.shrunk.append((api, reason))

    def truncated(self, api: str, key: str) -> None:
        self.truncated_.append((api, key))

    def invalid_response(self, api: str) -> None:
        self.invalid.append(api)


def _client(url: str, events: Events, **http: Any) -> WorkspaceClient:
    settings = parse_config(
        {
            "region": "ap-southeast-1",
            "project_id": "proj",
            "endpoints": {"workspace": url, "iam": url, "ces": url},
            "http": {"max_retries": 0, **http},
            "budget": {"burst": 1000, "per_api": {"connections": 100000, "desktops_detail": 100000}},
        },
        {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"},
    )
    clock = FakeClock()
    return WorkspaceClient(settings, Budget(settings.config.budget, clock), events, clock, random.Random(1))


def _records(total: int, pad: int = 0) -> Reply:
    """A listing of ``total`` records, each ``pad`` bytes long, served by offset and limit."""

    def reply(q: dict[str, str]) -> tuple[int, Any]:
        offset, limit = int(q["offset"]), int(q["limit"])
        rows = [{"id": i, "pad": "x" * pad} for i in range(offset, min(total, offset + limit))]
        return 200, {"records": rows, "total_count": total}

    return reply


def _ids(client: WorkspaceClient, **kwargs: Any) -> list[int]:
    return [r["id"] for r in client.paginate("connections", "records", **kwargs)]


def test_a_page_past_the_body_cap_is_halved_until_it_fits_and_the_size_is_kept(
    server: tuple[Server, str], caplog: pytest.LogCaptureFixture
) -> None:
    s, url = server
    s.reply = _records(700, pad=1000)  # 1 kB a record: the 64 KiB cap takes about 60
    events = Events()
    client = _client(url, events, max_body_bytes=65536)
    assert _ids(client) == list(range(700))
    assert s.limits()[:5] == [1000, 500, 250, 125, 62]
    assert set(s.limits()[4:]) == {62}  # the rest of the listing at the size that fitted
    assert events.shrunk == [("connections", "body_too_large")] * 4
    s.queries.clear()
    assert _ids(client) == list(range(700))
    assert set(s.limits()) == {62}  # the next listing starts at the learned size
    shrink_lines = [r for r in caplog.records if "http.max_body_bytes" in r.getMessage()]
    assert len(shrink_lines) == 1 and shrink_lines[0].levelname == "WARNING"
    client.reconfigure(client._settings)  # a reload forgets it (the cap may have changed)
    s.queries.clear()
    _ids(client)
    assert s.limits()[0] == 1000


def test_a_page_that_never_fits_fails_at_the_floor(server: tuple[Server, str]) -> None:
    s, url = server
    s.reply = _records(1_000_000, pad=70_000)  # one record alone passes the cap
    client = _client(url, Events(), max_body_bytes=65536)
    with pytest.raises(InvalidResponseError, match="body larger than"):
        _ids(client)
    assert s.limits()[-1] == PAGE_FLOOR


def test_a_400_to_a_page_is_retried_once_with_a_tenth_and_the_size_that_works_is_kept(
    server: tuple[Server, str], caplog: pytest.LogCaptureFixture
) -> None:
    s, url = server
    inner = _records(250)

    def strict(q: dict[str, str]) -> tuple[int, Any]:
        if int(q["limit"]) > 100:  # stricter than our table, as os-operations may be
            return 400, {"error_code": "WKS.00211102", "error_msg": "Invalid parameter: limit"}
        return inner(q)

    s.reply = strict
    events = Events()
    client = _client(url, events)
    assert _ids(client) == list(range(250))
    assert s.limits() == [1000, 100, 100, 100]
    assert events.shrunk == [("connections", "bad_request")]
    s.queries.clear()
    assert _ids(client) == list(range(250))
    assert s.limits() == [100, 100, 100]
    lines = [r for r in caplog.records if "refused a page with 400" in r.getMessage()]
    assert len(lines) == 1 and "error_code=WKS.00211102" in lines[0].getMessage()


def test_a_400_that_is_not_about_the_page_size_costs_one_retry_and_is_raised(
    server: tuple[Server, str],
) -> None:
    s, url = server
    s.reply = lambda q: (400, {"error_code": "WKS.00211102", "error_msg": "Invalid parameter: start_time"})
    events = Events()
    client = _client(url, events)
    with pytest.raises(ClientRequestError) as exc:
        _ids(client)
    assert exc.value.status == 400
    assert s.limits() == [1000, 100]
    s.queries.clear()
    with pytest.raises(ClientRequestError):
        _ids(client)
    assert s.limits() == [1000, 100]  # nothing learned from a retry that failed too


def test_a_full_page_that_repeats_the_previous_one_is_an_invalid_response(
    server: tuple[Server, str],
) -> None:
    s, url = server
    first = _records(2500)
    s.reply = lambda q: first({**q, "offset": "0"})  # the offset is ignored
    events = Events()
    client = _client(url, events)
    with pytest.raises(InvalidResponseError, match="offset is ignored"):
        _ids(client)
    assert s.offsets() == [0, 1000]
    assert events.invalid == ["connections"]


def test_a_short_page_before_the_total_does_not_end_the_listing(server: tuple[Server, str]) -> None:
    s, url = server
    inner = _records(450)
    s.reply = lambda q: inner({**q, "limit": str(min(int(q["limit"]), 200))})  # caps limit silently
    client = _client(url, Events())
    assert _ids(client) == list(range(450))
    assert s.offsets() == [0, 200, 400]


def test_a_caller_cap_truncates_and_is_counted_with_its_key_a_sample_is_quiet(
    server: tuple[Server, str],
) -> None:
    s, url = server
    s.reply = _records(5000)
    events = Events()
    client = _client(url, events)
    listing = client.listing(
        "connections", "records", max_items=1500, cap_key="connections.max_records_per_window"
    )
    assert sum(len(p.items) for p in listing) == 1500
    assert (listing.truncated, listing.cap) == (True, "connections.max_records_per_window")
    assert events.truncated_ == [("connections", "connections.max_records_per_window")]
    sample = client.listing("connections", "records", max_items=1500)
    assert sum(len(p.items) for p in sample) == 1500
    assert not sample.truncated and len(events.truncated_) == 1
    exact = client.listing(
        "connections", "records", max_items=5000, cap_key="connections.max_records_per_window"
    )
    assert sum(len(p.items) for p in exact) == 5000 and not exact.truncated


def test_a_cap_that_cuts_the_last_page_still_truncates(server: tuple[Server, str]) -> None:
    """The page holding the rest of the listing is the one the cap cuts: the items past the cap
    are left, so the listing is truncated although no page is left to read."""
    s, url = server
    s.reply = _records(1500)
    events = Events()
    client = _client(url, events)
    listing = client.listing(
        "connections", "records", max_items=1200, cap_key="connections.max_records_per_window"
    )
    assert sum(len(p.items) for p in listing) == 1200
    assert (listing.truncated, listing.cap) == (True, "connections.max_records_per_window")
    assert events.truncated_ == [("connections", "connections.max_records_per_window")]
    assert s.offsets() == [0, 1000]


@pytest.mark.parametrize(
    ("total", "server_page", "truncated", "calls"),
    [(150, 200, False, 2), (250, 200, True, 1), (250, 100, True, 2)],
)
def test_a_listing_only_an_empty_page_ends_looks_one_page_past_the_page_cap(
    server: tuple[Server, str], total: int, server_page: int, truncated: bool, calls: int
) -> None:
    """With no total in the answer (the v1.0 login records), a short page at the page cap
    may or may not be the end: one more call tells, else every such listing reads as cut."""
    s, url = server
    inner = _records(total)

    def reply(q: dict[str, str]) -> tuple[int, Any]:
        status, doc = inner({**q, "limit": str(min(int(q["limit"]), server_page))})
        return status, {"records": doc["records"]}

    s.reply = reply
    events = Events()
    client = _client(url, events, max_pages_per_listing=1)
    listing = client.listing("login_records", "records", limit=200, until_empty=True)
    assert sum(len(p.items) for p in listing) == min(total, server_page)
    assert listing.truncated is truncated and len(s.queries) == calls
    assert events.truncated_ == ([("login_records", "http.max_pages_per_listing")] if truncated else [])
