"""Our credential chain against the SDK's own providers: same environment, same credentials.

For each mode the official ``huaweicloudsdkcore`` provider (the referee) and the exporter
read the same variables and files; where they fetch temporary credentials, both ask the
fake on 127.0.0.1 (``HUAWEICLOUD_SDK_STS_ENDPOINT``, ``HUAWEICLOUD_SDK_IAM_ENDPOINT``, the
pod identity URI; the SDK's metadata address, which no variable sets, is patched to the
fake), which hands every caller of a provider the same credential, so the two must agree
key for key. For OIDC and IdP federation the SDK fetches while signing a real call, so the
fake also verifies the SDK's signature made with the temporary keys. No test reaches
169.254.169.254: the patch is in place before any SDK provider runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.auth.internal import MetadataAccessor
from huaweicloudsdkcore.auth.provider import (
    CredentialProviderChain,
    EnvCredentialProvider,
    MetadataCredentialProvider,
    OidcStsCredentialProvider,
    PodIdentityCredentialProvider,
    ProfileCredentialProvider,
)
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkworkspace.v2 import ListDesktopsDetailRequest
from huaweicloudsdkworkspace.v2 import WorkspaceClient as SdkWorkspaceClient

from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake import identity_routes as routes
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from tests.desktops import list_desktops


@pytest.fixture
def fake() -> Iterator[tuple[FakeWorkspace, str]]:
    state = FakeWorkspace(2, now=time.time)  # the SDK signs and checks expiry on the wall clock
    state.identity(temporary_fixed=True)
    server = FakeServer(state)
    try:
        yield state, server.start()
    finally:
        server.stop()
    assert server.errors == []


@pytest.fixture(autouse=True)
def sdk_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: tuple[FakeWorkspace, str]) -> None:
    """Only the variables a test sets; HOME without ~/.huaweicloud; SDK metadata at the fake."""
    for name in list(os.environ):
        if name.startswith(("HUAWEICLOUD_", "HC_CONTAINER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(MetadataAccessor, "_METADATA_ENDPOINT", fake[1])
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", fake[0].project_id)


def ours(fake: tuple[FakeWorkspace, str]) -> Settings:
    state, url = fake
    raw: dict[str, Any] = {
        "region": state.region,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "auth": {"metadata_url": url},
    }
    return parse_config(raw, dict(os.environ))


def our_keys(settings: Settings) -> tuple[str, str, str]:
    """The keys our client signs with after one call (temporary ones are fetched then)."""
    clock = FakeClock(start=time.time())
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)
    try:
        list_desktops(client)
        auth: Any = client._attempts.auth
        keys = auth._source.keys()
    finally:
        client.close()
    return keys.ak, keys.sk.reveal(), keys.security_token.reveal()


def sdk_keys(credentials: Any, url: str) -> tuple[str, str, str]:
    """The keys the SDK signs with after one call through its own client and http stack."""
    if not credentials.project_id:  # the metadata and pod identity providers set none
        credentials.with_project_id(os.environ["HUAWEICLOUD_SDK_PROJECT_ID"])
    config = HttpConfig.get_default_config()
    config.timeout = (10, 10)
    client = SdkWorkspaceClient.new_builder().with_credentials(credentials).with_endpoints([url])
    client.with_http_config(config).build().list_desktops_detail(ListDesktopsDetailRequest())
    return credentials.ak, credentials.sk, credentials.security_token or ""


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_environment_keys(fake: tuple[FakeWorkspace, str], monkeypatch: pytest.MonkeyPatch) -> None:
    state, url = fake
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", state.ak)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", state.sk)
    sdk = EnvCredentialProvider.get_basic().get_credentials()
    settings = ours(fake)
    assert settings.credentials.method == "aksk"
    assert our_keys(settings) == sdk_keys(sdk, url) == (state.ak, state.sk, "")


def test_the_profile_file(
    fake: tuple[FakeWorkspace, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = fake
    text = f"[basic]\nak = {state.ak}\nsk = {state.sk}\nproject_id = {state.project_id}\n"
    monkeypatch.setenv("HUAWEICLOUD_SDK_CREDENTIALS_FILE", write(tmp_path / "creds.ini", text))
    monkeypatch.delenv("HUAWEICLOUD_SDK_PROJECT_ID")
    sdk = ProfileCredentialProvider.get_basic().get_credentials()
    settings = ours(fake)
    assert (settings.credentials.method, settings.config.project_id) == ("profile", sdk.project_id)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", state.project_id)  # for sdk_keys only
    assert our_keys(settings) == sdk_keys(sdk, url)


def test_ecs_metadata(fake: tuple[FakeWorkspace, str]) -> None:
    _, url = fake
    sdk = MetadataCredentialProvider.get_basic().get_credentials()
    settings = ours(fake)
    assert settings.credentials.method == "metadata"
    assert our_keys(settings) == sdk_keys(sdk, url)
    assert sdk.ak.startswith("FAKETMP") and sdk.security_token


def test_cce_pod_identity(
    fake: tuple[FakeWorkspace, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = fake
    monkeypatch.setenv("HC_CONTAINER_CREDENTIALS_FULL_URI", url + routes.POD_IDENTITY_PATH)
    monkeypatch.setenv(
        "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", write(tmp_path / "pod", state.pod_identity_token)
    )
    sdk = PodIdentityCredentialProvider.get_basic().get_credentials()
    settings = parse_config(
        {"region": state.region, "endpoints": {"workspace": url}, "auth": {"method": "pod_identity"}},
        dict(os.environ),
    )
    assert our_keys(settings) == sdk_keys(sdk, url)


def test_oidc_sts(fake: tuple[FakeWorkspace, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state, url = fake
    monkeypatch.setenv("HUAWEICLOUD_OIDC_PROVIDER_URN", state.oidc_provider_urn)
    monkeypatch.setenv("HUAWEICLOUD_OIDC_AGENCY_URN", state.oidc_agency_urn)
    monkeypatch.setenv("HUAWEICLOUD_OIDC_TOKEN_FILE", write(tmp_path / "oidc", state.oidc_id_token))
    monkeypatch.setenv("HUAWEICLOUD_SDK_STS_ENDPOINT", url)
    sdk = OidcStsCredentialProvider.get_basic().get_credentials()
    settings = ours(fake)
    assert settings.credentials.method == "oidc"
    assert sdk_keys(sdk, url) == our_keys(settings)
    assert state.temporary_issued == {"oidc": 1}  # fixed: both were handed the same credential


def test_idp_federation(
    fake: tuple[FakeWorkspace, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = fake
    monkeypatch.setenv("HUAWEICLOUD_SDK_IDP_ID", state.idp_id)
    monkeypatch.setenv("HUAWEICLOUD_SDK_ID_TOKEN_FILE", write(tmp_path / "idp", state.idp_id_token))
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", url)
    sdk = EnvCredentialProvider.get_basic().get_credentials()
    settings = ours(fake)
    assert settings.credentials.method == "idp"
    assert sdk_keys(sdk, url) == our_keys(settings)


CHAIN_CASES = {
    "oidc_before_the_environment": ({"oidc", "env"}, "oidc"),
    "environment_before_the_profile": ({"env", "profile"}, "aksk"),
    "profile_before_metadata": ({"profile"}, "profile"),
    "metadata_when_nothing_is_set": (set(), "metadata"),
}


@pytest.mark.parametrize("case", sorted(CHAIN_CASES))
def test_the_chain_picks_the_step_the_sdk_picks(
    case: str, fake: tuple[FakeWorkspace, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = fake
    steps, expected = CHAIN_CASES[case]
    if "oidc" in steps:
        monkeypatch.setenv("HUAWEICLOUD_OIDC_PROVIDER_URN", state.oidc_provider_urn)
        monkeypatch.setenv("HUAWEICLOUD_OIDC_AGENCY_URN", state.oidc_agency_urn)
        monkeypatch.setenv("HUAWEICLOUD_OIDC_ID_TOKEN", state.oidc_id_token)
        monkeypatch.setenv("HUAWEICLOUD_SDK_STS_ENDPOINT", url)
    if "env" in steps:
        monkeypatch.setenv("HUAWEICLOUD_SDK_AK", state.ak)
        monkeypatch.setenv("HUAWEICLOUD_SDK_SK", state.sk)
    if "profile" in steps:
        (tmp_path / ".huaweicloud").mkdir()
        write(tmp_path / ".huaweicloud" / "credentials", f"[basic]\nak = {state.ak}\nsk = {state.sk}\n")
    sdk = CredentialProviderChain.get_basic_credential_provider_chain().get_credentials()
    assert isinstance(sdk, BasicCredentials)
    settings = ours(fake)
    assert settings.credentials.method == expected
    assert sdk_keys(sdk, url) == our_keys(settings)
