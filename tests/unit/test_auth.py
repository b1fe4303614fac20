"""Tests for exporter.auth: the AK/SK signer against the official SDK, and the IAM token provider."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from exporter.clock import FakeClock
from exporter.config.credentials import Credentials
from exporter.config.settings import AuthConfig, BudgetConfig, Config, EndpointsConfig, HTTPConfig
from exporter.errors import (
    AuthError,
    ClientRequestError,
    ConfigError,
    InvalidResponseError,
    ThrottledError,
    UpstreamUnavailableError,
    parse_error_body,
)
from exporter.secret import Secret
from exporter.upstream.auth import AkSkAuth, TokenAuth, build_auth, is_token_expired_error, outcome_of
from exporter.upstream.budget import Budget
from exporter.upstream.identity import Http
from exporter.upstream.signer import (
    canonical_query_string,
    canonical_request,
    canonical_uri,
    sdk_date,
    sign_request,
)
from exporter.upstream.transport import Limits, Transport

AK = "HPUAEXAMPLEAK0000001"
SK = "sk-Very/Secret+Key=0123456789abcdefghijkl"
PROJECT = "0123456789abcdef0123456789abcdef"
PASSWORD = "Pa55w0rd-never-log-me"
HOST = "workspace.cn-north-4.myhuaweicloud.com"
BASE = f"https://{HOST}"


# --------------------------------------------------------------------------- SDK comparison


def sdk_sign(
    prepared: requests.PreparedRequest,
    resource_path: str,
    query_params: list[tuple[str, Any]],
    date: str,
    project_id: str | None,
    security_token: str | None,
) -> tuple[str, str]:
    """Sign like huaweicloudsdkcore's client: BasicCredentials.sign_request on an SdkRequest.

    The SDK gets exactly the headers our signer signs (host, x-sdk-date and, when present,
    content-type); BasicCredentials adds X-Project-Id and X-Security-Token itself.
    Returns the Authorization value and the URI the SDK would send.
    """
    headers = {"Host": HOST, "X-Sdk-Date": date}
    if "Content-Type" in prepared.headers:
        headers["Content-Type"] = str(prepared.headers["Content-Type"])
    request = SdkRequest(
        method=prepared.method or "GET",
        schema="https",
        host=HOST,
        resource_path=resource_path,
        query_params=query_params,
        header_params=headers,
        body=prepared.body,
    )
    credentials = BasicCredentials(AK, SK, project_id)
    if security_token is not None:
        credentials.with_security_token(security_token)
    signed = credentials.sign_request(request)
    return signed.header_params["Authorization"], signed.uri


@dataclass
class SignCase:
    method: str
    resource_path: str  # as the SDK client builds it (path params quoted with safe='')
    params: list[tuple[str, str]] = field(default_factory=list)  # what requests gets
    sdk_query: list[tuple[str, Any]] | None = None  # what the SDK gets (default: params)
    body: Any = None
    project_id: str = PROJECT
    security_token: str = ""


DESKTOP = quote("desk top:1+2/测试~!*'()", safe="")

SIGN_CASES = {
    "get_without_query": SignCase("GET", f"/v2/{PROJECT}/desktops"),
    "get_with_query": SignCase(
        "GET", f"/v2/{PROJECT}/desktops/detail", [("limit", "100"), ("offset", "0"), ("status", "ACTIVE")]
    ),
    "get_with_repeated_keys_out_of_order": SignCase(
        "GET",
        f"/v2/{PROJECT}/desktops",
        [("z", "1"), ("desktop_ids", "b"), ("desktop_ids", "a"), ("a", "2"), ("desktop_ids", "c")],
    ),
    "get_with_list_value": SignCase(
        "GET",
        f"/v2/{PROJECT}/desktops",
        [("ids", "b2"), ("ids", "a1"), ("limit", "5")],
        sdk_query=[("ids", ["b2", "a1"]), ("limit", 5)],
    ),
    "get_with_values_needing_encoding": SignCase(
        "GET",
        f"/v2/{PROJECT}/desktops",
        [
            ("name", "a b+c"),
            ("time", "2026-01-01T00:00:00Z"),
            ("user", "张三"),
            ("odd key&=", "x/y?z#w%"),
            ("tilde", "~-._"),
            ("empty", ""),
        ],
    ),
    "get_with_boolean_sent_as_lowercase": SignCase(
        "GET", f"/v2/{PROJECT}/desktops", [("all", "true")], sdk_query=[("all", True)]
    ),
    "get_with_special_characters_in_path": SignCase("GET", f"/v2/{PROJECT}/desktops/{DESKTOP}/metrics"),
    "get_with_trailing_slash": SignCase("GET", f"/v2/{PROJECT}/desktops/"),
    "post_with_json_body": SignCase(
        "POST",
        f"/v1/{PROJECT}/desktops/metric-data",
        [("lang", "zh-cn")],
        body={"metric_name": "cpu_usage", "desktop_ids": ["a", "b"], "note": "测试 é"},
    ),
    "post_with_security_token": SignCase(
        "POST", f"/v2/{PROJECT}/desktops/actions", body={"op": "x"}, security_token="temp-token-value"
    ),
    "get_with_security_token_and_no_project": SignCase(
        "GET", "/v3/projects", [("name", "cn-north-4")], project_id="", security_token="sts=="
    ),
}


@pytest.mark.parametrize("case", SIGN_CASES.values(), ids=SIGN_CASES.keys())
def test_signature_matches_the_official_sdk_signer(case: SignCase) -> None:
    clock = FakeClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    prepared = requests.Request(
        case.method, BASE + case.resource_path, params=case.params, json=case.body
    ).prepare()
    auth = AkSkAuth(AK, Secret(SK), case.project_id, Secret(case.security_token), clock)

    auth.apply(prepared)

    date = str(prepared.headers["X-Sdk-Date"])
    assert date == "20260101T000000Z"
    sdk_query = case.sdk_query if case.sdk_query is not None else list(case.params)
    expected, sdk_uri = sdk_sign(
        prepared,
        case.resource_path,
        sdk_query,
        date,
        case.project_id or None,
        case.security_token or None,
    )
    assert prepared.headers["Authorization"] == expected
    # The query we send is the one the SDK would send, so both sides canonicalise it the same way.
    assert urlsplit(prepared.url).query == urlsplit(sdk_uri).query


def test_sign_request_matches_the_sdk_for_a_uri_with_an_explicit_port() -> None:
    headers = {"Host": "127.0.0.1:8443", "X-Sdk-Date": "20260101T000000Z"}
    ours = sign_request("GET", "https://127.0.0.1:8443/v2/p/desktops?b=2&a=1", headers, None, AK, Secret(SK))
    request = SdkRequest(
        method="GET",
        schema="https",
        host="127.0.0.1:8443",
        resource_path="/v2/p/desktops",
        query_params=[("b", "2"), ("a", "1")],
        header_params=dict(headers),
        body=None,
    )
    theirs = BasicCredentials(AK, SK).sign_request(request).header_params["Authorization"]
    assert ours == theirs


def test_canonical_request_has_six_parts_and_ends_headers_with_a_newline() -> None:
    canonical = canonical_request(
        "get",
        "https://h/v2/a%20b?b=2&a=1",
        {"X-Sdk-Date": "20260101T000000Z", "Host": " h "},
        b"",
    )
    assert canonical.split("\n") == [
        "GET",
        "/v2/a%20b/",
        "a=1&b=2",
        "host:h",
        "x-sdk-date:20260101T000000Z",
        "",
        "host;x-sdk-date",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]


def test_canonical_uri_and_query_encode_everything_but_unreserved_characters() -> None:
    assert canonical_uri("") == "/"
    assert canonical_uri("/a:b/c%2Fd") == "/a%3Ab/c/d/"
    assert canonical_query_string("q=a+b%2Bc&x&k=%E6%B5%8B") == "k=%E6%B5%8B&q=a%20b%2Bc&x="


def test_sign_request_refuses_headers_without_a_date() -> None:
    with pytest.raises(ValueError, match="X-Sdk-Date"):
        sign_request("GET", "https://h/", {"Host": "h"}, None, AK, Secret(SK))


def test_sdk_date_is_utc_basic_format() -> None:
    assert sdk_date(0) == "19700101T000000Z"


# --------------------------------------------------------------------------- AkSkAuth


def test_aksk_apply_adds_the_signing_headers_and_never_the_secret_key() -> None:
    clock = FakeClock(start=1_767_225_600.0)
    auth = AkSkAuth(AK, Secret(SK), PROJECT, Secret("sts-token"), clock)
    prepared = requests.Request("GET", f"{BASE}/v2/{PROJECT}/desktops", params={"limit": 10}).prepare()

    auth.apply(prepared)

    headers = prepared.headers
    assert headers["Host"] == HOST
    assert headers["X-Sdk-Date"] == "20260101T000000Z"
    assert headers["X-Project-Id"] == PROJECT
    assert headers["X-Security-Token"] == "sts-token"
    assert str(headers["Authorization"]).startswith(
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-project-id;x-sdk-date;x-security-token, "
        "Signature="
    )
    for value in headers.values():
        assert SK not in str(value)
    assert SK not in repr(auth)
    assert SK not in auth.describe()
    assert auth.describe() == "temporary AK/SK"
    assert auth.refreshable is False


def test_aksk_apply_again_refreshes_the_date_and_signature_for_a_retry() -> None:
    clock = FakeClock(start=1_767_225_600.0)
    auth = AkSkAuth(AK, Secret(SK), PROJECT, Secret(""), clock)
    prepared = requests.Request("POST", f"{BASE}/v1/x", params={"q": "a b"}, json={"a": 1}).prepare()
    auth.apply(prepared)
    first_url, first_auth = prepared.url, prepared.headers["Authorization"]

    clock.advance(61)
    auth.apply(prepared)

    assert prepared.headers["X-Sdk-Date"] == "20260101T000101Z"
    assert prepared.headers["Authorization"] != first_auth
    assert prepared.url == first_url == f"{BASE}/v1/x?q=a%20b"
    assert "X-Security-Token" not in prepared.headers
    assert "content-type" in str(prepared.headers["Authorization"])


def test_aksk_keeps_a_host_header_the_caller_already_set() -> None:
    auth = AkSkAuth(AK, Secret(SK), "", Secret(""), FakeClock())
    prepared = requests.Request("GET", "https://10.0.0.1/v2/x", headers={"Host": HOST}).prepare()
    auth.apply(prepared)
    assert prepared.headers["Host"] == HOST
    assert "X-Project-Id" not in prepared.headers


def test_aksk_refuses_a_streamed_body() -> None:
    auth = AkSkAuth(AK, Secret(SK), "", Secret(""), FakeClock())
    prepared = requests.Request("POST", "https://h/x", data=iter([b"a"])).prepare()
    with pytest.raises(TypeError):
        auth.apply(prepared)


def test_aksk_needs_both_keys() -> None:
    with pytest.raises(ConfigError):
        AkSkAuth(AK, Secret(""), "", Secret(""), FakeClock())


# --------------------------------------------------------------------------- fake IAM


class FakeIam:
    """A tiny IAM that answers POST /v3/auth/tokens; behaviour is set per test."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.hits = 0
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 201
        self.error_body: dict[str, Any] = {}
        self.delay = 0.0
        self.lifetime: float | None = 24 * 3600.0
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = json.loads(handler.rfile.read(length))
        with self.lock:
            self.hits += 1
            n = self.hits
            self.bodies.append(body)
            self.paths.append(handler.path)
        if self.delay:
            time.sleep(self.delay)
        if self.status not in (200, 201):
            payload = json.dumps(self.error_body).encode()
            handler.send_response(self.status)
            handler.send_header("X-Request-Id", f"req-{n}")
        else:
            token: dict[str, Any] = {"methods": ["password"]}
            if self.lifetime is not None:
                expires = datetime.fromtimestamp(self.clock.time() + self.lifetime, tz=UTC)
                token["expires_at"] = expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            payload = json.dumps({"token": token}).encode()
            handler.send_response(self.status)
            handler.send_header("X-Subject-Token", f"token-{n}")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_767_225_600.0)


@pytest.fixture
def iam(clock: FakeClock) -> Iterator[FakeIam]:
    fake = FakeIam(clock)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            fake.answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        fake.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def make_token_auth(
    iam: FakeIam,
    session: requests.Session,
    clock: FakeClock,
    calls: list[tuple[str, int, float]] | None = None,
) -> TokenAuth:
    def record(api: str, status: int, seconds: float, error_code: str) -> None:
        if calls is not None:
            calls.append((api, status, seconds))

    http = Http(session, Transport(session, Limits(2.0, 5.0)), True, clock, on_request=record)
    return TokenAuth(
        http,
        lambda: iam.url + "/",
        username="monitor",
        domain_name="acme",
        password=Secret(PASSWORD),
        project_id=PROJECT,
        refresh_before=3600.0,
    )


def new_request() -> requests.PreparedRequest:
    return requests.Request("GET", f"{BASE}/v2/{PROJECT}/desktops").prepare()


def apply_token(auth: TokenAuth) -> str:
    prepared = new_request()
    auth.apply(prepared)
    return str(prepared.headers["X-Auth-Token"])


def test_token_is_fetched_once_and_cached_across_many_requests(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    calls: list[tuple[str, int, float]] = []
    auth = make_token_auth(iam, session, clock, calls)

    tokens = {apply_token(auth) for _ in range(20)}

    assert tokens == {"token-1"}
    assert iam.hits == 1
    assert iam.paths == ["/v3/auth/tokens?nocatalog=true"]
    assert iam.bodies[0] == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "monitor", "password": PASSWORD, "domain": {"name": "acme"}}},
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    assert [(api, status) for api, status, _ in calls] == [("iam_tokens", 201)]
    assert auth.refreshable is True


def test_token_apply_sets_the_auth_and_project_headers(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    auth = make_token_auth(iam, session, clock)
    prepared = new_request()
    auth.apply(prepared)
    assert prepared.headers["X-Auth-Token"] == "token-1"
    assert prepared.headers["X-Project-Id"] == PROJECT
    assert "Authorization" not in prepared.headers


def test_token_is_refreshed_when_fewer_than_refresh_before_seconds_remain(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    auth = make_token_auth(iam, session, clock)
    assert apply_token(auth) == "token-1"

    clock.advance(24 * 3600 - 3600 - 1)
    assert apply_token(auth) == "token-1"
    assert iam.hits == 1

    clock.advance(2)
    assert apply_token(auth) == "token-2"
    assert apply_token(auth) == "token-2"
    assert iam.hits == 2


def test_a_missing_expires_at_is_taken_as_24_hours(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    iam.lifetime = None
    auth = make_token_auth(iam, session, clock)
    apply_token(auth)
    clock.advance(24 * 3600 - 3600 - 1)
    apply_token(auth)
    assert iam.hits == 1
    clock.advance(2)
    apply_token(auth)
    assert iam.hits == 2


def test_a_short_lived_token_is_not_refetched_on_every_request(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    iam.lifetime = 1800.0  # shorter than refresh_before
    auth = make_token_auth(iam, session, clock)
    for _ in range(5):
        apply_token(auth)
    assert iam.hits == 1
    clock.advance(901)  # past half the lifetime
    apply_token(auth)
    assert iam.hits == 2


def test_invalidate_forces_a_new_fetch(iam: FakeIam, session: requests.Session, clock: FakeClock) -> None:
    auth = make_token_auth(iam, session, clock)
    assert apply_token(auth) == "token-1"
    auth.invalidate()
    assert apply_token(auth) == "token-2"
    assert apply_token(auth) == "token-2"
    assert iam.hits == 2


def test_concurrent_requests_share_one_token_fetch(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    iam.delay = 0.2
    auth = make_token_auth(iam, session, clock)
    barrier = threading.Barrier(8)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=5)
            tokens.append(apply_token(auth))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert errors == []
    assert tokens == ["token-1"] * 8
    assert iam.hits == 1


@pytest.mark.parametrize(
    ("error_body", "code", "msg"),
    [
        ({"error_code": "IAM.0101", "error_msg": "The username or password is wrong."}, "IAM.0101", "wrong"),
        (
            {
                "error": {
                    "code": 401,
                    "message": "The username or password is wrong.",
                    "title": "Unauthorized",
                }
            },
            "401",
            "wrong",
        ),
        ({"code": "APIGW.0301", "message": "Incorrect IAM authentication information"}, "APIGW.0301", "IAM"),
    ],
    ids=["error_code_shape", "nested_error_shape", "code_message_shape"],
)
def test_a_401_raises_auth_error_without_the_password(
    iam: FakeIam,
    session: requests.Session,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    error_body: dict[str, Any],
    code: str,
    msg: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    iam.status = 401
    iam.error_body = error_body
    calls: list[tuple[str, int, float]] = []
    auth = make_token_auth(iam, session, clock, calls)

    with pytest.raises(AuthError) as info:
        auth.apply(new_request())

    exc = info.value
    assert exc.api == "iam_tokens"
    assert exc.status == 401
    assert exc.error_code == code
    assert msg in exc.error_msg
    assert exc.request_id == "req-1"
    assert PASSWORD not in str(exc)
    assert PASSWORD not in repr(exc)
    assert PASSWORD not in repr(exc.args)
    assert exc.__cause__ is None
    assert exc.__context__ is None
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(auth)
    assert [(api, status) for api, status, _ in calls] == [("iam_tokens", 401)]


def test_a_server_message_echoing_the_password_is_scrubbed(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    iam.status = 400
    iam.error_body = {"error_code": "IAM.0001", "error_msg": f"bad password {PASSWORD}"}
    auth = make_token_auth(iam, session, clock)
    with pytest.raises(AuthError) as info:
        auth.apply(new_request())
    assert PASSWORD not in str(info.value)
    assert info.value.error_msg == "bad password ***"


def test_a_network_failure_raises_auth_error_with_status_zero(
    session: requests.Session, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    closed = FakeIam(clock)
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        closed.url = f"http://127.0.0.1:{server.server_address[1]}"
    calls: list[tuple[str, int, float]] = []
    auth = make_token_auth(closed, session, clock, calls)

    with pytest.raises(AuthError) as info:
        auth.apply(new_request())

    assert info.value.status == 0
    assert info.value.cause == "connection refused"
    assert "host=127.0.0.1:" in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # the requests exception holds the request body
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in caplog.text
    assert [(api, status) for api, status, _ in calls] == [("iam_tokens", 0)]


def test_a_failed_refresh_keeps_using_the_still_valid_token(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    auth = make_token_auth(iam, session, clock)
    assert apply_token(auth) == "token-1"
    clock.advance(24 * 3600 - 1800)
    iam.status = 503
    iam.error_body = {"error_code": "SYS.5000", "error_msg": "busy"}

    assert apply_token(auth) == "token-1"
    assert apply_token(auth) == "token-1"  # no retry for a minute
    assert iam.hits == 2

    iam.status = 201
    clock.advance(61)
    assert apply_token(auth) == "token-3"


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("status", "code", "msg", "expected"),
    [
        (401, "APIGW.0301", "Incorrect IAM authentication information: token expires.", True),
        (401, "APIG.0301", "The token has EXPIRED", True),
        (401, "apigw.0301", "token expires", True),
        (401, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail", True),
        (401, "APIG.0307", "The token must be updated.", True),
        (401, "APIGW.0307", "The token must be updated.", True),
        (403, "APIG.0307", "The token must be updated.", True),
        (401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail", False),
        (403, "APIGW.0301", "token expires", False),
        (401, "APIGW.0308", "token expires", False),
        (401, "", "", False),
    ],
)
def test_is_token_expired_error(status: int, code: str, msg: str, expected: bool) -> None:
    assert is_token_expired_error(status, code, msg) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error_code": "WKS.0001", "error_msg": "bad"}', ("WKS.0001", "bad")),
        (b'{"error": {"code": "IAM.1", "message": "m"}}', ("IAM.1", "m")),
        (b'{"code": 400, "message": "m"}', ("400", "m")),
        (b"<html>oops</html>", ("", "")),
        (b"[1]", ("", "")),
        (b"{}", ("", "")),
    ],
)
def test_parse_error_body_understands_the_huawei_shapes(body: bytes, expected: tuple[str, str]) -> None:
    assert parse_error_body(body) == expected


def test_build_auth_makes_aksk_auth(session: requests.Session) -> None:
    creds = Credentials(
        method="aksk",
        ak=AK,
        sk=Secret(SK),
        security_token=Secret(""),
        origin="HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK",
    )
    auth = build_auth(creds, Config(project_id=PROJECT), session, FakeClock())
    assert isinstance(auth, AkSkAuth)
    assert auth.describe() == "HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK"
    assert AK not in auth.describe()


def test_build_auth_makes_token_auth_with_the_http_settings(session: requests.Session) -> None:
    creds = Credentials(method="token", username="u", domain_name="d", password=Secret(PASSWORD))
    config = Config(
        project_id=PROJECT,
        endpoints=EndpointsConfig(iam="https://iam.cn-north-4.myhuaweicloud.com"),
        http=HTTPConfig(connect_timeout=1.5, read_timeout=7.0, ca_file="/etc/ca.pem"),
        auth=AuthConfig(method="token", token_refresh_before=600.0),
    )
    auth = build_auth(creds, config, session, FakeClock())
    assert isinstance(auth, TokenAuth)
    assert auth._http.transport.limits.connect_timeout == 1.5
    assert auth._http.transport.limits.read_timeout == 7.0
    assert auth._http.verify == "/etc/ca.pem"
    assert auth._refresh_before == 600.0
    assert auth._iam_base() == "https://iam.cn-north-4.myhuaweicloud.com"
    assert auth.describe() == "IAM user u of d"
    assert PASSWORD not in repr(auth)


def test_build_auth_rejects_an_unknown_method(session: requests.Session) -> None:
    with pytest.raises(ConfigError):
        build_auth(Credentials(method="oauth"), Config(), session, FakeClock())


# --------------------------------------------------------------------------- auth failures


def test_a_failed_token_fetch_is_not_repeated_by_the_callers_that_waited_for_it(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    iam.status = 401
    iam.error_body = {"error": {"code": 401, "message": "The username or password is wrong."}}
    iam.delay = 0.2
    auth = make_token_auth(iam, session, clock)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            apply_token(auth)
        except AuthError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(failures) == 20
    assert iam.hits == 1  # one POST for twenty callers
    clock.advance(31)
    with pytest.raises(AuthError):
        apply_token(auth)
    assert iam.hits == 2


def test_token_fetches_take_the_iam_tokens_budget(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    budget = Budget(BudgetConfig(per_api={"iam_tokens": 6}, burst=1), clock)
    http = Http(session, Transport(session, Limits(2.0, 5.0)), True, clock, budget)
    auth = TokenAuth(http, lambda: iam.url, "u", "d", Secret(PASSWORD), PROJECT)
    t0 = clock.monotonic()
    apply_token(auth)
    auth.invalidate()
    apply_token(auth)
    assert iam.hits == 2
    assert clock.monotonic() - t0 >= 10.0  # 6 a minute, burst 1: the second waited for its token


def test_a_failed_refresh_backs_off_doubling(
    iam: FakeIam, session: requests.Session, clock: FakeClock
) -> None:
    auth = make_token_auth(iam, session, clock)
    apply_token(auth)
    clock.advance(24 * 3600 - 3600)  # refresh_before: the refresh is due
    iam.status = 401
    iam.error_body = {"error": {"code": 401, "message": "The username or password is wrong."}}
    for _ in range(8 * 60):  # eight minutes in 1 s steps
        assert apply_token(auth) == "token-1"
        clock.advance(1)
    # A changed password cannot cost more than a few failed logins: at 0, 1, 3 and 7 minutes.
    assert iam.hits == 1 + 4


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, "ok"),
        (AuthError("desktops_detail", 401, "APIGW.0301", "verify aksk signature fail"), "auth"),
        (AuthError("desktops_detail", 401, "APIG.0307", "The token must be updated."), "auth"),
        (
            AuthError("desktops_detail", 403, "APIGW.0301", "AK access failed to reach the limit, forbidden"),
            "auth",
        ),
        (AuthError("desktops_detail", 403, "WKS.00081102", "Policy doesn't allow workspace:x:y"), "ok"),
        (AuthError("iam_tokens", 400, "", "The project in the scope does not exist."), "auth"),
        (AuthError("metadata_securitykey", 0, cause="connect timeout"), "auth"),
        (ClientRequestError("desktops_detail", 400, "WKS.0001", "bad"), "ok"),
        (InvalidResponseError("desktops_detail", 200, cause="not JSON"), "ok"),
        (UpstreamUnavailableError("desktops_detail", 503), "neutral"),
        (ThrottledError("desktops_detail", 429, "APIGW.0308"), "neutral"),
    ],
)
def test_outcome_of_says_what_an_answer_proves_about_the_credentials(error: object, expected: str) -> None:
    assert outcome_of(error) == expected  # type: ignore[arg-type]
