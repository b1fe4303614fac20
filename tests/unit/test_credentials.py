"""Which credentials a config and an environment give: the SDK's chain, pinned methods, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.settings import parse_config
from exporter.errors import ConfigError
from exporter.secret import scrub

REGION = {"region": "ap-southeast-1", "project_id": "p"}
AKSK = {"HUAWEICLOUD_SDK_AK": "AKCHAIN0001", "HUAWEICLOUD_SDK_SK": "sk-chain-secret"}
OIDC = {
    "HUAWEICLOUD_OIDC_PROVIDER_URN": "iam::1:identity-provider:github",
    "HUAWEICLOUD_OIDC_AGENCY_URN": "iam::1:agency:exporter",
    "HUAWEICLOUD_OIDC_ID_TOKEN": "eyJ.oidc.token-value",
}
POD = {
    "HC_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds",
    "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/t",
}


def profile(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "credentials"
    path.write_text(text)
    return {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}


PROFILE = "[basic]\nak = AKPROFILE01\nsk = sk-profile-secret\nproject_id = proj-from-profile\n"


def creds(env: dict[str, str], **auth: object):  # type: ignore[no-untyped-def]
    raw = {**REGION, **({"auth": auth} if auth else {})}
    return parse_config(raw, env).credentials


def test_oidc_comes_first_in_the_chain(tmp_path: Path) -> None:
    c = creds({**OIDC, **AKSK, **profile(tmp_path, PROFILE)})
    assert (c.method, c.chain) == ("oidc", True)
    assert c.oidc is not None and c.oidc.agency_urn == "iam::1:agency:exporter"
    assert c.oidc.session_name == "oidc-sts-session" and c.oidc.duration_seconds == 3600
    assert "eyJ.oidc.token-value" not in repr(c) and "eyJ.oidc.token-value" not in c.origin


def test_the_environment_comes_before_the_profile_file(tmp_path: Path) -> None:
    c = creds({**AKSK, **profile(tmp_path, PROFILE)})
    assert (c.method, c.ak, c.origin) == ("aksk", "AKCHAIN0001", "HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK")
    assert c.skipped == (
        "OIDC: not set: HUAWEICLOUD_OIDC_PROVIDER_URN, HUAWEICLOUD_OIDC_AGENCY_URN, "
        "HUAWEICLOUD_OIDC_ID_TOKEN or HUAWEICLOUD_OIDC_TOKEN_FILE",
    )


def test_a_partly_set_oidc_is_passed_over_as_the_sdk_does() -> None:
    env = {**AKSK, "HUAWEICLOUD_OIDC_PROVIDER_URN": "iam::1:identity-provider:x"}
    c = creds(env)
    assert c.method == "aksk"
    assert "HUAWEICLOUD_OIDC_AGENCY_URN" in c.skipped[0]


def test_the_profile_file_gives_keys_and_the_project(tmp_path: Path) -> None:
    settings = parse_config({"region": "ap-southeast-1"}, profile(tmp_path, PROFILE))
    c = settings.credentials
    assert (c.method, c.ak, c.sk.reveal()) == ("profile", "AKPROFILE01", "sk-profile-secret")
    assert settings.config.project_id == "proj-from-profile"
    assert c.profile_path == str(tmp_path / "credentials")
    assert scrub("sk-profile-secret") == "***"


def test_the_default_profile_file_is_under_home(tmp_path: Path) -> None:
    (tmp_path / ".huaweicloud").mkdir()
    (tmp_path / ".huaweicloud" / "credentials").write_text(PROFILE)
    assert creds({"HOME": str(tmp_path)}).method == "profile"


def test_with_nothing_set_the_chain_asks_ecs_metadata_then_pod_identity(tmp_path: Path) -> None:
    c = creds({"HOME": str(tmp_path)})
    assert (c.method, c.metadata_url, c.pod_fallback) == ("metadata", "http://169.254.169.254", False)
    assert [s.split(":")[0] for s in c.skipped] == ["OIDC", "environment", "profile"]
    c = creds({"HOME": str(tmp_path), **POD}, metadata_url="http://127.0.0.1:9")
    assert (c.method, c.metadata_url, c.pod_fallback) == ("metadata", "http://127.0.0.1:9", True)
    assert c.pod_uri == "http://127.0.0.1:9/creds"


def test_the_idp_variables_are_the_environment_step() -> None:
    c = creds({**AKSK, "HUAWEICLOUD_SDK_IDP_ID": "idp-1", "HUAWEICLOUD_SDK_ID_TOKEN_FILE": "/var/run/token"})
    assert (c.method, c.idp_id, c.id_token_file) == ("idp", "idp-1", "/var/run/token")


def test_naming_a_key_file_or_variable_pins_aksk_as_before(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        creds({**OIDC}, ak_env="MY_AK", sk_env="MY_SK")
    assert "auth: no access key: set MY_AK or auth.ak_file" in info.value.problems
    (tmp_path / "ak").write_text("AKFILE0001\n")
    (tmp_path / "sk").write_text("sk-file\n")
    c = creds({**OIDC}, ak_file=str(tmp_path / "ak"), sk_file=str(tmp_path / "sk"))
    assert (c.method, c.ak, c.ak_file) == ("aksk", "AKFILE0001", str(tmp_path / "ak"))


def test_an_access_key_without_its_secret_key_is_an_error_not_a_fall_through() -> None:
    with pytest.raises(ConfigError) as info:
        creds({"HUAWEICLOUD_SDK_AK": "AKONLY"})
    assert info.value.problems == [
        "auth: HUAWEICLOUD_SDK_AK is set but HUAWEICLOUD_SDK_SK is not; set both (or neither)"
    ]


@pytest.mark.parametrize(
    ("method", "env", "problem"),
    [
        ("oidc", {}, "auth.method oidc: not set: HUAWEICLOUD_OIDC_PROVIDER_URN"),
        ("idp", {}, "auth.method idp: set both HUAWEICLOUD_SDK_IDP_ID and HUAWEICLOUD_SDK_ID_TOKEN_FILE"),
        ("pod_identity", {}, "auth.method pod_identity: not set: HC_CONTAINER_CREDENTIALS_FULL_URI"),
        ("profile", {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": "/nonexistent/credentials"}, "cannot be read"),
    ],
)
def test_a_pinned_method_without_its_settings_names_what_to_set(
    method: str, env: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        creds(env, method=method)
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_pinned_methods_ignore_the_other_steps(tmp_path: Path) -> None:
    assert creds({**AKSK, **OIDC}, method="metadata").method == "metadata"
    assert creds({**AKSK, **POD}, method="pod_identity").method == "pod_identity"
    assert creds({**OIDC, **profile(tmp_path, PROFILE)}, method="profile").method == "profile"
    assert creds({**OIDC, **AKSK}, method="aksk").method == "aksk"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ak = x\n", "not an INI file"),
        ("[other]\nak = A\nsk = B\n", "has no [basic] section"),
        ("[basic]\nak = AKONLY\n", "needs ak and sk, or idp_id and id_token_file"),
        ("[basic]\nak = AK\nsk = s\u00e9cret-value\n", "sk holds a character an HTTP header cannot carry"),
    ],
)
def test_an_unusable_profile_names_the_file_and_never_the_value(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        creds(profile(tmp_path, text))
    assert len(info.value.problems) == 1
    assert problem in info.value.problems[0]
    assert "s\u00e9cret" not in info.value.problems[0]


def test_the_profile_idp_variant_is_federation(tmp_path: Path) -> None:
    c = creds(profile(tmp_path, "[basic]\nidp_id = idp-9\nid_token_file = /run/token\n"))
    assert (c.method, c.idp_id, c.temporary) == ("profile", "idp-9", True)


@pytest.mark.parametrize(("value", "ok"), [("900", True), ("43200", True), ("899", False), ("1h", False)])
def test_the_oidc_duration_is_checked(value: str, ok: bool) -> None:
    env = {**OIDC, "HUAWEICLOUD_OIDC_DURATION_SECONDS": value}
    if ok:
        assert creds(env).oidc.duration_seconds == int(value)  # type: ignore[union-attr]
    else:
        with pytest.raises(ConfigError, match="HUAWEICLOUD_OIDC_DURATION_SECONDS"):
            creds(env)


def test_the_oidc_token_file_is_kept_to_be_read_at_each_exchange() -> None:
    env = {**OIDC, "HUAWEICLOUD_OIDC_ID_TOKEN": "", "HUAWEICLOUD_OIDC_TOKEN_FILE": "/var/run/oidc/token"}
    c = creds(env)
    assert c.oidc is not None and c.oidc.id_token_file == "/var/run/oidc/token" and not c.oidc.id_token


def test_a_bad_metadata_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"auth\.metadata_url: must be an http"):
        creds({}, metadata_url="169.254.169.254")
