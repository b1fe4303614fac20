"""``workspace-exporter check-config --online`` against the fake Workspace, IAM and Cloud Eye API.

Every call goes over real HTTP on 127.0.0.1 through the exporter's own client; the fake's
switches deny an API (the 403 of a missing IAM permission) or take Cloud Eye's v2 batch
query away, and a closed port stands in for an unreachable upstream.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml

from exporter.apis import APIS, IAM_ACTIONS
from exporter.cli.main import main
from exporter.cli.online_report import cell, grant_for
from exporter.errors import AuthError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake.faults import denial
from exporter.secret import register
from tests.conftest import FakeApi

pytestmark = pytest.mark.integration

PASSWORD_ENV = "WORKSPACE_EXPORTER_IAM_PASSWORD"


def _config(fake: FakeApi, kind: str) -> dict[str, Any]:
    """The configs that between them enable every API the check can call."""
    raw = fake.config(connections={"enabled": True}, events={"enabled": True})
    if kind == "workspace":  # AK/SK, per-desktop monitoring, v2 connection records, fleet opt-ins
        raw["monitoring"] = {"source": "workspace"}
        raw["agents"] = {"monitoring_plugins": True}
        raw["user_events"] = {"enabled": True}
        return raw
    if kind == "cloudeye":  # AK/SK, project discovery, Cloud Eye, v1.0 login records
        raw["project_id"] = ""
        raw["monitoring"] = {"source": "cloudeye"}
        raw["connections"]["api"] = "v1.0"
        return raw
    if kind == "token":
        raw["monitoring"] = {"source": "workspace"}
        raw["auth"] = {
            "method": "token",
            "username": fake.state.iam_user,
            "domain_name": fake.state.iam_domain,
        }
        return raw
    raise AssertionError(kind)


def _seed(state: FakeWorkspace) -> None:
    rec = state.add_screen_record()
    state.add_operation(rec["id"], "APP", "APP_START", "INFO")


@pytest.fixture
def env(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(PASSWORD_ENV, fake_api.state.iam_password)
    _seed(fake_api.state)
    return fake_api


def _check(tmp_path: Path, raw: dict[str, Any]) -> int:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return main(["check-config", "--config.file", str(path), "--online"])


def _rows(out: str) -> list[list[str]]:
    """The table rows (target, api, result[, note]) of the command's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TARGET "))
    return [re.split(r"\s{2,}", line) for line in lines[start + 1 : -1]]


def _row(rows: list[list[str]], api: str) -> list[str]:
    found = [r for r in rows if r[1] == api]
    assert len(found) == 1, (api, rows)
    return found[0] + [""] * (4 - len(found[0]))


@pytest.fixture
def closed_port() -> str:
    """A 127.0.0.1 URL on which nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------ all pass

# The fleet sources on by default, in the order the check calls them.
FLEET = [
    "desktop_pools",
    "desktops_statistics",
    "quotas",
    "scheduled_tasks",
    "scheduled_task_records",
    "desktop_version_statistics",
    "upgrade_tasks",
    "alarm_statistics",
    "alarms",
]
# With the opt-ins on: monitoring plug-ins after the upgrade tasks, user events last.
FLEET_ALL = [*FLEET[:7], "agents_install", *FLEET[7:], "user_events"]

EXPECTED_OK = {
    "workspace": [
        "credentials",
        "desktops_detail",
        "desktops_list",
        "desktop_detail",
        "desktop_monitor",
        "connections",
        "screen_records",
        "os_operations",
        *FLEET_ALL,
    ],
    "cloudeye": [
        "credentials",
        "iam_projects",
        "desktops_detail",
        "desktops_list",
        "desktop_detail",
        "ces_metrics",
        "ces_batch_v2",
        "login_records",
        "screen_records",
        "os_operations",
        *FLEET,
    ],
    "token": [
        "credentials",
        "iam_tokens",
        "desktops_detail",
        "desktops_list",
        "desktop_detail",
        "desktop_monitor",
        "connections",
        "screen_records",
        "os_operations",
        *FLEET,
    ],
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_OK))
def test_every_enabled_api_answers_ok_exit_0_and_the_table_says_so(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    assert _check(tmp_path, _config(env, kind)) == 0
    out = capsys.readouterr().out
    assert "configuration is valid" in out.splitlines()[0]
    rows = _rows(out)
    target = f"{env.state.region}/{env.state.project_id}"
    assert [(r[0], r[1], r[2]) for r in rows] == [(target, api, "ok") for api in EXPECTED_OK[kind]]
    n = len(EXPECTED_OK[kind])
    assert out.splitlines()[-1] == f"{n} checks: {n} ok, 0 failed, 0 skipped"
    # One smallest call each, through the normal client: nothing more (the credentials row
    # reports on the calls, it makes none of its own).
    calls = [c.api for c in env.state.call_log]
    assert sorted(set(calls)) == sorted(EXPECTED_OK[kind][1:])
    assert len(calls) == n - 1
    note = _row(rows, "credentials")[3]
    if kind == "token":  # an IAM token lives 24 hours
        assert note.startswith("mode token, expire ") and "(in 1440 min): IAM user exporter" in note
    else:
        assert note.startswith("mode aksk: HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK")
    paged = [c for c in env.state.call_log if c.api not in ("iam_projects", "iam_tokens", "desktop_monitor")]
    assert all(c.query.get("limit", "1") == "1" for c in paged), paged
    if kind == "cloudeye":
        assert _row(rows, "ces_batch_v2")[3] == "the region serves the v2 batch query"


def test_without_desktops_or_recordings_the_calls_that_need_one_are_skipped(
    fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    for desktop in fake_api.state.desktops:
        fake_api.state.remove_desktop(desktop["desktop_id"])
    fake_api.state.scheduled_tasks.clear()
    assert _check(tmp_path, _config(fake_api, "workspace")) == 0
    rows = _rows(capsys.readouterr().out)
    assert _row(rows, "desktop_monitor")[2:] == ["skipped", "no desktop to ask about"]
    assert _row(rows, "os_operations")[2:] == ["skipped", "no screen recording in events.recordings_window"]
    assert _row(rows, "scheduled_task_records")[2:] == ["skipped", "no scheduled task to ask about"]
    assert fake_api.state.calls("desktop_monitor") == fake_api.state.calls("os_operations") == 0
    assert fake_api.state.calls("scheduled_task_records") == 0


# ------------------------------------------------------------------------ denials

# (config kind, API to deny, fake switches): every API some config makes the check call.
DENY_CASES = [
    ("workspace", "desktops_detail", {}),
    ("workspace", "desktops_list", {}),
    ("workspace", "desktop_detail", {}),
    ("workspace", "desktop_monitor", {}),
    ("workspace", "connections", {}),
    ("workspace", "screen_records", {}),
    ("workspace", "os_operations", {}),
    ("cloudeye", "iam_projects", {}),
    ("cloudeye", "ces_metrics", {}),
    ("cloudeye", "ces_batch_v2", {}),
    ("cloudeye", "ces_batch_v1", {"ces_v2": "404"}),
    ("cloudeye", "login_records", {}),
    ("token", "iam_tokens", {}),
    *(("workspace", api, {}) for api in FLEET_ALL),
]


def test_the_denial_cases_cover_every_api_the_check_calls() -> None:
    called = {api for apis in EXPECTED_OK.values() for api in apis[1:]} | {"ces_batch_v1"}
    assert {api for _, api, _ in DENY_CASES} == called


def test_the_iam_action_table_names_every_api_and_the_fakes_denial_names_its_action() -> None:
    assert set(IAM_ACTIONS) == set(APIS)
    for api, actions in IAM_ACTIONS.items():
        action = actions[0] if actions else "this action"
        assert denial(api).error_msg == f"Policy doesn't allow {action} to be performed.", api


@pytest.mark.parametrize(("kind", "api", "switches"), DENY_CASES, ids=[c[1] for c in DENY_CASES])
def test_a_denied_api_fails_exit_1_and_its_row_names_the_iam_action(
    env: FakeApi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    api: str,
    switches: dict[str, str],
) -> None:
    env.state.configure(**switches)
    env.state.deny(api)
    assert _check(tmp_path, _config(env, kind)) == 1
    out = capsys.readouterr().out
    rows = _rows(out)
    _, _, result, note = _row(rows, api)
    assert result.startswith("HTTP 403"), rows
    if api == "iam_tokens":
        assert note.startswith("IAM refused the token")
        assert _row(rows, "credentials")[1:3] == ["credentials", "rejected"]
        assert all(r[2] == "not tried" for r in rows if r[1] not in (api, "credentials"))
    elif IAM_ACTIONS[api]:
        assert note == "grant " + " + ".join(IAM_ACTIONS[api])
    else:
        assert note.startswith("permission denied; the API reference names no IAM action")
    if api == "iam_projects":  # nothing project-scoped can be asked without the project id
        assert all(
            r[2:4] == ["not tried", "needs iam_projects, which failed"]
            for r in rows
            if r[1] not in (api, "credentials")
        )
    failed = [r[1] for r in rows if r[2] not in ("ok", "not tried")]
    expected_failed = [api] if api != "ces_batch_v1" else ["ces_batch_v2", "ces_batch_v1"]
    if api == "iam_tokens":  # no token: the credentials did not work either
        expected_failed = ["credentials", api]
    assert failed == expected_failed
    ok = sum(r[2] == "ok" for r in rows)
    not_tried = len(rows) - ok - len(expected_failed)
    assert (
        out.splitlines()[-1]
        == f"{len(rows)} checks: {ok} ok, {len(expected_failed)} failed, {not_tried} skipped"
    )


def test_a_403_that_names_no_action_gets_the_tables_action(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.state.fail("desktops_detail", status=403, times=None, error_code="WKS.00081102")
    assert _check(tmp_path, _config(env, "workspace")) == 1
    rows = _rows(capsys.readouterr().out)
    assert _row(rows, "desktops_detail")[2:] == [
        "HTTP 403 WKS.00081102",
        "grant workspace:desktops:listDetail",
    ]


def test_the_action_a_denial_names_is_believed_over_the_table() -> None:
    def denied(api: str, msg: str) -> AuthError:
        return AuthError(api, 403, "WKS.00081102", msg)

    # The denial names the action the cloud checked; the table is only the fallback.
    named = "Policy doesn't allow workspace:desktops:list to be performed."
    assert grant_for("desktops_detail", denied("desktops_detail", named)) == "workspace:desktops:list"
    own = "Policy doesn't allow workspace:desktops:getMonitor to be performed."
    assert grant_for("desktop_monitor", denied("desktop_monitor", own)) == (
        "workspace:desktops:getMonitor + ces:metricData:get"
    )
    assert grant_for("ces_metrics", denied("ces_metrics", "no permission")) == "ces:metrics:list"
    assert grant_for("login_records", denied("login_records", "no permission")) == ""


# ------------------------------------------------------------------------ Cloud Eye regions


@pytest.mark.parametrize(
    ("variant", "said"), [("404", "HTTP 404 APIGW.0101"), ("400", "HTTP 400 APIGW.0201")]
)
def test_without_the_v2_batch_query_the_v1_one_is_reported_and_ok(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], variant: str, said: str
) -> None:
    env.state.configure(ces_v2=variant)
    assert _check(tmp_path, _config(env, "cloudeye")) == 0
    rows = _rows(capsys.readouterr().out)
    assert _row(rows, "ces_batch_v1")[2:] == ["ok", f"the region serves the v1 batch query only (v2: {said})"]
    assert not [r for r in rows if r[1] == "ces_batch_v2"]
    assert env.state.calls("ces_batch_v2") == env.state.calls("ces_batch_v1") == 1


# ------------------------------------------------------------------------ unreachable


def test_a_refused_port_gives_a_row_with_the_cause_and_exit_1(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], closed_port: str
) -> None:
    raw = _config(env, "cloudeye")
    raw["project_id"] = env.state.project_id
    raw["endpoints"] = {"workspace": closed_port, "iam": env.url, "ces": env.url}
    assert _check(tmp_path, raw) == 1
    rows = _rows(capsys.readouterr().out)
    assert _row(rows, "desktops_detail")[2:] == ["connection refused", "no answer from " + closed_port[7:]]
    # Cloud Eye is another host: still asked, and it answers.
    assert _row(rows, "ces_batch_v2")[2] == "ok"
    # Later calls to the refused host are not made again (each would retry in vain).
    for api in ("login_records", "screen_records"):
        assert _row(rows, api)[2:] == ["not tried", f"{closed_port[7:]} unreachable: connection refused"]
    assert _row(rows, "os_operations")[2:] == ["not tried", "needs screen_records, which failed"]


def test_each_target_gets_its_own_rows(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], closed_port: str
) -> None:
    raw = _config(env, "workspace")
    other = "f" * 32
    raw["targets"] = [
        {"region": env.state.region, "project_id": env.state.project_id},
        {"region": env.state.region, "project_id": other, "endpoints": {"workspace": closed_port}},
    ]
    assert _check(tmp_path, raw) == 1
    rows = _rows(capsys.readouterr().out)
    good = [r for r in rows if r[0] == f"{env.state.region}/{env.state.project_id}"]
    bad = [r for r in rows if r[0] == f"{env.state.region}/{other}"]
    assert [r[2] for r in good] == ["ok"] * len(EXPECTED_OK["workspace"])
    assert bad[0][1:3] == ["credentials", "not verified"]  # the host is down: nothing answered
    assert bad[1][1:3] == ["desktops_detail", "connection refused"]
    assert len(good) + len(bad) == len(rows)


def test_an_invalid_config_still_exits_2_and_makes_no_call(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _config(env, "workspace")
    raw["monitoring"] = {"interval": "1s"}
    assert _check(tmp_path, raw) == 2
    assert "monitoring.interval" in capsys.readouterr().err
    assert env.state.call_log == []


# ------------------------------------------------------------------------ secrets

CANARY_AK = "CANARYAKZQ7X0PEEK4HM"
CANARY_SK = 'canary-SK/+="\\secret~Zq93'
CANARY_PASSWORD = 'canary pass/+"\\word é'


def _forms(secret: str) -> set[str]:
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }


@pytest.mark.parametrize("deny", [None, "*"])
def test_no_secret_is_printed_in_any_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, deny: str | None
) -> None:
    state = FakeWorkspace(desktops=2, ak=CANARY_AK, sk=CANARY_SK, iam_password=CANARY_PASSWORD)
    _seed(state)
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", CANARY_AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", CANARY_SK)
    monkeypatch.setenv(PASSWORD_ENV, CANARY_PASSWORD)
    with FakeServer(state) as url:
        fake = FakeApi(state, url)
        if deny:
            state.deny(deny)
        codes = [_check(tmp_path, _config(fake, kind)) for kind in ("workspace", "cloudeye", "token")]
        # Wrong credentials: the answers are 401s, the table still prints no secret.
        monkeypatch.setenv("HUAWEICLOUD_SDK_SK", CANARY_SK + "x")
        monkeypatch.setenv(PASSWORD_ENV, CANARY_PASSWORD + "x")
        codes += [_check(tmp_path, _config(fake, kind)) for kind in ("workspace", "token")]
    assert codes == ([0, 0, 0, 1, 1] if deny is None else [1] * 5)
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert printed.count("TARGET ") == 5
    for secret in (CANARY_AK, CANARY_SK, CANARY_PASSWORD, CANARY_SK + "x", CANARY_PASSWORD + "x"):
        for form in _forms(secret):
            assert form not in printed, form


def test_with_the_dimension_configured_cloud_eyes_metric_list_is_not_asked(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _config(env, "cloudeye")
    raw["monitoring"]["cloudeye_dimension"] = env.state.ces_dimension
    assert _check(tmp_path, raw) == 0
    rows = _rows(capsys.readouterr().out)
    assert [r[1] for r in rows if r[1].startswith("ces_")] == ["ces_batch_v2"]
    assert env.state.calls("ces_metrics") == 0


def test_cells_are_one_printable_bounded_line_without_secrets() -> None:
    register(CANARY_SK)
    text = cell(f"bad\nline\x1b[31m {CANARY_SK} " + "x" * 500)
    assert text.startswith("bad?line?[31m *** ")
    assert CANARY_SK not in text and text.isprintable() and len(text) <= 160


@pytest.mark.parametrize("kind", ["notjson", "wrongshape"])
def test_a_garbage_answer_is_a_failed_row_not_a_traceback(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    env.state.garbage("desktops_detail", times=None, kind=kind)
    code = _check(tmp_path, _config(env, "workspace"))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    rows = _rows(captured.out)
    assert code == 1
    said = {
        "notjson": "invalid answer: body is not JSON",
        "wrongshape": "invalid answer: body has no desktops list",
    }
    assert _row(rows, "desktops_detail")[2].startswith(said[kind])
    assert _row(rows, "desktop_monitor")[2:] == ["not tried", "needs desktops_detail, which failed"]


def test_wrong_iam_password_fails_the_token_row_and_nothing_else_is_tried(
    env: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    assert _check(tmp_path, _config(env, "token")) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows[0][1:3] == ["credentials", "rejected"]
    assert rows[0][3].startswith("mode token: IAM user exporter of example-domain")
    assert rows[1][1:3] == ["iam_tokens", "HTTP 401"]
    assert rows[1][3].startswith("IAM refused the token")
    assert all(r[2:4] == ["not tried", "needs iam_tokens, which failed"] for r in rows[2:])
    assert env.state.calls("iam_tokens") == 1
    assert env.state.calls() == 1
