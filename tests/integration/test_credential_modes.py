"""Every credential mode against the fake on 127.0.0.1: the client signs with what the mode gives,
temporary credentials are refreshed before they expire, and nothing leaves loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.errors import AuthBreakerOpenError, AuthError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake import identity_routes as routes
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from tests.desktops import list_desktops


@dataclass
class Env:
    state: FakeWorkspace
    url: str
    clock: FakeClock
    home: Path

    def settings(self, env: dict[str, str], **auth: Any) -> Settings:
        raw: dict[str, Any] = {
            "region": self.state.region,
            "project_id": self.state.project_id,
            "endpoints": {"workspace": self.url, "iam": self.url, "ces": self.url, "sts": self.url},
            "auth": {"metadata_url": self.url, **auth},
        }
        return parse_config(raw, {"HOME": str(self.home), **env})

    def client(self, settings: Settings) -> WorkspaceClient:
        return WorkspaceClient(settings, Budget(settings.config.budget, self.clock), clock=self.clock)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FakeClock(start=time.time())
    state = FakeWorkspace(3, now=clock.time)
    server = FakeServer(state)
    url = server.start()
    try:
        yield Env(state, url, clock, tmp_path)
    finally:
        server.stop()
    assert server.errors == []


def listing_works(env: Env, settings: Settings) -> WorkspaceClient:
    client = env.client(settings)
    assert len(list_desktops(client)) == 3
    return client


def token_file(env: Env, name: str, value: str) -> str:
    path = env.home / name
    path.write_text(value + "\n")
    return str(path)


def test_aksk_from_the_sdk_variables(env: Env) -> None:
    settings = env.settings({"HUAWEICLOUD_SDK_AK": env.state.ak, "HUAWEICLOUD_SDK_SK": env.state.sk})
    assert settings.credentials.method == "aksk"
    listing_works(env, settings).close()


def test_the_profile_file(env: Env) -> None:
    path = env.home / ".huaweicloud" / "credentials"
    path.parent.mkdir()
    path.write_text(f"[basic]\nak = {env.state.ak}\nsk = {env.state.sk}\n")
    settings = env.settings({})
    assert settings.credentials.method == "profile"
    listing_works(env, settings).close()


def test_ecs_metadata_agency_keys_are_refreshed_before_they_expire(env: Env) -> None:
    settings = env.settings({})
    assert settings.credentials.method == "metadata"  # the chain, with nothing else set
    client = listing_works(env, settings)
    try:
        assert env.state.temporary_issued == {"metadata": 1}
        env.clock.advance(1801)  # an hour's keys: refreshed at half their life, no restart
        assert len(list_desktops(client)) == 3
        assert env.state.temporary_issued == {"metadata": 2}
        assert client.auth_status()[1].mode == "metadata"
        assert client.auth_status()[1].expires_at == pytest.approx(env.clock.time() + 3600, abs=5)
    finally:
        client.close()


def test_keys_that_expired_early_are_fetched_again_once(env: Env) -> None:
    client = listing_works(env, env.settings({}, method="metadata"))
    try:
        env.state.expire_temporary()
        assert len(list_desktops(client)) == 3
        assert env.state.temporary_issued == {"metadata": 2}
        assert not client.auth_gate.state().open
    finally:
        client.close()


def test_an_ecs_without_an_agency_opens_the_breaker_naming_the_provider(env: Env) -> None:
    env.state.identity(metadata_agency=False)
    client = env.client(env.settings({}, method="metadata"))
    try:
        with pytest.raises(AuthError) as info:
            list_desktops(client)
        assert info.value.status == 404 and routes.AGENCY_MISSING in info.value.error_msg
        with pytest.raises(AuthBreakerOpenError):
            list_desktops(client)
        assert client.auth_status()[0].credential == f"ECS metadata {env.url} (agency)"
    finally:
        client.close()


def test_a_metadata_service_without_the_token_api_is_asked_without_one(env: Env) -> None:
    env.state.identity(metadata_token_api=False)
    listing_works(env, env.settings({}, method="metadata")).close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def pod_env(env: Env) -> dict[str, str]:
    return {
        "HC_CONTAINER_CREDENTIALS_FULL_URI": env.url + routes.POD_IDENTITY_PATH,
        "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE": token_file(env, "pod-token", env.state.pod_identity_token),
    }


def test_cce_pod_identity(env: Env) -> None:
    settings = env.settings(pod_env(env), method="pod_identity")
    client = listing_works(env, settings)
    client.close()
    assert env.state.temporary_issued == {"pod_identity": 1}


def test_the_chain_asks_pod_identity_when_metadata_does_not_answer(env: Env) -> None:
    settings = env.settings(pod_env(env), metadata_url=closed_port_url())
    assert (settings.credentials.method, settings.credentials.pod_fallback) == ("metadata", True)
    client = listing_works(env, settings)
    try:
        assert client.auth_status()[1].mode == "pod_identity"
        env.clock.advance(1801)
        list_desktops(client)
        assert env.state.temporary_issued == {"pod_identity": 2}  # metadata is not asked again
    finally:
        client.close()


def oidc_env(env: Env, **changes: str) -> dict[str, str]:
    found = {
        "HUAWEICLOUD_OIDC_PROVIDER_URN": env.state.oidc_provider_urn,
        "HUAWEICLOUD_OIDC_AGENCY_URN": env.state.oidc_agency_urn,
        "HUAWEICLOUD_OIDC_TOKEN_FILE": token_file(env, "oidc-token", env.state.oidc_id_token),
        "HUAWEICLOUD_SDK_AK": "AKIGNOREDBYCHAIN",
        "HUAWEICLOUD_SDK_SK": "sk-ignored-by-the-chain",
    }
    return {**found, **changes}


def test_oidc_sts_comes_first_and_reads_the_rotated_id_token(env: Env) -> None:
    settings = env.settings(oidc_env(env))
    assert settings.credentials.method == "oidc"
    client = listing_works(env, settings)
    try:
        # The service-account token is rotated in place; the next exchange must send the new one.
        env.state.identity(oidc_id_token="rotated.oidc.token")
        token_file(env, "oidc-token", "rotated.oidc.token")
        env.clock.advance(1801)
        assert len(list_desktops(client)) == 3
        assert env.state.temporary_issued == {"oidc": 2}
    finally:
        client.close()


def test_idp_federation_from_the_environment(env: Env) -> None:
    idp = {
        "HUAWEICLOUD_SDK_IDP_ID": env.state.idp_id,
        "HUAWEICLOUD_SDK_ID_TOKEN_FILE": token_file(env, "idp-token", env.state.idp_id_token),
    }
    settings = env.settings(idp)
    assert settings.credentials.method == "idp"
    listing_works(env, settings).close()
    assert env.state.temporary_issued == {"idp": 1}


def test_no_secret_of_a_temporary_credential_reaches_an_error(env: Env) -> None:
    client = listing_works(env, env.settings({}, method="metadata"))
    try:
        issued = env.state.temporary_credentials()
        temp = next(iter(issued.values()))
        env.state.identity(metadata_agency=False)
        env.state.expire_temporary()
        with pytest.raises(AuthError) as info:
            list_desktops(client)
        text = str(info.value) + repr(info.value)
        assert temp.secret not in text and temp.security_token not in text
    finally:
        client.close()
