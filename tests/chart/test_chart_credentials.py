"""The chart's values for each credential mode: what reaches the pod, and what the exporter makes
of it (the rendered config and the pod's environment, loaded the way the exporter loads them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.config.settings import parse_config
from tests.chart.test_chart import (
    CHART_DIR,
    Render,
    container,
    env_by_name,
    exporter_config,
    find,
    helm,
    load_values,
    one,
    render_chart,
    render_notes,
)

pytestmark = pytest.mark.chart

TOKEN = "/var/run/secrets/huaweicloud/token"


@pytest.fixture(scope="module")
def loaded() -> Iterator[Any]:
    with helm.Chart.load(CHART_DIR) as chart:
        yield chart


@pytest.fixture
def render(loaded: Any) -> Render:
    return lambda values=None: render_chart(loaded, values)


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def plain_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {name: item["value"] for name, item in env_by_name(objects).items() if "value" in item}


def mounts(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}


def volume(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == name]
    return found


def metadata_egress(objects: list[dict[str, Any]]) -> bool:
    rules = one(objects, "NetworkPolicy")["spec"]["egress"]
    return any(
        peer.get("ipBlock", {}).get("cidr") == "169.254.169.254/32" for r in rules for peer in r.get("to", [])
    )


def test_oidc_projects_the_token_and_sets_the_sdk_variables(render: Render) -> None:
    objects = render(load_values("oidc-values.yaml"))
    assert find(objects, "Secret") == []
    env = plain_env(objects)
    assert env == {
        "HUAWEICLOUD_OIDC_PROVIDER_URN": "iam::0123456789:identity-provider:cce-cluster",
        "HUAWEICLOUD_OIDC_AGENCY_URN": "iam::0123456789:agency:workspace-exporter",
        "HUAWEICLOUD_OIDC_TOKEN_FILE": TOKEN,
        "HUAWEICLOUD_OIDC_DURATION_SECONDS": "7200",
        "HUAWEICLOUD_OIDC_SESSION_NAME": "workspace-exporter",
    }
    projected = volume(objects, "huaweicloud-token")["projected"]["sources"][0]["serviceAccountToken"]
    assert projected == {"path": "token", "audience": "workspace-exporter", "expirationSeconds": 3600}
    assert mounts(objects)["huaweicloud-token"] == str(Path(TOKEN).parent)
    assert not metadata_egress(objects)  # the chain stops at OIDC
    settings = parse_config(exporter_config(objects), env)
    assert (settings.credentials.method, settings.credentials.oidc.id_token_file) == ("oidc", TOKEN)  # type: ignore[union-attr]


def test_idp_projects_the_token_for_federation(render: Render) -> None:
    values = {
        "config": {"region": "ap-southeast-1"},
        "idp": {"enabled": True, "idpId": "cce", "audience": "iam"},
    }
    objects = render(values)
    env = plain_env(objects)
    assert env == {"HUAWEICLOUD_SDK_IDP_ID": "cce", "HUAWEICLOUD_SDK_ID_TOKEN_FILE": TOKEN}
    assert parse_config(exporter_config(objects), env).credentials.method == "idp"


def test_with_no_credentials_the_chain_reaches_metadata_and_the_policy_lets_it(render: Render) -> None:
    objects = render(load_values("metadata-values.yaml"))
    assert "env" not in container(objects)
    assert metadata_egress(objects)
    assert parse_config(exporter_config(objects), {}).credentials.method == "metadata"
    with_secret = render({**load_values("metadata-values.yaml"), "existingSecret": {"name": "s"}})  # type: ignore[dict-item]
    assert not metadata_egress(with_secret)


def test_pod_identity_variables_reach_the_pod(render: Render) -> None:
    objects = render(load_values("pod-identity-values.yaml"))
    env = plain_env(objects)
    assert env == {
        "HC_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/v1/credentials",
        "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/run/secrets/cce/pod-identity/token",
    }
    assert parse_config(exporter_config(objects), env).credentials.method == "pod_identity"


def test_the_profile_file_is_mounted_and_named(render: Render, tmp_path: Path) -> None:
    objects = render(load_values("profile-values.yaml"))
    assert volume(objects, "profile")["secret"] == {"secretName": "workspace-profile"}
    assert mounts(objects)["profile"] == "/etc/workspace-exporter/profile"
    env = plain_env(objects)
    assert env == {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": "/etc/workspace-exporter/profile/credentials"}
    # What the exporter finds at that path, here a copy of what the Secret would hold:
    (tmp_path / "credentials").write_text("[basic]\nak = AKPROFILE\nsk = sk-profile-value\n")
    env["HUAWEICLOUD_SDK_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    assert parse_config(exporter_config(objects), env).credentials.method == "profile"


def test_a_secret_as_files_is_mounted_and_the_config_points_at_it(render: Render, tmp_path: Path) -> None:
    values = {
        "config": {"region": "ap-southeast-1"},
        "existingSecret": {"name": "workspace-credentials", "asFiles": True, "keys": {"accessKey": "ak"}},
    }
    objects = render(values)
    assert set(env_by_name(objects)) == set()  # no variable: a rotated key would not reach it
    assert volume(objects, "credentials")["secret"] == {"secretName": "workspace-credentials"}
    assert mounts(objects)["credentials"] == "/etc/workspace-exporter/secret"
    config = exporter_config(objects)
    assert config["auth"]["ak_file"] == "/etc/workspace-exporter/secret/ak"
    assert config["auth"]["sk_file"] == "/etc/workspace-exporter/secret/HUAWEICLOUD_SDK_SK"
    for name, value in (("ak", "AKFROMFILE"), ("HUAWEICLOUD_SDK_SK", "sk-from-file")):
        (tmp_path / name).write_text(value)
    for key in ("ak_file", "sk_file"):
        config["auth"][key] = config["auth"][key].replace("/etc/workspace-exporter/secret", str(tmp_path))
    credentials = parse_config(config, {}).credentials
    assert (credentials.method, credentials.ak_file) == ("aksk", str(tmp_path / "ak"))


def test_the_notes_name_the_credential_mode(loaded: Any) -> None:
    assert "Credentials: OIDC -> STS, agency iam::0123456789:agency:workspace-exporter" in render_notes(
        loaded, load_values("oidc-values.yaml")
    )
    notes = render_notes(loaded, {"existingSecret": {"name": "s", "asFiles": True}})
    assert "mounted as files" in notes


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"oidc": {"enabled": True, "providerUrn": "p"}}, "oidc.enabled: set oidc.providerUrn"),
        ({"idp": {"enabled": True, "idpId": "x"}}, "idp.enabled: set idp.idpId and idp.audience"),
        (
            {
                "oidc": {"enabled": True, "providerUrn": "p", "agencyUrn": "a", "audience": "x"},
                "idp": {"enabled": True, "idpId": "i", "audience": "x"},
            },
            "enable one of oidc and idp",
        ),
        ({"existingSecret": {"asFiles": True}}, "existingSecret.asFiles"),
        (
            {"existingSecret": {"name": "s", "asFiles": True}, "config": {"auth": {"method": "token"}}},
            "existingSecret.asFiles",
        ),
    ],
    ids=[
        "oidc-without-urns",
        "idp-without-audience",
        "oidc-and-idp",
        "files-without-secret",
        "files-with-token",
    ],
)
def test_incomplete_modes_fail_with_a_clear_message(
    render: Render, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"oidc": {"durationSeconds": 600}}, "durationSeconds"),
        ({"oidc": {"expirationSeconds": 60}}, "expirationSeconds"),
        ({"oidc": {"audiences": ["x"]}}, "audiences"),
        ({"profile": {"key": ""}}, "key"),
    ],
    ids=["duration-below-sts-minimum", "token-below-kubernetes-minimum", "unknown-key", "empty-profile-key"],
)
def test_the_schema_rejects_bad_credential_values(loaded: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=message):
        loaded.validate_schema(values)
