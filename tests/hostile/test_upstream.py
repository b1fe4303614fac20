"""The real WorkspaceClient (and a whole MultiExporter) against a hostile upstream on 127.0.0.1.

Each test drives one attack of :mod:`tests.hostile.upstream` and asserts that the call
ends (bounded in time), fails with the right error and cause, counts the fault in the
observer / self-metric, and that no secret canary, in any encoding, reaches an error
text or a formatted log line. Memory figures are in ``benchmarks/hostile_upstream.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests

from exporter.app.multi import MultiExporter
from exporter.clock import SYSTEM_CLOCK
from exporter.config.credentials import Credentials
from exporter.config.settings import Settings, parse_config
from exporter.errors import (
    AuthError,
    InvalidResponseError,
    ShutdownError,
    UpstreamError,
    UpstreamUnavailableError,
)
from exporter.logs import JsonFormatter, LogfmtFormatter
from exporter.secret import Secret
from exporter.serve.server import HTTPServer, make_app
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from exporter.upstream.observer import NullObserver
from exporter.upstream.paging import PAGE_FLOOR
from exporter.upstream.sockets import Tracker
from tests.conftest import fast, wait_for
from tests.desktops import list_desktops
from tests.hostile.upstream import HUGE_BYTES, HostileUpstream

AK = "AKCANARY7f3a9c2e51"
SK = "sk/canary+secret=Value"
SECURITY_TOKEN = 'st-canary"tok/en+x=='
PASSWORD = 'pw-canary"\\/\u00e9+1'
CANARIES = (AK, SK, SECURITY_TOKEN, PASSWORD, "tok-" + "x" * 40)
CAP = 1024 * 1024


def forms(value: str) -> set[str]:
    """The encodings in which a secret can turn up in a log or an echo."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            for form in forms(canary):
                assert form not in text, f"secret form {form!r} leaked into {text[:200]!r}"


def formatted(caplog: pytest.LogCaptureFixture) -> list[str]:
    out: list[str] = []
    for record in caplog.records:
        out += [record.getMessage(), LogfmtFormatter().format(record), JsonFormatter().format(record)]
    return out


class Observer(NullObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.lock = threading.Lock()

    def request_done(self, api: str, code: str, seconds: float) -> None:
        with self.lock:
            self.events.append(("request", api, code))

    def throttled(self, api: str) -> None:
        pass

    def retried(self, api: str) -> None:
        with self.lock:
            self.events.append(("retried", api))

    def invalid_response(self, api: str) -> None:
        with self.lock:
            self.events.append(("invalid", api))

    def truncated(self, api: str, key: str) -> None:
        with self.lock:
            self.events.append(("truncated", api, key))

    def count(self, *event: str) -> int:
        with self.lock:
            return sum(1 for e in self.events if e == event)


def settings(url: str, method: str = "aksk", **http: Any) -> Settings:
    raw: dict[str, Any] = {
        "region": "ap-southeast-1",
        "project_id": "proj",
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "http": {
            "max_retries": 0,
            "max_body_bytes": CAP,
            "call_deadline": "3s",
            "read_timeout": "30s",
            **http,
        },
        "budget": {"burst": 100, "per_api": {"desktops_detail": 6000, "iam_tokens": 6000}},
        "auth": {"method": method},
    }
    if method == "token":
        raw["auth"].update(username="alice", domain_name="corp")
    env = {
        "HUAWEICLOUD_SDK_AK": AK,
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN,
        "WORKSPACE_EXPORTER_IAM_PASSWORD": PASSWORD,
    }
    return parse_config(raw, env)


def client_for(s: Settings, obs: Observer | None = None) -> WorkspaceClient:
    return WorkspaceClient(s, Budget(s.config.budget, SYSTEM_CLOCK), obs or Observer(), rng=random.Random(1))


@pytest.fixture
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream("ok", max_seconds=30) as up:
        yield up


def _fail(client: WorkspaceClient) -> tuple[UpstreamError, float]:
    started = time.monotonic()
    with pytest.raises(UpstreamError) as info:
        list_desktops(client)
    return info.value, time.monotonic() - started


# ---------------------------------------------------------------------------- body size


@pytest.mark.parametrize("mode", ["gzip_bomb", "huge", "endless"])
def test_an_oversized_body_is_an_invalid_response_cut_at_the_cap(
    upstream: HostileUpstream, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    obs = Observer()
    client = client_for(settings(upstream.url, call_deadline="20s"), obs)
    upstream.mode = mode
    try:
        err, _ = _fail(client)
    finally:
        client.close()
    assert isinstance(err, InvalidResponseError)
    assert "body larger than 1048576 bytes decoded (http.max_body_bytes)" in str(err)
    assert f"host=127.0.0.1:{upstream.url.rsplit(':', 1)[1]}" in str(err)
    # Each answer is cut at the cap and counted; the page is halved down to its floor first.
    limits = [q.get("limit") for q in upstream.queries("/v2/")]
    assert limits == ["500", "250", "125", "62", "31", "15", str(PAGE_FLOOR)]
    assert obs.count("invalid", "desktops_detail") == len(limits)
    # The client stopped reading: the server could not push the whole 100 MB.
    assert upstream.bytes_sent < HUGE_BYTES // 2
    assert_no_secret(str(err), *formatted(caplog))


def test_the_client_works_again_after_a_bomb(upstream: HostileUpstream) -> None:
    client = client_for(settings(upstream.url))
    try:
        upstream.mode = "gzip_bomb"
        _fail(client)
        upstream.mode = "ok"
        assert [d["desktop_id"] for d in list_desktops(client)] == ["d-00000000", "d-00000001"]
    finally:
        client.close()


# ---------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize("mode", ["drip", "drip_headers"])
def test_a_dripping_answer_fails_at_the_total_deadline(upstream: HostileUpstream, mode: str) -> None:
    obs = Observer()
    client = client_for(settings(upstream.url, call_deadline="2s"), obs)
    upstream.mode = mode
    upstream.drip_interval = 0.5
    try:
        err, elapsed = _fail(client)
    finally:
        client.close()
    assert isinstance(err, UpstreamUnavailableError)
    assert "total deadline of 2s exceeded (http.call_deadline)" in str(err)
    assert obs.count("request", "desktops_detail", "error") == 1
    assert elapsed < 15  # the read timeout (30 s) never tripped: the deadline did


def test_close_aborts_a_call_in_flight(upstream: HostileUpstream) -> None:
    client = client_for(settings(upstream.url, call_deadline="600s"))
    upstream.mode = "drip"
    errors: list[BaseException] = []

    def call() -> None:
        try:
            list_desktops(client)
        except ShutdownError as e:
            errors.append(e)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    wait_for(lambda: upstream.calls("/v2/"), timeout=10)
    time.sleep(0.3)
    client.close()
    t.join(10)
    assert not t.is_alive()
    assert len(errors) == 1 and "client closed during the desktops_detail call" in str(errors[0])


# ---------------------------------------------------------------------------- paging and JSON


def test_a_lying_total_count_stops_at_the_page_cap_and_is_marked_truncated(
    upstream: HostileUpstream,
) -> None:
    obs = Observer()
    client = client_for(settings(upstream.url, max_pages_per_listing=7), obs)
    upstream.mode = "lying_total"
    try:
        listing = client.listing("desktops_detail", "desktops")
        ids = [d["desktop_id"] for page in listing for d in page.items]
    finally:
        client.close()
    assert upstream.calls("/v2/") == 7
    assert len(ids) == len(set(ids)) == 7 * 500
    assert (listing.truncated, listing.cap) == (True, "http.max_pages_per_listing")
    assert obs.count("truncated", "desktops_detail", "http.max_pages_per_listing") == 1


@pytest.mark.parametrize("levels", [100, 100_000])
def test_deep_json_is_an_invalid_response(upstream: HostileUpstream, levels: int) -> None:
    obs = Observer()
    client = client_for(settings(upstream.url), obs)
    upstream.mode = "deep_json"
    upstream.deep_levels = levels
    try:
        err, _ = _fail(client)
    finally:
        client.close()
    assert isinstance(err, InvalidResponseError)
    assert "nested" in str(err)
    assert obs.count("invalid", "desktops_detail") == 1


# ---------------------------------------------------------------------------- secrets


def test_an_upstream_echo_of_signed_headers_never_reaches_an_error_or_log(
    upstream: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(settings(upstream.url))
    upstream.mode = "echo_secrets"
    try:
        err, _ = _fail(client)
    finally:
        client.close()
    assert isinstance(err, AuthError) and err.status == 401 and err.request_id == "req-echo"
    logging.getLogger("test").error("upstream failed: %s", err)
    assert_no_secret(str(err), repr(err), err.error_msg, *formatted(caplog))
    assert "***" in err.error_msg


def test_an_iam_echo_of_the_password_never_reaches_an_error_or_log(
    upstream: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(settings(upstream.url, method="token"))
    upstream.mode = "echo_secrets"
    try:
        err, _ = _fail(client)
    finally:
        client.close()
    assert isinstance(err, AuthError) and err.api == "iam_tokens" and err.status == 400
    logging.getLogger("test").error("upstream failed: %s", err)
    sent = upstream.requests[0][3].decode()
    assert json.dumps(PASSWORD)[1:-1] in sent  # the echo really carried the escaped password
    assert_no_secret(str(err), repr(err), err.error_msg, *formatted(caplog))


def test_a_token_echo_after_login_never_reaches_an_error_or_log(
    upstream: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(settings(upstream.url, method="token"))
    try:
        list_desktops(client)  # obtains the token
        upstream.mode = "echo_secrets"
        with pytest.raises(AuthError) as info:
            client.request("desktops_detail", params={"offset": 0, "limit": 1})
    finally:
        client.close()
    logging.getLogger("test").error("upstream failed: %s", info.value)
    assert_no_secret(str(info.value), info.value.error_msg, *formatted(caplog))


@pytest.mark.parametrize(("field", "name"), [("security_token", "security token"), ("ak", "access key")])
def test_a_newline_in_a_credential_names_the_credential_never_its_value(
    upstream: HostileUpstream, caplog: pytest.LogCaptureFixture, field: str, name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    s = settings(upstream.url)
    creds = Credentials(method="aksk", ak=AK, sk=Secret(SK), security_token=Secret(SECURITY_TOKEN))
    if field == "ak":
        creds = dataclasses.replace(creds, ak=AK + "\n")
    else:
        creds = dataclasses.replace(creds, security_token=Secret(SECURITY_TOKEN + "\n"))
    client = client_for(dataclasses.replace(s, credentials=creds))
    try:
        err, _ = _fail(client)
    finally:
        client.close()
    assert isinstance(err, AuthError)
    assert name in str(err) and "trailing newline" in str(err)
    assert err.__context__ is None and err.__cause__ is None
    logging.getLogger("test").error("upstream failed: %s", err)
    assert_no_secret(str(err), repr(err), *formatted(caplog))


# ---------------------------------------------------------------------------- whole exporter


def _exporter(s: Settings) -> tuple[MultiExporter, HTTPServer]:
    multi = MultiExporter([fast(s)])
    server = HTTPServer("127.0.0.1", 0, make_app(multi.exposition, multi.ready, multi.reload, None))
    multi.start()
    server.start()
    return multi, server


def _invalid(server: HTTPServer) -> float:
    text = requests.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('huaweicloud_workspace_api_invalid_responses_total{api="desktops_detail"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_exporter_counts_a_bomb_logs_once_and_stays_up(
    upstream: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    upstream.mode = "gzip_bomb"
    multi, server = _exporter(settings(upstream.url, method="token"))
    try:
        failed = lambda: any("source=inventory" in r.getMessage() for r in caplog.records)  # noqa: E731
        wait_for(lambda: _invalid(server) >= 3 and failed(), timeout=30)
        assert requests.get(server.url + "/-/healthy", timeout=10).status_code == 200
    finally:
        server.stop()
        multi.stop()
    lines = [r.getMessage() for r in caplog.records if "http.max_body_bytes" in r.getMessage()]
    inventory = [line for line in lines if "source=inventory" in line]
    assert len(inventory) == 1, lines  # one line per state change, not one per refresh
    assert_no_secret(*formatted(caplog))


def test_the_exporter_stops_within_ten_seconds_while_the_upstream_drips(upstream: HostileUpstream) -> None:
    upstream.mode = "drip"
    multi, server = _exporter(settings(upstream.url, call_deadline="600s"))
    try:
        wait_for(lambda: upstream.calls("/v2/"), timeout=10)
    finally:
        server.stop()
        started = time.monotonic()
        multi.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 10


@pytest.mark.parametrize("mode", ["surrogate", "big_int"])
def test_poisoned_values_leave_a_valid_exposition(upstream: HostileUpstream, mode: str) -> None:
    upstream.mode = mode
    multi, server = _exporter(settings(upstream.url))
    try:
        wait_for(lambda: upstream.calls("/v2/") >= 2, timeout=20)
        # The exposition is rendered in the background: wait for the desktops to reach it.
        wait_for(
            lambda: (
                "huaweicloud_workspace_desktop_info{"
                in requests.get(server.url + "/metrics", timeout=10).text
            ),
            timeout=20,
        )
        resp = requests.get(server.url + "/metrics", timeout=10)
    finally:
        server.stop()
        multi.stop()
    assert resp.status_code == 200
    assert "huaweicloud_workspace_up" in resp.text
    if mode == "surrogate":  # replaced where it is parsed, so the desktop is still exported
        assert 'computer_name="pc\ufffdx"' in resp.text


def test_an_untrusted_certificate_names_the_cause_and_the_key_that_fixes_it(tmp_path: Path) -> None:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    with HostileUpstream("ok", tls=(str(crt), str(key)), max_seconds=30) as up:
        client = client_for(settings(up.url))
        try:
            err, _ = _fail(client)
        finally:
            client.close()
        assert isinstance(err, UpstreamUnavailableError)
        host = up.url.removeprefix("https://")
        assert str(err) == (
            f"api=desktops_detail host={host} cause='tls verification failed "
            "(trust its CA with http.ca_file, or set http.tls_verify: false)'"
        )
        trusted = client_for(settings(up.url, ca_file=str(crt)))
        try:
            assert len(list_desktops(trusted)) == 2
        finally:
            trusted.close()


def test_a_drip_the_timer_cannot_cut_still_ends_at_the_deadline(
    upstream: HostileUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As through a proxy, whose connections the transport does not track: only the
    # per-chunk check can end the exchange.
    monkeypatch.setattr(Tracker, "cut", lambda self, ident: None)
    client = client_for(settings(upstream.url, call_deadline="2s"))
    upstream.mode = "drip"
    upstream.drip_interval = 0.2
    try:
        err, elapsed = _fail(client)
    finally:
        client.close()
    assert "total deadline of 2s exceeded (http.call_deadline)" in str(err)
    assert elapsed < 15
