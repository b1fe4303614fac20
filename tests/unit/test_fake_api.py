"""The fake Workspace API (exporter.fake) behaves like the upstream facts say, over real HTTP."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from exporter.apis import APIS
from exporter.fake import FAILURE_EXAMPLE, FakeServer, FakeWorkspace
from exporter.fake.data import WINDOWS_ONLY_KEYS
from exporter.fake.identity_routes import API_NAMES as IDENTITY_APIS
from exporter.fake.routes import ROUTES
from exporter.fake.xlsx import sheet_rows
from exporter.sources.monitoring import FIELDS, parse_monitor

PID = "0123456789abcdef0123456789abcdef"
T0 = 1_790_000_100.0  # a fixed "now" on a 5-minute boundary (2026-09-21T14:15:00Z)


class Clock:
    """A settable clock for the fake's ``now``."""

    def __init__(self, start: float) -> None:
        self.t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def minute(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t))


def screen(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def state(clock: Clock) -> FakeWorkspace:
    return FakeWorkspace(10, now=clock)


@pytest.fixture
def server(state: FakeWorkspace) -> Iterator[FakeServer]:
    srv = FakeServer(state)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
    assert srv.errors == [], "\n".join(srv.errors)


@pytest.fixture
def url(server: FakeServer) -> str:
    return server.url


def token_body(state: FakeWorkspace, password: str | None = None) -> dict[str, Any]:
    user = {
        "name": state.iam_user,
        "password": password or state.iam_password,
        "domain": {"name": state.iam_domain},
    }
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": state.project_id}},
        }
    }


class Api:
    """A token-authenticated client; ``{pid}`` in paths is the fake's project id."""

    def __init__(self, url: str, state: FakeWorkspace) -> None:
        self.url = url
        self.session = requests.Session()
        resp = self.session.post(f"{url}/v3/auth/tokens", json=token_body(state))
        assert resp.status_code == 201
        self.session.headers["X-Auth-Token"] = resp.headers["X-Subject-Token"]

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url + path.format(pid=PID), params=params, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.url + path.format(pid=PID), json=body, timeout=10)


@pytest.fixture
def api(url: str, state: FakeWorkspace) -> Iterator[Api]:
    client = Api(url, state)
    state.reset_calls()
    yield client
    client.session.close()


def sdk_signed(
    url: str,
    method: str,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    body: bytes = b"",
    *,
    ak: str = "FAKEAK0000000000",
    sk: str = "fake-secret-key",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """Sign with the official SDK signer and send exactly what it signed."""
    host = url.removeprefix("http://")
    hdrs = {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0"}
    hdrs.update(headers or {})
    req = SdkRequest(
        method, "http", host, path, query_params=list(query or []), header_params=hdrs, body=body
    )
    Signer(BasicCredentials(ak, sk)).sign(req)
    return requests.request(method, url + req.uri, headers=req.header_params, data=body or None, timeout=10)


def error_of(resp: requests.Response) -> tuple[int, str, str]:
    doc = resp.json()
    return resp.status_code, doc.get("error_code", ""), doc.get("error_msg", "")


# --------------------------------------------------------------------------- routes & desktops


def test_every_fake_route_matches_the_api_table_name_method_and_path() -> None:
    for route in ROUTES:
        if route.api in IDENTITY_APIS:
            continue  # credential providers, not API-table calls: tests/unit/test_fake_identity.py
        spec = APIS[route.api]
        assert (spec.method, spec.path) == (route.method, route.template), route.api


def test_desktops_are_deterministic_per_seed_and_shaped_like_desktop_detail_info() -> None:
    a, b, c = FakeWorkspace(10), FakeWorkspace(10), FakeWorkspace(10, seed=1)
    assert a.desktops == b.desktops
    assert [d["desktop_id"] for d in a.desktops] != [d["desktop_id"] for d in c.desktops]
    first = a.desktops[0]
    assert first["computer_name"] == "ws-0001" and first["user_name"] == "user0001"
    for key in (
        "desktop_id",
        "status",
        "login_status",
        "os_version",
        "product",
        "metadata",
        "tags",
        "created",
    ):
        assert key in first
    assert {d["metadata"]["os_type"] for d in a.desktops} == {"Windows", "Linux"}
    assert a.desktops[4]["os_version"] == "UOS 20"
    assert "SHUTOFF" in {d["status"] for d in a.desktops}
    assert {"CONNECTED", "REGISTERED", "DISCONNECTED"} <= {d["login_status"] for d in a.desktops}


def test_desktop_list_pages_with_offset_limit_and_total_count(api: Api, state: FakeWorkspace) -> None:
    seen = []
    for offset in (0, 4, 8):
        doc = api.get("/v2/{pid}/desktops/detail", offset=offset, limit=4).json()
        assert doc["total_count"] == 10
        seen += [d["computer_name"] for d in doc["desktops"]]
    assert seen == [f"ws-{i:04d}" for i in range(1, 11)]
    added = state.add_desktop(status="SHUTOFF")
    state.remove_desktop(state.desktops[0]["desktop_id"])
    doc = api.get("/v2/{pid}/desktops/detail", status="SHUTOFF").json()
    assert added["desktop_id"] in {d["desktop_id"] for d in doc["desktops"]}
    assert api.get("/v2/{pid}/desktops/detail").json()["total_count"] == 10


# --------------------------------------------------------------------------- auth


def test_requests_signed_by_the_official_sdk_signer_are_accepted(url: str, state: FakeWorkspace) -> None:
    state.now = time.time  # the SDK stamps X-Sdk-Date from the real clock
    query = [
        ("limit", 2),
        ("desktop_id", [state.desktops[1]["desktop_id"], "x"]),
        ("user_name", "user 0002+~"),
    ]
    resp = sdk_signed(url, "GET", f"/v2/{PID}/desktops/detail", query, headers={"X-Project-Id": PID})
    assert resp.status_code == 200, resp.text
    body = json.dumps(
        {"namespace": "SYS.Workspace", "metric_name": "cpu_util", "metric_dimension": "instance_id"}
    )
    now_ms = int(time.time() * 1000)
    body = body[:-1] + f', "from": {now_ms - 299_999}, "to": {now_ms}}}'
    resp = sdk_signed(url, "POST", f"/v2/{PID}/batch-query-metric-data", body=body.encode())
    assert resp.status_code == 200, resp.text
    assert state.call_log[-1].api == "ces_batch_v2"


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"sk": "wrong-secret"}, "verify aksk signature fail"),
        ({"ak": "UNKNOWNAK"}, "verify aksk signature fail"),
        ({"headers": {"X-Sdk-Date": "20200101T000000Z"}}, "signature expired"),
    ],
)
def test_a_bad_signature_an_unknown_ak_or_a_stale_date_gets_401(
    url: str, state: FakeWorkspace, kwargs: dict[str, Any], detail: str
) -> None:
    state.now = time.time
    status, code, msg = error_of(sdk_signed(url, "GET", f"/v2/{PID}/desktops/detail", **kwargs))
    assert (status, code) == (401, "APIGW.0301")
    assert msg.startswith("Incorrect IAM authentication information: ") and detail in msg


def test_a_tampered_query_breaks_the_signature(url: str, state: FakeWorkspace) -> None:
    state.now = time.time
    host = url.removeprefix("http://")
    req = SdkRequest(
        "GET", "http", host, f"/v2/{PID}/desktops/detail", query_params=[("limit", 2)], header_params={}
    )
    Signer(BasicCredentials(state.ak, state.sk)).sign(req)
    assert requests.get(url + req.uri, headers=req.header_params, timeout=5).status_code == 200
    tampered_uri = url + req.uri.replace("limit=2", "limit=3")
    tampered = requests.get(tampered_uri, headers=req.header_params, timeout=5)
    assert error_of(tampered)[:2] == (401, "APIGW.0301")
    state.configure(verify_signatures=False)  # still needs a known AK and a fresh date
    assert requests.get(tampered_uri, headers=req.header_params, timeout=5).status_code == 200


def test_a_request_without_credentials_gets_401_token_not_found(url: str, state: FakeWorkspace) -> None:
    status, code, msg = error_of(requests.get(f"{url}/v2/{PID}/desktops/detail", timeout=5))
    assert (status, code) == (401, "APIGW.0301") and msg.endswith("x-auth-token not found")
    assert state.calls("desktops_detail") == 1
    assert state.call_log[-1].status == 401


def test_a_foreign_x_project_id_or_path_project_is_rejected(url: str, api: Api) -> None:
    bad = api.session.get(f"{url}/v2/{PID}/desktops/detail", headers={"X-Project-Id": "f" * 32}, timeout=5)
    assert error_of(bad)[:2] == (401, "APIGW.0301")
    other = api.get("/v2/" + "f" * 32 + "/desktops/detail")
    assert other.status_code == 403 and other.json()["error_code"].startswith("WKS.")


def test_unknown_paths_get_apigw_0101_with_a_request_id(api: Api) -> None:
    resp = api.get("/v2/{pid}/no-such-api")
    assert error_of(resp) == (
        404,
        "APIGW.0101",
        "The API does not exist or has not been published in the environment",
    )
    assert len(resp.headers["X-Request-Id"]) == 32


def test_iam_password_tokens_work_until_they_expire(url: str, state: FakeWorkspace, clock: Clock) -> None:
    wrong = requests.post(f"{url}/v3/auth/tokens", json=token_body(state, "nope"), timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}
    }
    resp = requests.post(f"{url}/v3/auth/tokens", json=token_body(state), timeout=5)
    assert resp.status_code == 201
    token = resp.headers["X-Subject-Token"]
    body = resp.json()["token"]
    assert body["methods"] == ["password"] and body["project"]["id"] == PID
    assert body["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(T0 + 86400))
    path = f"{url}/v2/{PID}/desktops/detail"
    assert requests.get(path, headers={"X-Auth-Token": token}, timeout=5).status_code == 200
    clock.advance(86400)
    status, code, msg = error_of(requests.get(path, headers={"X-Auth-Token": token}, timeout=5))
    assert (status, code) == (401, "APIGW.0301") and "token expires, expires_at: " in msg
    fresh = requests.post(f"{url}/v3/auth/tokens", json=token_body(state), timeout=5).headers[
        "X-Subject-Token"
    ]
    assert requests.get(path, headers={"X-Auth-Token": fresh}, timeout=5).status_code == 200
    state.expire_tokens()
    assert requests.get(path, headers={"X-Auth-Token": fresh}, timeout=5).status_code == 401
    assert requests.get(path, headers={"X-Auth-Token": "MIIbogus"}, timeout=5).status_code == 401


def test_iam_project_lookup_by_region_name_needs_a_signature(url: str, state: FakeWorkspace) -> None:
    state.now = time.time
    resp = sdk_signed(url, "GET", "/v3/projects", [("name", "ap-southeast-1")])
    assert resp.json()["projects"][0] == {**resp.json()["projects"][0], "id": PID, "name": "ap-southeast-1"}
    assert sdk_signed(url, "GET", "/v3/projects", [("name", "eu-west-101")]).json()["projects"] == []
    assert requests.get(f"{url}/v3/projects", timeout=5).status_code == 401


# --------------------------------------------------------------------------- desktop monitor


@pytest.mark.parametrize(("unit", "scale"), [("ms", 1000), ("s", 1)])
def test_monitor_returns_5_minute_aligned_points_inside_the_window(
    api: Api, state: FakeWorkspace, unit: str, scale: int
) -> None:
    state.configure(timestamp_unit=unit)
    desktop = state.desktops[0]["desktop_id"]
    start, end = T0 - 3600 - 5, T0 - 5  # the API takes windows of an hour or more
    doc = api.get(f"/v2/{{pid}}/desktop-monitor/{desktop}", start_time=iso(start), end_time=iso(end)).json()
    stamps = [p["timestamp"] for p in doc["cpu_info"]]
    expected = [t * scale for t in range(int(T0) - 3600, int(T0) - 299, 300)]
    assert stamps == expected
    for key in ("cpu_info", "memory_info", "disk_util_inband"):
        assert all(0 <= p["average"] <= 100 and isinstance(p["average"], float) for p in doc[key])
    again = api.get(f"/v2/{{pid}}/desktop-monitor/{desktop}", start_time=iso(start), end_time=iso(end)).json()
    assert again == doc
    latest = state.expected_latest(desktop, end)
    assert latest["cpu_info"] == (doc["cpu_info"][-1]["average"], doc["cpu_info"][-1]["timestamp"])


def test_monitor_never_returns_points_newer_than_now_minus_lag(api: Api, state: FakeWorkspace) -> None:
    desktop = state.desktops[0]["desktop_id"]
    state.configure(monitor_lag_s=600)
    doc = api.get(f"/v2/{{pid}}/desktop-monitor/{desktop}", start_time=iso(T0 - 3600), end_time=iso(T0 + 900))
    assert doc.json()["cpu_info"][-1]["timestamp"] == (T0 - 600) * 1000


def test_linux_desktops_lack_the_windows_only_keys(api: Api, state: FakeWorkspace) -> None:
    linux = state.desktops[4]
    assert linux["metadata"]["os_type"] == "Linux"
    params = {"start_time": iso(T0 - 3600), "end_time": iso(T0)}
    doc = api.get(f"/v2/{{pid}}/desktop-monitor/{linux['desktop_id']}", **params).json()
    assert WINDOWS_ONLY_KEYS.isdisjoint(doc) and "cpu_info" in doc and "network_vm_connections" in doc
    windows = api.get(f"/v2/{{pid}}/desktop-monitor/{state.desktops[0]['desktop_id']}", **params).json()
    assert set(windows) >= WINDOWS_ONLY_KEYS


def test_monitor_online_info_follows_login_status(api: Api, state: FakeWorkspace) -> None:
    params = {"start_time": iso(T0 - 3600), "end_time": iso(T0)}
    for desktop in state.desktops:
        doc = api.get(f"/v2/{{pid}}/desktop-monitor/{desktop['desktop_id']}", **params).json()
        if desktop["login_status"] == "CONNECTED":
            assert doc["online_status"] == 2
            (info,) = doc["user_online_info"]
            assert time.strptime(info["connection_setup_time"], "%Y-%m-%dT%H:%M:%SZ")
            assert info["connection_end_time"] in (None, "")
        else:
            assert (doc["online_status"], doc["user_online_info"]) == (0, [])


def test_monitor_serves_an_explicit_body_or_one_metric(api: Api, state: FakeWorkspace) -> None:
    desktop = state.desktops[1]["desktop_id"]
    explicit = {"online_status": 1, "user_online_info": [], "cpu_info": [{"average": 7.5, "timestamp": 1}]}
    state.set_monitor(desktop, explicit)
    params = {"start_time": iso(T0 - 3600), "end_time": iso(T0)}
    assert api.get(f"/v2/{{pid}}/desktop-monitor/{desktop}", **params).json() == explicit
    assert state.expected_latest(desktop, T0) == {"cpu_info": (7.5, 1)}
    assert api.get("/v2/{pid}/desktop-monitor/nope", **params).status_code == 404
    only = api.get(
        f"/v2/{{pid}}/desktop-monitor/{state.desktops[0]['desktop_id']}", metric_name="mem_util", **params
    )
    assert list(only.json()) == ["memory_info"]


# --------------------------------------------------------------------------- faults & counting


def test_fail_answers_the_configured_status_the_configured_number_of_times(
    api: Api, state: FakeWorkspace
) -> None:
    state.fail("desktops_detail", status=503, times=2, error_code="WKS.00211401")
    statuses = [api.get("/v2/{pid}/desktops/detail").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert api.get("/v2/{pid}/desktops/detail").status_code == 200
    state.fail("*", status=500, times=None)
    assert api.get("/v2/{pid}/screen-records").status_code == 500
    state.reset_faults()
    assert api.get("/v2/{pid}/screen-records").status_code == 200


def test_throttle_answers_429_apigw_0308(api: Api, state: FakeWorkspace) -> None:
    state.throttle("connections", times=1)
    status, code, msg = error_of(api.get("/v2/{pid}/connections/desktops"))
    assert (status, code) == (429, "APIGW.0308") and msg.startswith(
        "The throttling threshold has been reached"
    )
    assert api.get("/v2/{pid}/connections/desktops").status_code == 200


def test_the_rate_limiter_uses_a_sliding_minute(api: Api, state: FakeWorkspace, clock: Clock) -> None:
    state.set_rate_limit("screen_records", 3)
    codes = []
    for _ in range(4):
        codes.append(api.get("/v2/{pid}/screen-records").status_code)
        clock.advance(10)
    assert codes == [200, 200, 200, 429]
    clock.advance(21)  # the first call is now 61 s old
    assert api.get("/v2/{pid}/screen-records").status_code == 200
    assert api.get("/v2/{pid}/screen-records").status_code == 429


def test_garbage_notjson_is_not_parseable(api: Api, state: FakeWorkspace) -> None:
    state.garbage("desktops_detail", times=1, kind="notjson")
    resp = api.get("/v2/{pid}/desktops/detail")
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        json.loads(resp.text)
    assert "desktops" in api.get("/v2/{pid}/desktops/detail").json()


def test_garbage_wrongshape_drops_the_list_keys(api: Api, state: FakeWorkspace) -> None:
    state.garbage("desktops_detail", kind="wrongshape")
    assert api.get("/v2/{pid}/desktops/detail").json() == {"total_count": 10}


def test_garbage_badvalues_puts_strings_nan_and_null_in_datapoints(api: Api, state: FakeWorkspace) -> None:
    state.garbage("desktop_monitor", kind="badvalues")
    desktop = state.desktops[0]["desktop_id"]
    doc = api.get(
        f"/v2/{{pid}}/desktop-monitor/{desktop}", start_time=iso(T0 - 3600), end_time=iso(T0)
    ).json()
    values = [p["average"] for p in doc["cpu_info"]]
    assert {"n/a", "NaN", None} <= set(values)
    # The trap is that float("NaN") succeeds: the exporter's parser must reject every one.
    metrics, invalid = parse_monitor(desktop, doc)
    assert metrics.values == ()
    assert metrics.sample_time is None
    assert invalid == sum(len(doc[key]) for key in FIELDS if isinstance(doc.get(key), list))
    assert invalid >= len(values) > 0


def test_latency_delays_the_response(api: Api, state: FakeWorkspace) -> None:
    state.set_latency("desktops_detail", 0.3)
    started = time.monotonic()
    assert api.get("/v2/{pid}/desktops/detail").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        api.session.get(f"{api.url}/v2/{PID}/desktops/detail", timeout=0.1)


def test_fault_settings_reject_unknown_api_names_and_kinds(state: FakeWorkspace) -> None:
    with pytest.raises(ValueError, match="unknown API"):
        state.fail("desktop_list")
    with pytest.raises(ValueError, match="kind"):
        state.garbage("desktops_detail", kind="html")
    with pytest.raises(ValueError, match="unknown switch"):
        state.configure(export_fmt="csv")


def test_calls_and_the_call_log_count_every_upstream_request(api: Api, state: FakeWorkspace) -> None:
    api.get("/v2/{pid}/desktops/detail", offset=0, limit=5)
    api.get("/v2/{pid}/desktops/detail", offset=5, limit=5)
    state.fail("screen_records")
    api.get("/v2/{pid}/screen-records")
    assert state.calls("desktops_detail") == 2 and state.calls("screen_records") == 1 and state.calls() == 3
    assert state.call_log[1] == (
        "desktops_detail",
        "GET",
        f"/v2/{PID}/desktops/detail",
        {"offset": "5", "limit": "5"},
        200,
    )
    assert state.call_log[2].status == 500
    state.reset_calls()
    assert (state.calls(), state.call_log) == (0, [])


# --------------------------------------------------------------------------- connection records


def _records(state: FakeWorkspace) -> list[dict[str, Any]]:
    state.add_connection_record(connection_start_time=iso(T0 - 3600), user_name="alice", terminal_type="WI")
    state.add_connection_record(connection_start_time=iso(T0 - 1830), user_name="bob", terminal_type="TC")
    state.add_connection_record(connection_start_time=iso(T0 - 1770), user_name="alice", terminal_type="WI")
    return [state.add_connection_record(connection_start_time=iso(T0 - 60), user_name="carol")]


def test_connection_records_filter_on_a_minute_precision_window_newest_first(
    api: Api, state: FakeWorkspace
) -> None:
    _records(state)
    doc = api.get("/v2/{pid}/connections/desktops").json()
    starts = [r["connection_start_time"] for r in doc["records"]]
    assert doc["total_count"] == 4 and starts == sorted(starts, reverse=True)
    # 10:00:30 is inside end=10:00 at minute precision (T0 - 1770 s is hh:mm:30)
    window = {"start_time": minute(T0 - 1830), "end_time": minute(T0 - 1770)}
    doc = api.get("/v2/{pid}/connections/desktops", **window).json()
    assert [r["user_name"] for r in doc["records"]] == ["alice", "bob"]
    assert api.get("/v2/{pid}/connections/desktops", user_name="alice").json()["total_count"] == 2
    assert api.get("/v2/{pid}/connections/desktops", terminal_type="TC").json()["total_count"] == 1
    record = doc["records"][0]
    for key in ("transaction_id", "desktop_id", "network_rtt", "e2e_rtt", "connection_failure_reason"):
        assert key in record


@pytest.mark.fake_rejects
def test_connection_windows_need_both_ends_in_minute_format(api: Api) -> None:
    status, code, _ = error_of(api.get("/v2/{pid}/connections/desktops", start_time=minute(T0)))
    assert (status, code) == (400, "WKS.00211102")
    secs = api.get("/v2/{pid}/connections/desktops", start_time=iso(T0 - 60), end_time=iso(T0))
    assert secs.status_code == 400
    assert error_of(api.get("/v2/{pid}/connections/desktops", limit=1001))[:2] == (400, "WKS.00211102")


def test_connection_paging_defaults_to_20_and_shifts_when_records_arrive(
    api: Api, state: FakeWorkspace
) -> None:
    for i in range(25):
        state.add_connection_record(connection_start_time=T0 - 3600 + i)
    first = api.get("/v2/{pid}/connections/desktops").json()
    assert (len(first["records"]), first["total_count"]) == (20, 25)
    state.insert_shift(2)
    page1 = api.get("/v2/{pid}/connections/desktops", offset=0, limit=10).json()["records"]
    page2 = api.get("/v2/{pid}/connections/desktops", offset=10, limit=10).json()
    assert page2["total_count"] == 27
    assert page2["records"][:2] == page1[-2:]  # the two newest arrivals pushed them down
    newest = state.add_connection_record(front=True, connection_start_time=iso(T0 + 3600))
    assert api.get("/v2/{pid}/connections/desktops", limit=1).json()["records"][0] == newest


def test_failed_connections_have_null_times_and_records_can_complete_later(
    api: Api, state: FakeWorkspace
) -> None:
    failed = state.add_connection_record(connection_failure_reason=FAILURE_EXAMPLE)
    assert (failed["connection_setup_time"], failed["connection_end_time"]) == (None, None)
    ongoing = state.add_connection_record(connection_start_time=iso(T0 - 600))
    state.update_connection_record(ongoing["transaction_id"], connection_end_time=T0)
    got = {r["transaction_id"]: r for r in api.get("/v2/{pid}/connections/desktops").json()["records"]}
    assert got[ongoing["transaction_id"]]["connection_end_time"] == iso(T0)
    assert got[failed["transaction_id"]]["connection_failure_reason"].startswith("400200:")


def test_v1_login_records_lack_the_v2_only_fields(api: Api, state: FakeWorkspace) -> None:
    _records(state)
    doc = api.get("/v1.0/{pid}/desktop-users/login-records", user_name="alice").json()
    assert len(doc["records"]) == 2 and "total_count" not in doc  # the real answer has none
    for key in (
        "transaction_id",
        "desktop_id",
        "network_rtt",
        "e2e_rtt",
        "public_ip",
        "source_ip",
        "tenantId",
    ):
        assert key not in doc["records"][0]
    assert {"user_name", "connection_start_time", "is_reconnect"} <= set(doc["records"][0])


# --------------------------------------------------------------------------- exports


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _sheet_rows(data: bytes) -> list[dict[str, str]]:
    header, *rows = sheet_rows(data)
    return [dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)) for row in rows]


def test_v2_export_returns_an_xlsx_workbook_or_plain_csv_of_the_filtered_records(
    api: Api, state: FakeWorkspace
) -> None:
    _records(state)
    resp = api.get("/v2/{pid}/connections/desktops/export", user_name="alice", language="en_US")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.content.startswith(b"PK\x03\x04")
    assert resp.content == state.exported_bytes(user_name="alice")
    rows = _sheet_rows(resp.content)
    assert [r["user_name"] for r in rows] == ["alice", "alice"]
    state.configure(export_format="csv")
    resp = api.get("/v2/{pid}/connections/desktops/export", start_time=minute(T0 - 120), end_time=minute(T0))
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert [r["user_name"] for r in _csv_rows(resp.content)] == ["carol"]


def test_v3_export_task_reports_creating_then_success_and_downloads(api: Api, state: FakeWorkspace) -> None:
    _records(state)
    task_id = api.get("/v3/{pid}/desktops/connections/export", user_name="bob").json()["task_id"]
    download = f"/v2/{{pid}}/export-tasks/{task_id}/download"
    assert api.get(download).status_code == 400  # not ready yet
    statuses = []
    for _ in range(3):
        doc = api.get("/v2/{pid}/export-tasks", task_id=task_id).json()
        assert doc["count"] == 1
        statuses.append(doc["export_tasks"][0]["status"])
    assert statuses == ["CREATING", "CREATING", "SUCCESS"]
    task = doc["export_tasks"][0]
    assert task["file_name"].endswith(".xlsx") and task["is_download"] is False
    data = api.get(download)
    assert data.status_code == 200 and data.content == state.exported_bytes(task_id)
    assert [r["user_name"] for r in _sheet_rows(data.content)] == ["bob"]
    assert api.get("/v2/{pid}/export-tasks", task_id=task_id).json()["export_tasks"][0]["is_download"] is True
    assert api.get("/v2/{pid}/export-tasks/nope/download").status_code == 404


def test_v3_export_tasks_can_be_made_to_fail(api: Api, state: FakeWorkspace) -> None:
    state.configure(export_task_polls=0, export_task_outcome="FAIL")
    task_id = api.get("/v3/{pid}/desktops/connections/export").json()["task_id"]
    task = api.get("/v2/{pid}/export-tasks", task_id=task_id).json()["export_tasks"][0]
    assert task["status"] == "FAIL" and task["error_code"] and task["fail_reason"]


# --------------------------------------------------------------------------- screen records & operations


def test_screen_records_filter_with_the_space_separated_time_format(api: Api, state: FakeWorkspace) -> None:
    d1, d2 = state.desktops[0]["desktop_id"], state.desktops[1]["desktop_id"]
    old = state.add_screen_record(d1, start_time=T0 - 20 * 86400)
    a = state.add_screen_record(d1, start_time=T0 - 7200)
    b = state.add_screen_record(d2, status="UPLOAD_COMPLETED", type="FULL", start_time=T0 - 3600)
    assert a["start_time"].endswith(".000Z") and a["status"] == "RECORDING"
    doc = api.get("/v2/{pid}/screen-records").json()  # default window: the last 15 days
    assert [r["id"] for r in doc["screen_records"]] == [b["id"], a["id"]] and doc["total_count"] == 2
    asc = api.get("/v2/{pid}/screen-records", sort_field="start_time", sort_type="asc").json()
    assert [r["id"] for r in asc["screen_records"]] == [a["id"], b["id"]]
    window = {"start_time": screen(T0 - 30 * 86400), "end_time": screen(T0 - 7200)}
    got = api.get("/v2/{pid}/screen-records", **window).json()["screen_records"]
    assert [r["id"] for r in got] == [a["id"], old["id"]]
    assert api.get("/v2/{pid}/screen-records", status="UPLOAD_COMPLETED").json()["total_count"] == 1
    assert api.get("/v2/{pid}/screen-records", desktop_id=d1, type="OPERATION").json()["total_count"] == 1
    state.set_record_status(a["id"], "REC_COMPLETED")
    assert api.get("/v2/{pid}/screen-records", status="REC_COMPLETED").json()["screen_records"][0]["end_time"]


def test_os_operations_page_in_time_order_and_unknown_records_are_404(api: Api, state: FakeWorkspace) -> None:
    rec = state.add_screen_record(state.desktops[2]["desktop_id"], start_time=T0 - 600)
    late = state.add_operation(rec["id"], operation_time=T0 - 60)
    early = state.add_operation(
        rec["id"], "APP", "APP_START", "INFO", operation_time="2026-09-21T14:06:00.263Z"
    )
    for i in range(3):
        state.add_operation(rec["id"], "HDP", "HDP_USB", "ALARM", operation_time=T0 - 300 + i)
    path = f"/v2/{{pid}}/screen-records/{rec['id']}/os-operations"
    doc = api.get(path, limit=2).json()
    assert doc["total_count"] == 5 and doc["operations"][0] == early
    assert api.get(path, offset=4, limit=2).json()["operations"] == [late]
    assert late["relative_start_time"] == 540 and late["operation_time"].endswith(".000Z")
    assert late["desktop_id"] == rec["desktop_id"] and late["username"] == rec["username"]
    assert api.get(path, event_level="ALARM").json()["total_count"] == 3
    assert api.get(path, event_id="APP_CRASH").json()["operations"] == [late]
    assert len(api.get(path).json()["operations"]) == 5  # the seed's default page: 10
    status, code, _ = error_of(api.get("/v2/{pid}/screen-records/nope/os-operations"))
    assert status == 404 and code.startswith("WKS.")


# --------------------------------------------------------------------------- Cloud Eye


def _ces_v2(api: Api, metric: str, **extra: Any) -> requests.Response:
    to = int(T0 * 1000)
    body = {"namespace": "SYS.Workspace", "metric_name": metric, "metric_dimension": "instance_id"}
    return api.post("/v2/{pid}/batch-query-metric-data", {**body, "from": to - 299_999, "to": to, **extra})


def test_ces_v2_batch_gives_the_latest_point_per_desktop_matching_the_monitor(
    api: Api, state: FakeWorkspace
) -> None:
    doc = _ces_v2(api, "cpu_util").json()
    assert len(doc["data_points"]) == 10 and "meta_data" not in doc  # no total, as upstream
    first = doc["data_points"][0]
    desktop = state.desktops[0]["desktop_id"]
    assert first["dimensions"] == [{"name": "instance_id", "value": desktop, "origin_value": desktop}]
    assert (first["value"], first["timestamp"]) == state.expected_latest(desktop, T0)["cpu_info"]
    assert first["unit"] == "%"
    mem = _ces_v2(api, "mem_util").json()
    assert len(mem["data_points"]) == 8  # the two Linux desktops lack mem_util
    paged = [
        p for off in (0, 4, 8) for p in _ces_v2(api, "cpu_util", limit=4, offset=off).json()["data_points"]
    ]
    assert paged == doc["data_points"]
    state.configure(ces_dimension="desktop_id")
    assert _ces_v2(api, "cpu_util").json()["data_points"] == []


def test_ces_v1_batch_and_list_metrics(api: Api, state: FakeWorkspace) -> None:
    desktop = state.desktops[0]["desktop_id"]
    metric = {"namespace": "SYS.Workspace", "metric_name": "cpu_util"}
    body = {
        "metrics": [{**metric, "dimensions": [{"name": "instance_id", "value": desktop}]}],
        "period": "1",
        "filter": "average",
        "from": int((T0 - 3600) * 1000),
        "to": int(T0 * 1000),
    }
    (series,) = api.post("/V1.0/{pid}/batch-query-metric-data", body).json()["metrics"]
    assert len(series["datapoints"]) == 13 and series["unit"] == "%"
    newest = series["datapoints"][-1]
    assert (newest["average"], newest["timestamp"]) == state.expected_latest(desktop, T0)["cpu_info"]
    listed, marker = [], None
    while True:
        params: dict[str, Any] = {"namespace": "SYS.Workspace", "limit": 40}
        if marker:
            params["start"] = marker
        doc = api.get("/V1.0/{pid}/metrics", **params).json()
        listed += doc["metrics"]
        marker = doc["meta_data"]["marker"]
        if len(listed) >= doc["meta_data"]["total"]:
            break
    assert len(listed) == 8 * 12 + 2 * 8  # Windows desktops report 12 metrics, Linux 8
    assert {m["dimensions"][0]["name"] for m in listed} == {"instance_id"}


# --------------------------------------------------------------------------- control plane & CLI


def test_the_control_plane_steers_the_fake_over_http(url: str, api: Api, state: FakeWorkspace) -> None:
    def post(name: str, body: dict[str, Any]) -> Any:
        resp = requests.post(f"{url}/_fake/{name}", json=body, timeout=5)
        assert resp.status_code == 200, resp.text
        return resp.json()

    post("fail", {"api": "desktops_detail", "status": 502, "times": 1})
    assert api.get("/v2/{pid}/desktops/detail").status_code == 502
    post("throttle", {"api": "desktops_detail", "times": 1})
    assert api.get("/v2/{pid}/desktops/detail").status_code == 429
    post("garbage", {"api": "desktops_detail", "times": 1, "kind": "wrongshape"})
    assert "desktops" not in api.get("/v2/{pid}/desktops/detail").json()
    post("latency", {"api": "desktops_detail", "seconds": 0.05})
    post("reset-faults", {})
    assert requests.get(f"{url}/_fake/calls", timeout=5).json() == {"desktops_detail": 3}
    post("reset-calls", {})
    assert requests.get(f"{url}/_fake/calls", timeout=5).json() == {}
    added = post("desktops", {"add": 2})["added"]
    assert post("desktops", {"remove": [added[0]]})["count"] == 11
    post("connection-records", {"add": [{"user_name": "zed", "connection_start_time": iso(T0)}]})
    assert api.get("/v2/{pid}/connections/desktops", user_name="zed").json()["total_count"] == 1
    rec = post("screen-records", {"add": [{"desktop_id": added[1], "start_time": T0 - 60}]})["added"][0]
    post("operations", {"record_id": rec["id"], "add": [{"event_id": "APP_HANG"}, {"event_id": "APP_STOP"}]})
    path = f"/v2/{{pid}}/screen-records/{rec['id']}/os-operations"
    assert [o["event_id"] for o in api.get(path).json()["operations"]] == ["APP_HANG", "APP_STOP"]
    post("config", {"export_format": "csv"})
    assert requests.get(f"{url}/_fake/config", timeout=5).json()["export_format"] == "csv"
    post("expire-tokens", {})
    assert api.get("/v2/{pid}/desktops/detail").status_code == 401
    bad = requests.post(f"{url}/_fake/fail", json={"api": "nope"}, timeout=5)
    assert bad.status_code == 400 and "unknown API" in bad.json()["error"]
    assert requests.get(f"{url}/_fake/call-log", timeout=5).json()[-1]["status"] == 401


def test_python_m_exporter_fake_prints_its_url_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter.fake", "--desktops", "3", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("fake Workspace API listening on http://127.0.0.1:")
        base = line.rsplit(" ", 1)[-1].strip()
        creds = requests.get(f"{base}/_fake/credentials", timeout=5).json()
        assert creds["project_id"] == PID
        token = requests.post(
            f"{base}/v3/auth/tokens",
            json=token_body(FakeWorkspace(0)),
            timeout=5,
        ).headers["X-Subject-Token"]
        doc = requests.get(
            f"{base}/v2/{PID}/desktops/detail", headers={"X-Auth-Token": token}, timeout=5
        ).json()
        assert doc["total_count"] == 3
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


# ------------------------------------------------------------------ switches the upstream leaves open


def _recording_with_ops(state: FakeWorkspace, n: int) -> str:
    rec = state.add_screen_record(state.desktops[0]["desktop_id"], start_time=T0 - 900)
    for i in range(n):
        state.add_operation(rec["id"], operation_time=T0 - 800 + 10 * i, event_data=f"op{i}")
    return str(rec["id"])


def _op_data(api: Api, record_id: str, **params: Any) -> list[str]:
    doc = api.get(f"/v2/{{pid}}/screen-records/{record_id}/os-operations", limit=100, **params).json()
    return [op["event_data"] for op in doc["operations"]]


def test_os_operations_come_oldest_first_newest_first_or_unordered(api: Api, state: FakeWorkspace) -> None:
    rid = _recording_with_ops(state, 12)
    in_time = [f"op{i}" for i in range(12)]
    assert _op_data(api, rid) == in_time
    state.configure(operations_order="newest_first")
    assert _op_data(api, rid) == in_time[::-1]
    state.configure(operations_order="unordered")
    shuffled = _op_data(api, rid)
    assert sorted(shuffled) == sorted(in_time) and shuffled not in (in_time, in_time[::-1])
    assert _op_data(api, rid) == shuffled  # seeded: the same list on every call
    pages = [
        op["event_data"]
        for off in (0, 5, 10)
        for op in api.get(f"/v2/{{pid}}/screen-records/{rid}/os-operations", offset=off, limit=5).json()[
            "operations"
        ]
    ]
    assert pages == shuffled
    with pytest.raises(ValueError, match="operations_order"):
        state.configure(operations_order="random")


def test_recordings_end_at_rec_completed_or_go_on_to_upload_with_late_operations(
    api: Api, state: FakeWorkspace
) -> None:
    rid = _recording_with_ops(state, 2)
    assert state.advance_recording(rid)["status"] == "REC_COMPLETED"
    with pytest.raises(ValueError, match="REC_COMPLETED"):
        state.advance_recording(rid)  # final on the default path
    assert len(_op_data(api, rid)) == 2

    state.configure(recording_path="upload")
    rid = _recording_with_ops(state, 2)
    statuses = [state.advance_recording(rid)["status"] for _ in range(3)]
    assert statuses == ["REC_COMPLETED", "UPLOADING", "UPLOAD_COMPLETED"]
    assert _op_data(api, rid) == ["op0", "op1", "late:UPLOADING", "late:UPLOAD_COMPLETED"]
    listed = api.get("/v2/{pid}/screen-records", status="UPLOAD_COMPLETED").json()["screen_records"]
    assert [r["id"] for r in listed] == [rid]
    with pytest.raises(ValueError, match="UPLOAD_COMPLETED"):
        state.advance_recording(rid)


@pytest.mark.parametrize(("mode", "status", "code"), [("404", 404, "APIGW.0101"), ("400", 400, "APIGW.0201")])
def test_a_region_without_the_ces_v2_batch_query_still_serves_v1(
    api: Api, state: FakeWorkspace, mode: str, status: int, code: str
) -> None:
    state.configure(ces_v2=mode)
    assert error_of(_ces_v2(api, "cpu_util"))[:2] == (status, code)
    desktop = state.desktops[0]["desktop_id"]
    dims = [{"name": "instance_id", "value": desktop}]
    body = {
        "metrics": [{"namespace": "SYS.Workspace", "metric_name": "cpu_util", "dimensions": dims}] * 500,
        "period": "1",
        "filter": "average",
        "from": int((T0 - 300) * 1000),  # 500 metrics x 5 min / 1 min: 2,500 of the 3,000 datapoints
        "to": int(T0 * 1000),
    }
    doc = api.post("/V1.0/{pid}/batch-query-metric-data", body).json()
    assert len(doc["metrics"]) == 500 and doc["metrics"][0]["datapoints"]
    state.configure(ces_v2="available")
    assert _ces_v2(api, "cpu_util").status_code == 200


def test_v2_failure_reasons_can_come_without_the_numeric_prefix(api: Api, state: FakeWorkspace) -> None:
    state.add_connection_record(connection_start_time=T0 - 600, connection_failure_reason=FAILURE_EXAMPLE)
    window = {"start_time": minute(T0 - 3600), "end_time": minute(T0)}
    (coded,) = api.get("/v2/{pid}/connections/desktops", **window).json()["records"]
    assert coded["connection_failure_reason"] == FAILURE_EXAMPLE
    state.configure(failure_reason_format="text")
    (plain,) = api.get("/v2/{pid}/connections/desktops", **window).json()["records"]
    assert plain["connection_failure_reason"] == FAILURE_EXAMPLE.split(":", 1)[1]
    (legacy,) = api.get("/v1.0/{pid}/desktop-users/login-records", **window).json()["records"]
    assert legacy["connection_failure_reason"] == FAILURE_EXAMPLE  # v1.0 documents the coded form


@pytest.mark.fake_rejects  # after the denial, a request with no parameters only proves the 403 is gone
@pytest.mark.parametrize("name", sorted(APIS))
def test_deny_answers_the_403_of_a_missing_iam_permission(url: str, state: FakeWorkspace, name: str) -> None:
    from exporter.fake.faults import denied_action

    state.now = time.time  # the SDK stamps X-Sdk-Date from the real clock
    state.deny(name)
    spec = APIS[name]
    path = spec.path.format(project_id=PID, desktop_id="d", task_id="t", record_id="r")
    resp = sdk_signed(url, spec.method, path, body=b"{}" if spec.method == "POST" else b"")
    assert resp.status_code == 403
    doc = resp.json()
    message = doc["error"]["message"] if spec.service == "iam" else doc["error_msg"]
    assert f"Policy doesn't allow {denied_action(name) or 'this action'} to be performed." == message
    if spec.service != "iam":
        assert doc["error_code"] and doc["encoded_authorization_message"]
    state.reset_faults()
    assert sdk_signed(url, spec.method, path, body=b"{}" if spec.method == "POST" else b"").status_code != 403


def test_switches_and_deny_over_the_control_plane(url: str, api: Api, state: FakeWorkspace) -> None:
    cfg = {"operations_order": "newest_first", "recording_path": "upload", "ces_v2": "404"}
    assert requests.post(f"{url}/_fake/config", json=cfg, timeout=10).status_code == 200
    assert requests.get(f"{url}/_fake/config", timeout=10).json()["ces_v2"] == "404"
    rid = _recording_with_ops(state, 1)
    done = requests.post(f"{url}/_fake/screen-records", json={"advance": [rid, rid]}, timeout=10).json()
    assert [r["status"] for r in done["changed"]] == ["REC_COMPLETED", "UPLOADING"]
    assert requests.post(f"{url}/_fake/deny", json={"api": "desktops_detail"}, timeout=10).status_code == 200
    assert api.get("/v2/{pid}/desktops/detail").status_code == 403
    bad = requests.post(f"{url}/_fake/config", json={"ces_v2": "maybe"}, timeout=10)
    assert bad.status_code == 400 and "ces_v2" in bad.json()["error"]


def test_the_light_desktop_list_carries_pool_id_which_desktops_detail_lacks(
    api: Api, state: FakeWorkspace
) -> None:
    pooled = state.add_desktop(desktop_type="POOLED", pool_id="pool-1")
    doc = api.get("/v2/{pid}/desktops").json()
    assert doc["total_count"] == 11 and len(doc["desktops"]) == 11  # one call: up to 1000 a page
    light = {d["desktop_id"]: d for d in doc["desktops"]}
    assert light[pooled["desktop_id"]]["pool_id"] == "pool-1"
    assert light[pooled["desktop_id"]]["ip_address"] == pooled["ipv4"]
    assert "product" not in light[pooled["desktop_id"]]  # the light list has no flavour details
    detail = api.get("/v2/{pid}/desktops/detail").json()["desktops"]
    assert all("pool_id" not in d for d in detail)
    assert [d["desktop_id"] for d in api.get("/v2/{pid}/desktops", pool_id="pool-1").json()["desktops"]] == [
        pooled["desktop_id"]
    ]
