"""``check-config --online`` says which credentials it used, and when temporary ones expire."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.cli.main import main
from exporter.fake import identity_routes as routes
from tests.conftest import FakeApi

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credential variable from the developer's shell, and a HOME without ~/.huaweicloud."""
    for name in list(os.environ):
        if name.startswith(("HUAWEICLOUD_", "HC_CONTAINER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def check(
    tmp_path: Path, fake: FakeApi, capsys: pytest.CaptureFixture[str], **auth: Any
) -> tuple[int, list[list[str]]]:
    raw = fake.config(auth={"metadata_url": fake.url, **auth})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = main(["check-config", "--config.file", str(path), "--online"])
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TARGET "))
    return code, [re.split(r"\s{2,}", line) for line in lines[start + 1 : -1]]


def test_the_chain_reaching_ecs_metadata_says_so_and_when_the_keys_expire(
    fake_api: FakeApi, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = check(clean_env, fake_api, capsys)
    assert code == 0
    _, api, result, note = rows[0]
    assert (api, result) == ("credentials", "ok")
    assert re.match(r"mode metadata, expire \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 60 min\): ", note), note
    assert f": ECS metadata {fake_api.url} (agency) (the SDK's chain; passed over OIDC, env" in note
    assert all(r[2] == "ok" for r in rows)


def test_pod_identity_answering_after_metadata_is_named(
    fake_api: FakeApi, clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = clean_env / "pod-token"
    token.write_text(fake_api.state.pod_identity_token)
    monkeypatch.setenv("HC_CONTAINER_CREDENTIALS_FULL_URI", fake_api.url + routes.POD_IDENTITY_PATH)
    monkeypatch.setenv("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token))
    fake_api.state.identity(metadata_agency=False)
    code, rows = check(clean_env, fake_api, capsys)
    assert code == 0
    assert rows[0][3].startswith("mode pod_identity, expire ")
    assert f": CCE pod identity {fake_api.url}" in rows[0][3]


def test_credentials_that_cannot_be_fetched_fail_the_row_and_nothing_else_is_tried(
    fake_api: FakeApi, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_api.state.identity(metadata_agency=False)
    code, rows = check(clean_env, fake_api, capsys, method="metadata")
    assert code == 1
    assert rows[0][1:3] == ["credentials", "HTTP 404"]
    assert routes.AGENCY_MISSING in rows[0][3]
    assert all(r[2] == "not tried" for r in rows[1:])
    assert fake_api.state.calls("desktops_detail") == 0


def test_a_wrong_secret_key_is_one_refused_call_and_a_rejected_credentials_row(
    fake_api: FakeApi, clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", fake_api.state.ak)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "not-the-secret-key-of-this-ak")
    code, rows = check(clean_env, fake_api, capsys)
    assert code == 1
    assert rows[0][1:4] == [
        "credentials",
        "rejected",
        "mode aksk: HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK (the SDK's chain; passed over OIDC)",
    ]
    assert rows[1][1:3] == ["desktops_detail", "HTTP 401 APIGW.0301"]
    assert all(r[2] == "not tried" and r[3].startswith("needs ") and "credentials" in r[3] for r in rows[2:])
    assert len(fake_api.state.auth_failures()) == 1
