"""WorkspaceClient against a scripted HTTP server on 127.0.0.1: paging, retries, errors, tokens."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import random
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
import requests
import urllib3

from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.errors import (
    AuthError,
    ClientRequestError,
    InvalidResponseError,
    ThrottledError,
    UpstreamError,
    UpstreamUnavailableError,
    parse_error_body,
)
from exporter.secret import Secret, register, scrub
from exporter.upstream.budget import Budget
from exporter.upstream.causes import network_cause
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.inflate import Inflater, TooLarge
from exporter.upstream.jsonbody import loads_bounded
from exporter.upstream.observer import NullObserver
from exporter.upstream.transport import tls_verify
from tests.desktops import list_desktops

Reply = tuple[int, Any, dict[str, str]]


class Script:
    """Replies queued per path prefix; falls back to a default per path."""

    def __init__(self) -> None:
        self.queue: dict[str, list[Reply]] = {}
        self.default: dict[str, Reply] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []
        self.lock = threading.Lock()

    def reply(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append((method, path, query, headers))
            for prefix, replies in self.queue.items():
                if path.startswith(prefix) and replies:
                    return replies.pop(0)
            for prefix, rep in self.default.items():
                if path.startswith(prefix):
                    return rep
        return 404, {"error_code": "APIGW.0101", "error_msg": "no such API"}, {}

    def calls(self, prefix: str) -> int:
        return sum(1 for _, p, _, _ in self.requests if p.startswith(prefix))


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    s = Script()

    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            u = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, body, headers = s.reply(self.command, u.path, parse_qs(u.query), dict(self.headers))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _do

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield s, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


class Observer(NullObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def request_done(self, api: str, code: str, seconds: float) -> None:
        self.events.append(("request", api, code))

    def throttled(self, api: str) -> None:
        self.events.append(("throttled", api))

    def retried(self, api: str) -> None:
        self.events.append(("retried", api))

    def invalid_response(self, api: str) -> None:
        self.events.append(("invalid", api))

    def error_response(self, api: str, status: int, error_code: str) -> None:
        self.events.append(("error", api, str(status), error_code))

    def page_shrunk(self, api: str, reason: str) -> None:
        self.events.append(("shrunk", api, reason))

    def truncated(self, api: str, key: str) -> None:
        self.events.append(("truncated", api, key))

    def count(self, *event: str) -> int:
        return sum(1 for e in self.events if e == event)


def _settings(url: str, **overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "region": "ap-southeast-1",
        "project_id": "proj",
        "endpoints": {"workspace": url, "iam": url},
        "http": {"backoff_initial": "1s", "backoff_max": "4s", "throttle_backoff": "2s", "max_retries": 3},
        "budget": {"burst": 100},
    }
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_config(
        raw,
        {
            "HUAWEICLOUD_SDK_AK": "AK1",
            "HUAWEICLOUD_SDK_SK": "sk-do-not-leak",
            "WORKSPACE_EXPORTER_IAM_PASSWORD": "pw-do-not-leak",
        },
    )


def _client(url: str, obs: Observer | None = None, **overrides: Any) -> tuple[WorkspaceClient, FakeClock]:
    clock = FakeClock()
    s = _settings(url, **overrides)
    c = WorkspaceClient(s, Budget(s.config.budget, clock), obs or Observer(), clock, random.Random(1))
    return c, clock


def _desktops(start: int, n: int) -> list[dict[str, str]]:
    return [{"desktop_id": f"d{i}"} for i in range(start, start + n)]


def test_paging_walks_every_page_with_the_api_maximum_limit(script: tuple[Script, str]) -> None:
    s, url = script
    s.queue["/v2/proj/desktops/detail"] = [
        (200, {"desktops": _desktops(0, 500), "total_count": 1200}, {}),
        (200, {"desktops": _desktops(500, 500), "total_count": 1200}, {}),
        (200, {"desktops": _desktops(1000, 200), "total_count": 1200}, {}),
    ]
    c, _ = _client(url)
    desktops = list_desktops(c)
    assert len(desktops) == 1200
    offsets = [(q["offset"][0], q["limit"][0]) for _, p, q, _ in s.requests if p.endswith("/detail")]
    assert offsets == [("0", "500"), ("500", "500"), ("1000", "500")]


def test_paging_dedupes_desktops_that_shift_between_pages(script: tuple[Script, str]) -> None:
    s, url = script
    s.queue["/v2/proj/desktops/detail"] = [
        (200, {"desktops": _desktops(0, 500), "total_count": 700}, {}),
        (200, {"desktops": _desktops(499, 201), "total_count": 700}, {}),
    ]
    c, _ = _client(url)
    assert len(list_desktops(c)) == 700


def test_requests_are_signed_and_carry_the_project_id(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktops/detail"] = (200, {"desktops": [], "total_count": 0}, {})
    c, _ = _client(url)
    list_desktops(c)
    headers = {k.lower(): v for k, v in s.requests[0][3].items()}
    assert headers["authorization"].startswith("SDK-HMAC-SHA256 Access=AK1, SignedHeaders=")
    assert headers["x-project-id"] == "proj"
    assert "sk-do-not-leak" not in json.dumps(headers)


def test_5xx_is_retried_with_backoff_then_succeeds(script: tuple[Script, str]) -> None:
    s, url = script
    s.queue["/v2/proj/desktop-monitor"] = [
        (503, {"error_code": "WKS.0500", "error_msg": "busy"}, {}),
        (502, b"bad gateway", {}),
        (200, {"cpu_info": []}, {}),
    ]
    obs = Observer()
    c, clock = _client(url, obs)
    t0 = clock.monotonic()
    assert c.desktop_monitor("d1", "a", "b") == {"cpu_info": []}
    assert obs.count("retried", "desktop_monitor") == 2
    assert obs.count("request", "desktop_monitor", "503") == 1
    assert clock.monotonic() - t0 <= 1.0 + 2.0  # full jitter: each backoff below its cap


def test_throttling_backs_off_at_least_the_throttle_floor_and_halves_the_budget(
    script: tuple[Script, str],
) -> None:
    s, url = script
    body = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"}
    s.queue["/v2/proj/desktop-monitor"] = [(429, body, {}), (200, {}, {})]
    obs = Observer()
    c, clock = _client(url, obs)
    t0 = clock.monotonic()
    c.desktop_monitor("d1", "a", "b")
    assert clock.monotonic() - t0 >= 2.0
    assert obs.count("throttled", "desktop_monitor") == 1
    assert 50 <= c._budget.state()["desktop_monitor"].effective_per_minute < 60  # halved, recovering


def test_retry_after_header_is_honoured(script: tuple[Script, str]) -> None:
    s, url = script
    s.queue["/v2/proj/desktop-monitor"] = [(429, {}, {"Retry-After": "4"}), (200, {}, {})]
    c, clock = _client(url)
    t0 = clock.monotonic()
    c.desktop_monitor("d1", "a", "b")
    assert clock.monotonic() - t0 >= 4.0


def test_throttling_that_persists_raises_a_typed_error_after_bounded_retries(
    script: tuple[Script, str],
) -> None:
    s, url = script
    s.default["/v2/proj/desktop-monitor"] = (
        429,
        {"error_code": "APIGW.0308", "error_msg": "throttled"},
        {"X-Request-Id": "req-123"},
    )
    obs = Observer()
    c, _ = _client(url, obs)
    with pytest.raises(ThrottledError) as exc:
        c.desktop_monitor("d1", "a", "b")
    e = exc.value
    assert (e.api, e.status, e.error_code, e.request_id) == ("desktop_monitor", 429, "APIGW.0308", "req-123")
    assert s.calls("/v2/proj/desktop-monitor") == 4  # 1 + max_retries
    assert obs.count("retried", "desktop_monitor") == 3


def test_retries_stop_when_the_total_time_budget_is_spent(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktop-monitor"] = (500, {}, {})
    c, _ = _client(url, http={"retry_max_elapsed": "3s", "max_retries": 10, "backoff_initial": "2s"})
    with pytest.raises(UpstreamUnavailableError):
        c.desktop_monitor("d1", "a", "b")
    assert s.calls("/v2/proj/desktop-monitor") < 11


def test_client_errors_are_not_retried(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktop-monitor"] = (404, {"error_code": "WKS.0004", "error_msg": "no desktop"}, {})
    c, _ = _client(url)
    with pytest.raises(ClientRequestError) as exc:
        c.desktop_monitor("d1", "a", "b")
    assert exc.value.error_code == "WKS.0004"
    assert s.calls("/v2/proj/desktop-monitor") == 1


def test_every_refusal_is_reported_with_its_status_and_code_retried_ones_included(
    script: tuple[Script, str],
) -> None:
    s, url = script
    s.queue["/v2/proj/desktop-monitor"] = [
        (503, {"error_code": "WKS.00211401", "error_msg": "busy"}, {}),
        (502, b"<html>bad gateway</html>", {}),
        (200, {"cpu_info": []}, {}),
        (400, {"error_code": "WKS.00211102", "error_msg": "bad window"}, {}),
        (200, b"<html>not json</html>", {}),
    ]
    obs = Observer()
    c, _ = _client(url, obs)
    c.desktop_monitor("d1", "a", "b")
    with pytest.raises(ClientRequestError):
        c.desktop_monitor("d1", "a", "b")
    with pytest.raises(InvalidResponseError):
        c.desktop_monitor("d1", "a", "b")
    errors = [e for e in obs.events if e[0] == "error"]
    assert errors == [
        ("error", "desktop_monitor", "503", "WKS.00211401"),
        ("error", "desktop_monitor", "502", ""),
        ("error", "desktop_monitor", "400", "WKS.00211102"),
        ("error", "desktop_monitor", "200", "invalid_body"),
    ]


def test_forbidden_is_an_auth_error_without_secrets(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktop-monitor"] = (
        403,
        {"error": {"code": "WKS.00081102", "message": "no permission"}},
        {},
    )
    c, _ = _client(url)
    with pytest.raises(AuthError) as exc:
        c.desktop_monitor("d1", "a", "b")
    assert exc.value.error_code == "WKS.00081102"
    assert "sk-do-not-leak" not in str(exc.value) + repr(exc.value)


def test_non_json_body_is_an_invalid_response(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktop-monitor"] = (200, b"<html>oops</html>", {})
    obs = Observer()
    c, _ = _client(url, obs)
    with pytest.raises(InvalidResponseError):
        c.desktop_monitor("d1", "a", "b")
    assert obs.count("invalid", "desktop_monitor") == 1


def test_missing_list_key_is_an_invalid_response(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktops/detail"] = (200, {"total_count": 3}, {})
    c, _ = _client(url)
    with pytest.raises(InvalidResponseError):
        list_desktops(c)


def test_connection_errors_are_retried_then_raised() -> None:
    obs = Observer()
    c, _ = _client("http://127.0.0.1:9", obs, http={"connect_timeout": "1s"})
    with pytest.raises(UpstreamUnavailableError):
        c.desktop_monitor("d1", "a", "b")
    assert obs.count("request", "desktop_monitor", "error") == 4


def test_expired_token_is_refreshed_once_and_the_call_repeated(script: tuple[Script, str]) -> None:
    s, url = script
    expiry = {"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}}
    s.queue["/v3/auth/tokens"] = [
        (201, expiry, {"X-Subject-Token": "tok-1"}),
        (201, expiry, {"X-Subject-Token": "tok-2"}),
    ]
    expired = {
        "error_code": "APIGW.0301",
        "error_msg": "Incorrect IAM authentication information: token expires",
    }
    s.queue["/v2/proj/desktop-monitor"] = [(401, expired, {}), (200, {"ok": 1}, {})]
    c, _ = _client(url, auth={"method": "token", "username": "u", "domain_name": "d"})
    assert c.desktop_monitor("d1", "a", "b") == {"ok": 1}
    tokens = [h.get("X-Auth-Token") for _, p, _, h in s.requests if p.startswith("/v2/")]
    assert tokens == ["tok-1", "tok-2"]
    assert s.calls("/v3/auth/tokens") == 2


def test_token_expired_twice_in_a_row_is_not_refreshed_forever(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v3/auth/tokens"] = (201, {"token": {}}, {"X-Subject-Token": "tok"})
    s.default["/v2/proj/desktop-monitor"] = (
        401,
        {"error_code": "APIGW.0301", "error_msg": "token expires, expires_at: 2020"},
        {},
    )
    c, _ = _client(url, auth={"method": "token", "username": "u", "domain_name": "d"})
    with pytest.raises(AuthError):
        c.desktop_monitor("d1", "a", "b")
    assert s.calls("/v2/proj/desktop-monitor") == 2


def test_project_id_is_discovered_from_iam_when_not_configured(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v3/projects"] = (200, {"projects": [{"id": "found-proj", "name": "ap-southeast-1"}]}, {})
    s.default["/v2/found-proj/desktops/detail"] = (200, {"desktops": [], "total_count": 0}, {})
    c, _ = _client(url, project_id="")
    assert list_desktops(c) == []
    assert c.project_id == "found-proj"
    assert s.requests[0][2] == {"name": ["ap-southeast-1"]}


def test_close_aborts_a_call_waiting_for_budget(script: tuple[Script, str]) -> None:
    s, url = script
    s.default["/v2/proj/desktop-monitor"] = (200, {}, {})
    settings = _settings(url, budget={"per_api": {"desktop_monitor": 1}, "burst": 1})
    c = WorkspaceClient(settings, Budget(settings.config.budget))  # real clock: the second call must wait
    c.desktop_monitor("d", "a", "b")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            c.desktop_monitor("d", "a", "b")
        except BaseException as e:  # noqa: BLE001 - recorded for the assert
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    c.close()
    t.join(10)
    assert not t.is_alive()
    assert errors and type(errors[0]).__name__ == "ShutdownError"


def test_a_failed_project_discovery_says_it_is_discovery_and_how_to_skip_it(
    script: tuple[Script, str],
) -> None:
    s, url = script
    s.default["/v3/projects"] = (
        403,
        {"error_code": "IAM.0002", "error_msg": "no permission"},
        {"X-Request-Id": "r1"},
    )
    c, _ = _client(url, project_id="")
    with pytest.raises(AuthError) as info:
        list_desktops(c)
    text = str(info.value)
    assert "during='project discovery (set project_id to skip it)'" in text
    assert "api=iam_projects" in text and "status=403 error_code=IAM.0002" in text and "request_id=r1" in text


@pytest.mark.parametrize(
    ("answer", "error", "cause", "counted"),
    [
        ({"projects": None}, InvalidResponseError, "body has no projects list", True),
        (
            {"projects": [{"id": "p1", "name": "ap-southeast-1"}, {"id": "p2", "name": "ap-southeast-1"}]},
            ClientRequestError,
            "expected one project named ap-southeast-1, found 2",
            False,
        ),
        ({"projects": [{"id": "p1", "name": "eu-west-0"}]}, ClientRequestError, "found 0", False),
    ],
)
def test_a_discovery_answer_without_one_project_says_it_is_discovery(
    script: tuple[Script, str], answer: dict[str, Any], error: type[Exception], cause: str, counted: bool
) -> None:
    s, url = script
    s.default["/v3/projects"] = (200, answer, {})
    obs = Observer()
    c, _ = _client(url, obs, project_id="")
    with pytest.raises(error) as info:
        c.ensure_project_id()
    text = str(info.value)
    assert cause in text and "during='project discovery (set project_id to skip it)'" in text
    assert (("invalid", "iam_projects") in obs.events) is counted
    assert c.project_id == ""


def test_a_refused_connection_names_host_and_cause() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    c, _ = _client(f"http://127.0.0.1:{port}", http={"max_retries": 0})
    with pytest.raises(UpstreamUnavailableError) as info:
        list_desktops(c)
    assert str(info.value) == f"api=desktops_detail host=127.0.0.1:{port} cause='connection refused'"


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (socket.gaierror(-2, "Name or service not known"), "dns lookup failed"),
        (ConnectionRefusedError(111, "refused"), "connection refused"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "tls verification failed"),
        (ssl.SSLError(1, "wrong version number"), "tls handshake failed"),
        (requests.ReadTimeout("read timed out"), "read timeout (http.read_timeout)"),
        (requests.ConnectTimeout("connect timed out"), "connect timeout (http.connect_timeout)"),
        (ConnectionResetError(104, "reset"), "connection reset"),
    ],
)
def test_network_causes_are_classified_through_the_exception_chain(exc: BaseException, cause: str) -> None:
    wrapped = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason=exc))  # type: ignore[arg-type]
    assert network_cause(wrapped).startswith(cause)
    if cause.startswith("tls verification"):
        assert "http.ca_file" in network_cause(wrapped) and "http.tls_verify" in network_cause(wrapped)


def test_one_tls_setting_feeds_client_and_token_auth() -> None:
    base = _settings("http://x").config.http
    assert tls_verify(base) is True
    assert tls_verify(dataclasses.replace(base, tls_verify=False)) is False
    assert tls_verify(dataclasses.replace(base, ca_file="/ca.pem", tls_verify=False)) == "/ca.pem"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_the_inflater_stops_at_the_cap_whatever_the_ratio(encoding: str) -> None:
    plain = b"x" * 5_000_000
    if encoding == "gzip":
        packed = gzip.compress(plain)
    elif encoding == "deflate":
        packed = zlib.compress(plain)
    else:
        d = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = d.compress(plain) + d.flush()
    small = b'{"a": 1}'
    ok = gzip.compress(small) if encoding == "gzip" else zlib.compress(small)
    header = "deflate" if encoding == "raw-deflate" else encoding
    assert Inflater(header).feed(ok, 100) == small
    with pytest.raises(TooLarge):
        Inflater(header).feed(packed, 1_000_000)


def test_an_unknown_content_encoding_is_refused() -> None:
    with pytest.raises(ValueError) as exc:
        Inflater("br")
    assert str(exc.value) == "unsupported Content-Encoding br"  # a log field, not a Python repr


def test_bounded_json_refuses_deep_documents_without_recursion_error() -> None:
    assert loads_bounded(b'{"a": [{"b": 1}]}') == {"a": [{"b": 1}]}
    for levels in (40, 200_000):
        with pytest.raises(ValueError, match="nested"):
            loads_bounded(b"[" * levels + b"]" * levels)


def test_parse_error_body_never_raises_on_hostile_bodies() -> None:
    assert parse_error_body(b'{"error": {"error_code": "E1", "error_msg": "m"}}') == ("E1", "m")
    assert parse_error_body(b"[" * 100_000 + b"]" * 100_000) == ("", "")
    assert parse_error_body({"error_code": 10**400, "error_msg": ["x"]}) == ("", "")
    assert parse_error_body({"a": {"b": {"error_code": "deep"}}}) == ("", "")  # one level only


def test_the_scrubber_blanks_every_form_of_a_registered_secret() -> None:
    value = 'canary"pass/wörd+1 2'
    register(value)
    for form in (
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        repr(value.encode())[2:-1],
        base64.b64encode(value.encode()).decode(),
    ):
        assert scrub(f"before {form} after") == "before *** after", form
    assert scrub("nothing secret here") == "nothing secret here"


def test_upstream_errors_scrub_their_texts() -> None:
    secret = Secret("tok-canary-0123456789")
    err = UpstreamError("a", 401, "C", f"echo X-Auth-Token: {secret.reveal()}", "r")
    assert secret.reveal() not in str(err) and "***" in err.error_msg


def test_a_listing_that_never_ends_stops_at_the_page_cap_and_is_marked_truncated(
    script: tuple[Script, str],
) -> None:
    s, url = script
    pages = [
        (200, {"records": [{"id": n * 1000 + i} for i in range(1000)], "total_count": 10**9}, {})
        for n in range(10)
    ]
    s.queue["/v2/proj/connections/desktops"] = pages
    obs = Observer()
    c, _ = _client(url, obs, http={"max_pages_per_listing": 3})
    listing = c.listing("connections", "records")
    seen = [item for page in listing for item in page.items]
    assert len(seen) == 3000 and s.calls("/v2/proj/connections/desktops") == 3
    assert (listing.truncated, listing.cap, listing.pages) == (True, "http.max_pages_per_listing", 3)
    assert obs.count("truncated", "connections", "http.max_pages_per_listing") == 1


def test_calls_reuse_one_pooled_connection_instead_of_a_new_one_each() -> None:
    """A real upstream costs a TCP and TLS handshake per new connection: the transport reads
    bodies raw, and a body read whole must still hand its connection back to the pool."""
    accepted: list[object] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the API gateway speaks

        def do_GET(self) -> None:
            data = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    class Counting(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, Any]:
            conn = super().get_request()
            accepted.append(conn[1])
            return conn

    server = Counting(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        c, _ = _client(f"http://127.0.0.1:{server.server_address[1]}")
        for _ in range(20):
            c.request("desktops_detail")
        c.close()
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)
    assert len(accepted) == 1
