"""The fake's identity side: revoked and stale tokens, temporary credentials, lockouts, providers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake import identity_routes as routes
from exporter.upstream import identity as ours
from exporter.upstream.auth import CREDENTIAL_APIS


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> FakeWorkspace:
    return FakeWorkspace(2, now=clock)


@pytest.fixture
def url(state: FakeWorkspace) -> Iterator[str]:
    server = FakeServer(state)
    try:
        yield server.start()
    finally:
        server.stop()
    assert server.errors == []


def signed_get(
    url: str, state: FakeWorkspace, ak: str, sk: str, token: str | None = None
) -> requests.Response:
    """A desktops listing signed by the official SDK (with X-Security-Token when ``token``)."""
    path = f"/v2/{state.project_id}/desktops/detail"
    host = url.removeprefix("http://")
    request = SdkRequest(
        "GET", "http", host, path, query_params=[], header_params={"Content-Type": "application/json"}
    )
    credentials = BasicCredentials(ak, sk, state.project_id)
    if token is not None:
        credentials.with_security_token(token)
    signed = credentials.sign_request(request)
    return requests.get(url + path, headers=signed.header_params, timeout=10)


def body(resp: requests.Response) -> tuple[int, str, str]:
    doc = resp.json()
    return resp.status_code, doc.get("error_code", ""), doc.get("error_msg", "")


def test_the_fake_serves_the_paths_the_exporter_calls() -> None:
    assert CREDENTIAL_APIS - {"iam_tokens"} == routes.API_NAMES
    assert (routes.METADATA_TOKEN_PATH, routes.METADATA_KEY_PATH) == (
        ours.METADATA_TOKEN_PATH,
        ours.METADATA_KEY_PATH,
    )
    assert (routes.OIDC_PATH, routes.IDP_TOKEN_PATH, routes.SECURITY_TOKENS_PATH) == (
        ours.OIDC_PATH,
        ours.IDP_TOKEN_PATH,
        ours.SECURITY_TOKENS_PATH,
    )


# --------------------------------------------------------------------------- tokens


def login(url: str, state: FakeWorkspace, password: str | None = None) -> requests.Response:
    user = {
        "name": state.iam_user,
        "password": password or state.iam_password,
        "domain": {"name": state.iam_domain},
    }
    doc = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": state.project_id}},
        }
    }
    return requests.post(url + "/v3/auth/tokens", json=doc, timeout=10)


def with_token(url: str, state: FakeWorkspace, token: str) -> requests.Response:
    return requests.get(
        f"{url}/v2/{state.project_id}/desktops/detail", headers={"X-Auth-Token": token}, timeout=10
    )


@pytest.mark.parametrize(
    ("control", "code", "text"),
    [
        ("expire_tokens", "APIGW.0301", "token expires"),
        ("revoke_tokens", "APIGW.0301", "decrypt token fail"),
        ("require_token_update", "APIG.0307", "The token must be updated."),
    ],
)
def test_a_token_can_be_expired_revoked_or_made_stale_early(
    url: str, state: FakeWorkspace, control: str, code: str, text: str
) -> None:
    token = login(url, state).headers["X-Subject-Token"]
    assert with_token(url, state, token).status_code == 200
    getattr(state, control)()
    status, got_code, msg = body(with_token(url, state, token))
    assert (status, got_code) == (401, code)
    assert text in msg
    fresh = login(url, state).headers["X-Subject-Token"]
    assert with_token(url, state, fresh).status_code == 200
    assert [f.api for f in state.auth_failures()] == ["desktops_detail"]


def test_five_wrong_passwords_in_15_minutes_lock_the_user(
    url: str, state: FakeWorkspace, clock: Clock
) -> None:
    for _ in range(5):
        assert login(url, state, "wrong").status_code == 401
        clock.now += 60
    resp = login(url, state)  # the right password, but locked
    assert resp.status_code == 401 and "locked" in resp.text
    assert state.user_locked()
    clock.now += 901
    assert login(url, state).status_code == 201
    assert len(state.auth_failures("iam_tokens")) == 6


# --------------------------------------------------------------------------- signatures and lockout


def test_five_signature_failures_in_5_minutes_lock_the_ak(
    url: str, state: FakeWorkspace, clock: Clock
) -> None:
    for _ in range(5):
        assert body(signed_get(url, state, state.ak, "wrong-sk"))[2].endswith("verify aksk signature fail")
        clock.now += 30
    status, _, msg = body(signed_get(url, state, state.ak, state.sk))
    assert (status, msg) == (
        401,
        "Incorrect IAM authentication information: AK access failed to reach the limit, forbidden",
    )
    clock.now += 301
    assert signed_get(url, state, state.ak, state.sk).status_code == 200
    assert state.max_auth_failures_in(300) == 6


def test_failures_spread_over_more_than_5_minutes_do_not_lock(
    url: str, state: FakeWorkspace, clock: Clock
) -> None:
    for _ in range(8):
        signed_get(url, state, state.ak, "wrong-sk")
        clock.now += 76
    assert not state.ak_locked(state.ak)
    assert state.max_auth_failures_in(300) == 4


# --------------------------------------------------------------------------- temporary credentials


def test_temporary_credentials_sign_with_their_security_token_until_they_expire(
    url: str, state: FakeWorkspace, clock: Clock
) -> None:
    issued = state.issue_temporary("metadata")
    ak, sk, token = issued["access"], issued["secret"], issued["securitytoken"]
    assert signed_get(url, state, ak, sk, token).status_code == 200
    assert body(signed_get(url, state, ak, sk, token + "x"))[0] == 401
    assert body(signed_get(url, state, ak, sk))[0] == 401  # no X-Security-Token
    assert body(signed_get(url, state, state.ak, state.sk, token))[0] == 401  # permanent AK + token
    clock.now += 3601
    assert "signature expired" in body(signed_get(url, state, ak, sk, token))[2]


def test_metadata_needs_its_session_token_and_an_agency(url: str, state: FakeWorkspace) -> None:
    assert requests.get(url + routes.METADATA_KEY_PATH, timeout=10).status_code == 401
    token = requests.put(
        url + routes.METADATA_TOKEN_PATH, headers={"X-Metadata-Token-Ttl-Seconds": "60"}, timeout=10
    )
    assert token.status_code == 200
    got = requests.get(url + routes.METADATA_KEY_PATH, headers={"X-Metadata-Token": token.text}, timeout=10)
    assert set(got.json()["credential"]) == {"access", "secret", "securitytoken", "expires_at"}
    state.identity(metadata_agency=False)
    got = requests.get(url + routes.METADATA_KEY_PATH, headers={"X-Metadata-Token": token.text}, timeout=10)
    assert (got.status_code, got.text) == (404, routes.AGENCY_MISSING)
    state.identity(metadata_agency=True, metadata_token_api=False)
    assert requests.put(url + routes.METADATA_TOKEN_PATH, timeout=10).status_code == 404
    assert requests.get(url + routes.METADATA_KEY_PATH, timeout=10).status_code == 200


def test_pod_identity_wants_its_token_and_an_empty_body(url: str, state: FakeWorkspace) -> None:
    target = url + routes.POD_IDENTITY_PATH
    assert requests.post(target, json={}, headers={"Authorization": "nope"}, timeout=10).status_code == 401
    auth = {"Authorization": state.pod_identity_token}
    assert requests.post(target, json={"x": 1}, headers=auth, timeout=10).status_code == 400
    got = requests.post(target, json={}, headers=auth, timeout=10)
    assert got.status_code == 200 and got.json()["credential"]["access"].startswith("FAKETMP")
    assert [f.api for f in state.auth_failures()] == ["pod_identity"]


def oidc_body(state: FakeWorkspace, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "provider_urn": state.oidc_provider_urn,
        "agency_urn": state.oidc_agency_urn,
        "agency_session_name": "s",
        "id_token": state.oidc_id_token,
        "duration_seconds": 3600,
    }
    return {**doc, **changes}


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, 201),
        ({"id_token": "forged"}, 401),
        ({"agency_urn": "iam::1:agency:other"}, 403),
        ({"duration_seconds": 899}, 400),
        ({"duration_seconds": 43201}, 400),
    ],
)
def test_sts_exchanges_the_right_id_token_only(
    url: str, state: FakeWorkspace, changes: dict[str, Any], status: int
) -> None:
    got = requests.post(url + routes.OIDC_PATH, json=oidc_body(state, **changes), timeout=10)
    assert got.status_code == status
    if status == 201:
        assert set(got.json()["credentials"]) == {
            "access_key_id",
            "secret_access_key",
            "security_token",
            "expiration",
        }


def test_idp_federation_takes_two_steps(url: str, state: FakeWorkspace) -> None:
    doc = {"auth": {"id_token": {"id": state.idp_id_token}}}
    first = requests.post(
        url + routes.IDP_TOKEN_PATH, json=doc, headers={"X-Idp-Id": state.idp_id}, timeout=10
    )
    assert first.status_code == 201
    identity = {
        "methods": ["token"],
        "token": {"id": first.headers["X-Subject-Token"], "duration_seconds": 900},
    }
    second = requests.post(
        url + routes.SECURITY_TOKENS_PATH, json={"auth": {"identity": identity}}, timeout=10
    )
    assert second.status_code == 201 and "securitytoken" in second.json()["credential"]
    wrong = requests.post(url + routes.IDP_TOKEN_PATH, json=doc, headers={"X-Idp-Id": "other"}, timeout=10)
    assert wrong.status_code == 401


def test_the_control_plane_reaches_the_identity_side(url: str, state: FakeWorkspace) -> None:
    def post(name: str, doc: dict[str, Any]) -> requests.Response:
        return requests.post(f"{url}/_fake/{name}", data=json.dumps(doc), timeout=10)

    assert post("identity", {"temporary_ttl": 120}).status_code == 200
    assert state.temporary_ttl == 120.0
    assert post("identity", {"no_such": 1}).status_code == 400
    token = login(url, state).headers["X-Subject-Token"]
    assert post("revoke-tokens", {}).status_code == 200
    assert with_token(url, state, token).status_code == 401
    failures = requests.get(url + "/_fake/auth-failures", timeout=10).json()
    assert [f["api"] for f in failures] == ["desktops_detail"]
