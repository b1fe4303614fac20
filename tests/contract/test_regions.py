"""Our hosts against the SDK's: every region each SDK region table knows, and its env/file rules.

The SDK is the referee: for every region of the Workspace, Cloud Eye and IAM tables (and
of each other's, so a region missing from one table is walked too) the host we resolve
must be the one the SDK's ``<Service>Region.value_of`` gives, or, where the SDK has no
entry, the documented fall-back (global IAM; the ``<service>.<region>`` pattern where the
SDK would refuse the region).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkces.v1.region.ces_region import CesRegion
from huaweicloudsdkces.v2.region.ces_region import CesRegion as CesV2Region
from huaweicloudsdkces.v3.region.ces_region import CesRegion as CesV3Region
from huaweicloudsdkcore.auth.internal import IamHelper, StsHelper
from huaweicloudsdkcore.region.cache import ProfileRegionCache
from huaweicloudsdkcore.utils.six_utils import SingletonMeta
from huaweicloudsdkiam.v3.region.iam_region import IamRegion
from huaweicloudsdkiam.v5.region.iam_region import IamRegion as IamV5Region
from huaweicloudsdkworkspace.v2.region.workspace_region import WorkspaceRegion

from exporter.config.endpoints import GLOBAL_IAM, region_env_name, resolve_endpoints

ROOT = Path(__file__).resolve().parents[2]
SDK_REGIONS: dict[str, Any] = {"workspace": WorkspaceRegion, "ces": CesRegion, "iam": IamRegion}
ALL_REGIONS = sorted({r for cls in SDK_REGIONS.values() for r in cls.static_fields})
SDK_VARIABLES = ("HUAWEICLOUD_SDK_", "HOME")


@pytest.fixture(autouse=True)
def sdk_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SDK variable from the developer's shell, no ~/.huaweicloud, a fresh regions cache."""
    for name in list(os.environ):
        if name.startswith(SDK_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    SingletonMeta._instances.pop(ProfileRegionCache, None)
    yield
    SingletonMeta._instances.pop(ProfileRegionCache, None)


def ours(region: str, env: dict[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    problems: list[str] = []
    found = resolve_endpoints(region, {}, dict(os.environ) if env is None else env, problems)
    assert problems == []
    return {s: found.of(s) for s in SDK_REGIONS}


def sdk(service: str, region: str) -> list[str] | None:
    try:
        endpoints: list[str] = SDK_REGIONS[service].value_of(region).endpoints
    except KeyError:
        return None
    # As the SDK's client builder: an endpoint without a scheme is https.
    return [e if e.startswith("http") else "https://" + e for e in endpoints]


def test_the_cloud_eye_tables_of_v1_v2_and_v3_are_the_same() -> None:
    assert {k: v.endpoints for k, v in CesRegion.static_fields.items()} == {
        k: v.endpoints for k, v in CesV2Region.static_fields.items()
    }
    assert {k: v.endpoints for k, v in CesRegion.static_fields.items()} == {
        k: v.endpoints for k, v in CesV3Region.static_fields.items()
    }
    assert {k: v.endpoints for k, v in IamRegion.static_fields.items()} == {
        k: v.endpoints for k, v in IamV5Region.static_fields.items()
    }


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_every_sdk_region_resolves_to_the_sdk_host(region: str) -> None:
    mine = ours(region)
    for service in SDK_REGIONS:
        expected = sdk(service, region)
        if expected is not None:
            assert list(mine[service]) == expected, service
        elif service == "iam":
            # No regional IAM: the SDK's credential code falls back to the global endpoint.
            assert mine["iam"] == (GLOBAL_IAM,)
            assert IamHelper.get_iam_endpoint(region) == GLOBAL_IAM
        else:
            assert mine[service] == (f"https://{service}.{region}.myhuaweicloud.com",)


def test_the_sts_default_is_the_sdk_default() -> None:
    problems: list[str] = []
    found = resolve_endpoints("eu-west-101", {}, {}, problems)
    assert found.sts == (StsHelper.get_sts_endpoint(),)


@pytest.mark.parametrize(
    "value",
    [
        "https://a.example.com",
        "https://a.example.com,https://b.example.com",
        "a.example.com,http://127.0.0.1:9",
    ],
)
@pytest.mark.parametrize("service", sorted(SDK_REGIONS))
def test_the_region_variable_is_read_as_the_sdk_reads_it(
    monkeypatch: pytest.MonkeyPatch, service: str, value: str
) -> None:
    monkeypatch.setenv(region_env_name(service, "cn-north-4"), value)
    assert list(ours("cn-north-4")[service]) == sdk(service, "cn-north-4")


def test_the_regions_file_is_read_as_the_sdk_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(
        "WORKSPACE:\n"
        "  - id: ap-southeast-1\n"
        "    endpoints: [https://ws-a.example.com, https://ws-b.example.com]\n"
        "    endpoint: https://ws-c.example.com\n"
        "ces:\n"
        "  - id: ap-southeast-1\n"
        "    endpoint: ces.example.com\n"
        "IAM:\n"
        "  - id: af-north-1\n"
        "    endpoint: https://iam.af-north-1.example.com\n"
    )
    monkeypatch.setenv("HUAWEICLOUD_SDK_REGIONS_FILE", str(path))
    for region in ("ap-southeast-1", "af-north-1"):
        mine = ours(region)
        for service in SDK_REGIONS:
            expected = sdk(service, region)
            if expected is not None:
                assert list(mine[service]) == expected, (region, service)


def test_the_committed_tables_are_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("gen_regions", ROOT / "scripts" / "gen-regions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "exporter" / "config" / "regions.py").read_text(encoding="utf-8")
    assert module.render() == committed, "run scripts/gen-regions.py"
