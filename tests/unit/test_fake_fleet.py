"""The fake's fleet endpoints over real HTTP: answers that agree with the desktops, the
switches the sources must cope with, and the refusals that catch a client regression."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from exporter.fake import FAILURE_EXAMPLE, FakeServer, FakeWorkspace
from exporter.fake.data import DYNAMIC_POOL, pool_id
from tests.unit.test_fake_api import PID, Api, Clock

T0 = 1_790_000_100.0


@pytest.fixture
def state() -> FakeWorkspace:
    return FakeWorkspace(20, now=Clock(T0))


@pytest.fixture
def api(state: FakeWorkspace) -> Iterator[Api]:
    server = FakeServer(state)
    url = server.start()
    client = Api(url, state)
    try:
        yield client
    finally:
        client.session.close()
        server.stop()
    assert server.errors == []


def test_pools_and_statistics_agree_with_the_desktops(api: Api, state: FakeWorkspace) -> None:
    light = api.get("/v2/{pid}/desktops").json()["desktops"]
    members = Counter(d["pool_id"] for d in light if d["pool_id"])
    pools = api.get("/v2/{pid}/desktop-pools").json()["desktop_pools"]
    assert {p["id"]: p["desktop_count"] for p in pools} == dict(members)
    kinds = ["attach-state", "login-state", "run-state"]
    fleet = api.get("/v2/{pid}/statistics", statistics_type=kinds).json()
    assert fleet["total_num"] == 20 == sum(fleet["run_state_statistics"].values())
    assert "desktop_pool_statistics" not in fleet
    pooled = api.get("/v2/{pid}/statistics", desktop_type="POOLED", statistics_type=kinds).json()
    per_pool = {p["desktop_pool_id"]: p["total_num"] for p in pooled["desktop_pool_statistics"]}
    assert per_pool == dict(members) and pooled["total_num"] == sum(members.values())
    only_total = api.get("/v2/{pid}/statistics").json()
    assert only_total == {"total_num": 20}  # without statistics_type only the total comes back


@pytest.mark.fake_rejects  # on purpose: the refusals are the point
def test_a_comma_joined_list_parameter_is_refused_like_a_client_regression(
    api: Api, state: FakeWorkspace
) -> None:
    resp = api.get("/v2/{pid}/statistics", statistics_type="attach-state,login-state")
    assert resp.status_code == 400
    assert [v.rule for v in state.violations] == ["desktops_statistics.statistics_type"]


@pytest.mark.fake_rejects
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_is_answered_where_another_method_installs_plug_ins(
    api: Api, state: FakeWorkspace, method: str
) -> None:
    """POST /v2/{project_id}/desktops/agents is batch_install_agent: the fake refuses every
    method but GET there with 405 and counts it, so a test that sends one fails."""
    resp = api.session.request(method, f"{api.url}/v2/{PID}/desktops/agents", json={}, timeout=10)
    assert resp.status_code == 405
    assert [(v.api, v.status) for v in state.violations] == [("agents_install", 405)]
    assert api.get("/v2/{pid}/desktops/agents").status_code == 200


def test_the_nightly_task_has_a_run_and_the_record_order_can_be_flipped(
    api: Api, state: FakeWorkspace
) -> None:
    tasks = api.get("/v2/{pid}/scheduled-tasks", offset=0, limit=50).json()["scheduled_tasks"]
    assert [t["task_name"] for t in tasks] == ["nightly-reboot", "friday-shutdown"]  # no LIFE_CYCLE
    triggered = api.get("/v2/{pid}/scheduled-tasks", offset=0, limit=50, scheduled_type="LIFE_CYCLE").json()
    assert [t["task_name"] for t in triggered["scheduled_tasks"]] == ["post-create-setup"]
    nightly = tasks[0]["id"]
    state.run_task(nightly, T0 - 60, failed=3)
    path = f"/v2/{{pid}}/scheduled-tasks/{nightly}/records"
    newest = api.get(path).json()["tasks_records"]
    assert [(r["status"], r["failed_num"]) for r in newest] == [("FAIL", 3), ("SUCCESS", 0)]
    assert newest[0]["success_num"] + newest[0]["skip_num"] + 3 == 20
    state.configure(task_records_order="oldest_first")
    assert [r["status"] for r in api.get(path).json()["tasks_records"]] == ["SUCCESS", "FAIL"]
    assert api.get("/v2/{pid}/scheduled-tasks/nope/records").status_code == 404


def test_dynamic_pool_use_follows_its_override_and_quota_use_the_desktops(
    api: Api, state: FakeWorkspace
) -> None:
    dynamic = pool_id(state.seed, DYNAMIC_POOL)
    state.pool_used_override[dynamic] = 99  # never more than the pool has
    (pool,) = [p for p in api.get("/v2/{pid}/desktop-pools").json()["desktop_pools"] if p["id"] == dynamic]
    assert pool["desktop_used"] == pool["desktop_count"] == 10
    quotas = api.get("/v2/{pid}/quotas").json()["quotas"]["resources"]
    general = next(r for r in quotas if r["type"] == "general_instances")
    assert (general["quota"], general["used"]) == (25, 20)
    state.add_desktop()
    quotas = api.get("/v2/{pid}/quotas").json()["quotas"]["resources"]
    assert next(r for r in quotas if r["type"] == "general_instances")["used"] == 21


def test_user_events_are_the_connection_records_as_login_events(api: Api, state: FakeWorkspace) -> None:
    state.add_connection_record(connection_start_time=T0 - 120)
    state.add_connection_record(connection_start_time=T0 - 60, connection_failure_reason=FAILURE_EXAMPLE)
    window = {"start_time": "2026-09-21T14:00:00Z", "end_time": "2026-09-21T14:15:00Z"}
    events = api.get("/v2/{pid}/user-events", **window).json()
    assert events["count"] == 2
    assert [(e["is_success"], e["error_code"]) for e in events["items"]] == [(True, ""), (False, "400200")]
    assert all(e["event_type"] == "LOGIN" for e in events["items"])


def test_versions_and_plug_ins_follow_the_desktops_agents(api: Api) -> None:
    stats = api.get("/v2/{pid}/desktops/statistics/by-version").json()["version_statistics"]
    windows = {s["version"]: s["desktop_count"] for s in stats if s["os_type"] == "Windows"}
    assert windows == {"24.6.0.1": 14, "24.3.0.2": 1, "23.12.0.5": 1}
    rows = api.get("/v2/{pid}/desktops/agents", offset=0, limit=100).json()["agents_condition"]
    assert sum(r["agent_info"][0]["is_installed"] for r in rows) == 18
