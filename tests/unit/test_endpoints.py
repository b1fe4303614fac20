"""Endpoint resolution: the SDK's region tables, its environment variables and regions file."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.endpoints import (
    DEFAULT_STS,
    GLOBAL_IAM,
    Endpoints,
    region_env_name,
    resolve_endpoints,
    sdk_host,
    split_endpoints,
)
from exporter.config.settings import parse_config
from exporter.errors import ConfigError

ENV = {"HUAWEICLOUD_SDK_AK": "AKTEST", "HUAWEICLOUD_SDK_SK": "sk-secret"}


def resolve(region: str, env: dict[str, str], **configured: str) -> tuple[Endpoints, list[str]]:
    problems: list[str] = []
    return resolve_endpoints(region, configured, env, problems), problems


def test_iam_in_eu_west_101_is_the_european_host() -> None:
    settings = parse_config({"region": "eu-west-101"}, ENV)
    assert settings.config.endpoints.iam == "https://iam.eu-west-101.myhuaweicloud.eu"
    assert settings.config.endpoints.workspace == "https://workspace.eu-west-101.myhuaweicloud.com"


@pytest.mark.parametrize("region", ["af-north-1", "cn-north-11"])
def test_regions_without_regional_iam_use_the_global_iam(region: str) -> None:
    settings = parse_config({"region": region}, ENV)
    assert settings.config.endpoints.iam == GLOBAL_IAM
    assert settings.config.endpoints.workspace == f"https://workspace.{region}.myhuaweicloud.com"
    assert settings.config.endpoints.ces == f"https://ces.{region}.myhuaweicloud.com"


def test_a_region_no_table_knows_follows_the_documented_pattern() -> None:
    assert sdk_host("workspace", "na-mexico-1") == "https://workspace.na-mexico-1.myhuaweicloud.com"
    assert sdk_host("iam", "xx-nowhere-9") == GLOBAL_IAM


def test_the_region_variable_may_hold_a_comma_separated_list() -> None:
    env = {
        **ENV,
        "HUAWEICLOUD_SDK_REGION_WORKSPACE_AP_SOUTHEAST_1": "https://a.example.com, https://b.example.com/,,",
    }
    settings = parse_config({"region": "ap-southeast-1"}, env)
    assert settings.endpoints is not None
    assert settings.endpoints.workspace == ("https://a.example.com", "https://b.example.com")
    assert settings.config.endpoints.workspace == "https://a.example.com"
    assert settings.endpoints.origin["workspace"] == "HUAWEICLOUD_SDK_REGION_WORKSPACE_AP_SOUTHEAST_1"


def test_an_endpoint_without_a_scheme_gets_https_as_in_the_sdk_builder() -> None:
    env = {"HUAWEICLOUD_SDK_REGION_CES_CN_NORTH_4": "ces-proxy.internal:8443"}
    found, problems = resolve("cn-north-4", env)
    assert problems == []
    assert found.ces == ("https://ces-proxy.internal:8443",)


def test_the_config_key_wins_over_every_variable_and_must_name_its_scheme() -> None:
    env = {"HUAWEICLOUD_SDK_REGION_WORKSPACE_CN_NORTH_4": "https://env.example.com"}
    found, problems = resolve("cn-north-4", env, workspace="http://127.0.0.1:1,http://127.0.0.1:2")
    assert problems == []
    assert found.workspace == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    _, problems = resolve("cn-north-4", {}, workspace="workspace.example.com")
    assert problems == [
        "endpoints.workspace: must be an http:// or https:// URL (got 'workspace.example.com')"
    ]


def test_iam_endpoint_variable_wins_over_the_region_variable() -> None:
    env = {
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": "https://iam-a.example.com",
        region_env_name("iam", "cn-north-4"): "https://iam-b.example.com",
    }
    found, _ = resolve("cn-north-4", env)
    assert found.iam == ("https://iam-a.example.com",)
    del env["HUAWEICLOUD_SDK_IAM_ENDPOINT"]
    found, _ = resolve("cn-north-4", env)
    assert found.iam == ("https://iam-b.example.com",)


def test_a_bad_entry_in_a_variable_names_the_variable() -> None:
    name = region_env_name("workspace", "cn-north-4")
    with pytest.raises(ConfigError) as info:
        parse_config({"region": "cn-north-4"}, {**ENV, name: "https://ok.example.com,https://bad host"})
    assert info.value.problems == [f"{name}: must be an http:// or https:// URL (got 'https://bad host')"]


def test_a_list_longer_than_eight_is_refused() -> None:
    problems: list[str] = []
    split_endpoints(",".join(f"https://h{i}.example.com" for i in range(9)), "X", problems)
    assert problems == ["X: at most 8 comma-separated endpoints (got 9)"]


REGIONS_YAML = """
WORKSPACE:
  - id: cn-north-4
    endpoints:
      - https://ws-1.example.com
      - https://ws-2.example.com
    endpoint: https://ws-3.example.com
CES:
  - id: cn-north-4
    endpoint: ces.example.com
  - endpoint: https://skipped-without-id.example.com
iam:
  - id: cn-north-4
    endpoint: https://iam.example.com
"""


def test_the_regions_file_named_by_the_variable_gives_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(REGIONS_YAML)
    found, problems = resolve("cn-north-4", {"HUAWEICLOUD_SDK_REGIONS_FILE": str(path)})
    assert problems == []
    # As the SDK: the endpoints list first, then the single endpoint appended.
    assert found.workspace == (
        "https://ws-1.example.com",
        "https://ws-2.example.com",
        "https://ws-3.example.com",
    )
    assert found.ces == ("https://ces.example.com",)
    assert found.iam == ("https://iam.example.com",)
    assert found.origin["workspace"] == "regions file"


def test_the_default_regions_file_is_read_from_home(tmp_path: Path) -> None:
    (tmp_path / ".huaweicloud").mkdir()
    (tmp_path / ".huaweicloud" / "regions.yaml").write_text(REGIONS_YAML)
    found, problems = resolve("cn-north-4", {"HOME": str(tmp_path)})
    assert problems == []
    assert found.ces == ("https://ces.example.com",)
    other, _ = resolve("ap-southeast-1", {"HOME": str(tmp_path)})
    assert other.ces == ("https://ces.ap-southeast-1.myhuaweicloud.com",)


def test_the_region_variable_wins_over_the_regions_file(tmp_path: Path) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(REGIONS_YAML)
    env = {
        "HUAWEICLOUD_SDK_REGIONS_FILE": str(path),
        region_env_name("ces", "cn-north-4"): "https://e.example",
    }
    found, _ = resolve("cn-north-4", env)
    assert found.ces == ("https://e.example",)


def test_a_missing_named_regions_file_is_a_config_error(tmp_path: Path) -> None:
    env = {**ENV, "HUAWEICLOUD_SDK_REGIONS_FILE": str(tmp_path / "absent.yaml")}
    with pytest.raises(ConfigError) as info:
        parse_config({"region": "cn-north-4"}, env)
    assert len(info.value.problems) == 1
    assert "HUAWEICLOUD_SDK_REGIONS_FILE" in info.value.problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "must map service names to lists of regions"),
        ("WORKSPACE: {id: x}", "'WORKSPACE' must be a list of regions"),
        ("WORKSPACE: [7]", "WORKSPACE[0]: must be a mapping with id and endpoint(s)"),
        ("WORKSPACE: [{id: cn-north-4, endpoint: 'ftp://x'}]", "WORKSPACE[0]: must be an http"),
        ("WORKSPACE: [{id: cn-north-4, endpoints: 'https://x'}]", "WORKSPACE[0].endpoints: must be a list"),
    ],
)
def test_a_malformed_regions_file_is_one_problem_naming_the_entry(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(text)
    _, problems = resolve("cn-north-4", {"HUAWEICLOUD_SDK_REGIONS_FILE": str(path)})
    assert len(problems) == 1
    assert expected in problems[0]


def test_sts_follows_the_sdk_default_unless_set() -> None:
    found, _ = resolve("eu-west-101", {})
    assert found.sts == (DEFAULT_STS,)
    found, _ = resolve("eu-west-101", {"HUAWEICLOUD_SDK_STS_ENDPOINT": "http://127.0.0.1:9"})
    assert found.sts == ("http://127.0.0.1:9",)
    found, _ = resolve("eu-west-101", {"HUAWEICLOUD_SDK_STS_ENDPOINT": "http://a"}, sts="https://b")
    assert found.sts == ("https://b",)
