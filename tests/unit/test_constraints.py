"""Every row of the constraint table, against the fake over HTTP on 127.0.0.1.

For each row the fake accepts its edges (the values just inside, e.g. ``limit=100``) and
refuses the values just outside (``limit=101``) with the gateway-shaped answer that row
names, and it is that row which refuses them. A row that the real API answers by
adjusting the request (Cloud Eye v1 moving ``from``) is answered 200 and counted.
Each probe starts from a valid request of its API (:data:`BASES`), accepted as it is.
The table's own integrity (names, sources, choices) is checked here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from exporter.apis import APIS
from exporter.clock import FakeClock
from exporter.config.settings import Settings, parse_config
from exporter.constraints import TABLE, Call, Rule, apis, default_limit, page_limit, rules_for
from exporter.constraints.ces_windows import V1_MAX_POINTS, v1_from, v1_max_metrics
from exporter.constraints.kinds import Count, IntRange
from exporter.constraints.rules import MINUTE, SECOND, SOURCES, SPACED, Probe, apply
from exporter.errors import ClientRequestError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake.proto import Request
from exporter.fake.strict import call_of
from exporter.upstream.auth import CREDENTIAL_APIS
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient

T0 = 1_795_000_020.0  # on a minute boundary: minute windows keep their span exactly

Base = tuple[dict[str, str], dict[str, list[str]], Any]  # path params, query, JSON body


@dataclass
class Rig:
    state: FakeWorkspace
    client: WorkspaceClient
    clock: FakeClock
    url: str
    settings: Settings

    @property
    def desktop(self) -> str:
        return str(self.state.desktops[0]["desktop_id"])


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    clock = FakeClock(T0)
    state = FakeWorkspace(desktops=3, now=clock.time)
    state.seed_activity(connection_records=3, screen_records=1, operations=2)
    server = FakeServer(state)
    url = server.start()
    raw = {
        "region": state.region,
        "project_id": state.project_id,
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "http": {"max_retries": 0},
        "budget": {"burst": 1000},
    }
    settings = parse_config(raw, {"HUAWEICLOUD_SDK_AK": state.ak, "HUAWEICLOUD_SDK_SK": state.sk})
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)
    try:
        yield Rig(state, client, clock, url, settings)
    finally:
        client.close()
        server.stop()
    assert server.errors == []


def _q(**values: Any) -> dict[str, list[str]]:
    return {k: [str(v)] for k, v in values.items()}


def _minutes(now: float) -> dict[str, list[str]]:
    return _q(start_time=MINUTE.render(now - 3600), end_time=MINUTE.render(now))


def _bases(rig: Rig) -> dict[str, Base]:
    now = rig.state.now()
    to_ms = round(now * 1000)
    did = rig.desktop
    record = str(rig.state.screen_records[0]["id"])
    task = str(rig.state.scheduled_tasks[0]["id"])
    metric = {
        "namespace": "SYS.Workspace",
        "metric_name": "cpu_util",
        "dimensions": [{"name": "instance_id", "value": did}],
    }
    state = rig.state
    return {
        "iam_tokens": (
            {},
            {},
            {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": state.iam_user,
                                "password": state.iam_password,
                                "domain": {"name": state.iam_domain},
                            }
                        },
                    },
                    "scope": {"project": {"id": state.project_id}},
                }
            },
        ),
        "desktops_detail": ({}, _q(offset=0, limit=10), None),
        "desktops_list": ({}, _q(offset=0, limit=10), None),
        "desktop_monitor": (
            {"desktop_id": did},
            _q(start_time=SECOND.render(now - 3600), end_time=SECOND.render(now)),
            None,
        ),
        "connections": ({}, {**_minutes(now), **_q(offset=0, limit=10)}, None),
        "login_records": ({}, {**_minutes(now), **_q(offset=0, limit=10)}, None),
        "connections_export": ({}, {**_minutes(now), **_q(language="en_US")}, None),
        "connections_export_v3": (
            {},
            _q(start_time=SECOND.render(now - 3600), end_time=SECOND.render(now), language="en_US"),
            None,
        ),
        "export_tasks": ({}, _q(offset=0, limit=10), None),
        "screen_records": (
            {},
            _q(
                start_time=SPACED.render(now - 86400),
                end_time=SPACED.render(now),
                sort_field="start_time",
                sort_type="desc",
                offset=0,
                limit=10,
            ),
            None,
        ),
        "os_operations": ({"record_id": record}, _q(offset=0, limit=10), None),
        "desktop_pools": ({}, _q(offset=0, limit=10), None),
        "desktops_statistics": (
            {},
            {"desktop_type": ["POOLED"], "statistics_type": ["attach-state", "login-state", "run-state"]},
            None,
        ),
        "quotas": ({}, {}, None),
        "scheduled_tasks": ({}, _q(offset=0, limit=10), None),
        "scheduled_task_records": ({"task_id": task}, _q(offset=0, limit=10), None),
        "upgrade_tasks": ({}, _q(offset=0, limit=10), None),
        "desktop_version_statistics": ({}, {}, None),
        "agents_install": ({}, _q(offset=0, limit=10), None),
        "alarms": ({}, _q(level=1, offset=0, limit=10), None),
        "alarm_statistics": ({}, {}, None),
        "user_events": (
            {},
            _q(start_time=SECOND.render(now - 3600), end_time=SECOND.render(now), offset=0, limit=10),
            None,
        ),
        "ces_metrics": ({}, _q(namespace="SYS.Workspace", limit=10, **{"dim.0": f"instance_id,{did}"}), None),
        "ces_batch_v1": (
            {},
            {},
            {"metrics": [metric], "period": "300", "filter": "average", "from": to_ms - 600_000, "to": to_ms},
        ),
        "ces_batch_v2": (
            {},
            {},
            {
                "namespace": "SYS.Workspace",
                "metric_name": "cpu_util",
                "metric_dimension": "instance_id",
                "from": to_ms - 299_999,
                "to": to_ms,
                "offset": 0,
                "limit": 10,
            },
        ),
    }


@dataclass
class Answer:
    status: int
    error_code: str
    body: bytes


def send(rig: Rig, api: str, base: Base, change: Probe | None = None) -> Answer:
    path, query, body = base
    if change is not None:
        query, body = apply(query, body, change)
    client = rig.client
    if api in CREDENTIAL_APIS:
        # A refused credential call opens the client's auth breaker, as it should in the
        # exporter; each such probe gets a client of its own so later rows are not paused.
        client = WorkspaceClient(rig.settings, Budget(rig.settings.config.budget, rig.clock), clock=rig.clock)
    try:
        resp = client.request_raw(api, path, params=query, json_body=body)
    except ClientRequestError as e:
        return Answer(e.status, e.error_code, b"")
    finally:
        if client is not rig.client:
            client.close()
    return Answer(resp.status_code, "", resp.content)


def as_call(base: Base, now: float) -> Call:
    _, query, body = base
    return Call(query=query, body=body, body_bytes=len(json.dumps(body)) if body is not None else 0, now=now)


def row_ids() -> list[str]:
    return [r.id for r in TABLE]


def rule_of(row_id: str) -> Rule:
    return next(r for r in TABLE if r.id == row_id)


# ------------------------------------------------------------------------------ the table


def test_every_row_names_a_known_api_and_is_unique() -> None:
    assert set(apis()) <= set(APIS)
    assert len(row_ids()) == len(set(row_ids()))
    assert len(TABLE) >= 80


_RANGE = re.compile(r"\[?(\d[\d,]*)\s*(?:–|-|~|to|,)\s*(\d[\d,]*)\]?")


def stated_ranges(rule: Rule) -> set[tuple[int, int]]:
    """The numeric ranges the sources of a row state (``0–1000``, ``[1, 500]``, ``0 to 100``)."""
    out = set()
    for cite in rule.cites:
        for lo, hi in _RANGE.findall(cite.says):
            out.add((int(lo.replace(",", "")), int(hi.replace(",", ""))))
    return out


@pytest.mark.parametrize("row_id", row_ids())
def test_every_row_cites_its_sources_and_says_why_where_they_disagree(row_id: str) -> None:
    rule = rule_of(row_id)
    assert rule.cites, "a row without a source"
    assert {c.source for c in rule.cites} <= set(SOURCES)
    assert rule.code or APIS[rule.api].service == "iam", "a rejection needs the error code it answers"
    assert rule.text()
    silent = any(c.source == "none" for c in rule.cites)
    bounds = (rule.lo, rule.hi) if isinstance(rule, IntRange | Count) else None
    disagree = bounds is not None and any(r != bounds for r in stated_ranges(rule))
    if silent or disagree:
        assert rule.choice, "sources disagree or are silent: say which reading the row takes, and why"


def test_the_rows_where_the_sources_disagree_are_the_ones_the_closing_note_lists() -> None:
    """The sources state different ranges for these rows; each row says which it took."""
    disagree = {
        r.id
        for r in TABLE
        if isinstance(r, IntRange | Count) and any(x != (r.lo, r.hi) for x in stated_ranges(r))
    }
    assert disagree == {"os_operations.limit", "screen_records.limit", "ces_batch_v1.metrics"}


def test_page_limits_are_the_strictest_documented_ranges() -> None:
    """The headline rows: the seed's 100 for os-operations, the English page's 100 for
    screen-records; the API table reads the same numbers."""
    assert page_limit("os_operations") == APIS["os_operations"].page_limit == 100
    assert page_limit("screen_records") == APIS["screen_records"].page_limit == 100
    assert default_limit("os_operations") == default_limit("screen_records") == 10
    assert page_limit("desktops_detail") == 500
    assert page_limit("export_tasks") == 100
    assert page_limit("ces_batch_v2") == 1000
    assert page_limit("desktop_monitor") == 0  # not paged


def test_cloud_eye_v1_moves_from_as_documented() -> None:
    to = 1_700_000_000_000
    assert v1_from(to - 600_000, to, "300", 500) == to - 600_000  # 500 × 2 periods = 1,000 points
    assert v1_from(to - 86_400_001, to, "300", 1) == to - 86_400_000  # a day at most for period 300
    assert v1_from(to - 3_600_000, to, "300", 500) == to - 1_800_000  # 3,000 points at most
    assert v1_from(to - 3_600_000, to, "1", 10) == to - 3_600_000  # period 1 counts a minute apart
    assert v1_max_metrics(600_000, "300") == 500
    assert v1_max_metrics(3_600_000, "300") == V1_MAX_POINTS * 300_000 // 3_600_000 == 250


def test_the_strict_view_of_a_request_keeps_every_value_and_the_body() -> None:
    req = Request("GET", "/x", {"a": "1"}, {"a": ["1", "2"], "b": [""]}, b'{"k": [1]}')
    call = call_of(req, 5.0)
    assert call.query == {"a": ["1", "2"], "b": [""]}
    assert call.body == {"k": [1]} and call.body_bytes == 10 and call.now == 5.0
    assert call_of(Request("POST", "/x", {}, {}, b"{not json"), 0.0).body is None


# ------------------------------------------------------------------------------ against the fake


@pytest.mark.parametrize("api", list(apis()))
def test_a_valid_request_of_every_api_is_accepted_as_it_is(rig: Rig, api: str) -> None:
    base = _bases(rig)[api]
    before = len(rig.state.violations)
    answer = send(rig, api, base)
    assert 200 <= answer.status < 300, answer
    assert rig.state.violations[before:] == []
    assert all(r.check(as_call(base, rig.state.now())) is None for r in rules_for(api))


@pytest.mark.fake_rejects
@pytest.mark.parametrize("row_id", row_ids())
def test_the_fake_accepts_the_edge_and_refuses_just_outside(rig: Rig, row_id: str) -> None:
    rule = rule_of(row_id)
    base = _bases(rig)[rule.api]
    inside, outside = rule.probes(as_call(base, rig.state.now()))
    assert inside and outside
    for change in inside:
        before = len(rig.state.violations)
        answer = send(rig, rule.api, base, change)
        assert 200 <= answer.status < 300, (change.label, answer)
        assert rig.state.violations[before:] == [], change.label
    for change in outside:
        before = len(rig.state.violations)
        answer = send(rig, rule.api, base, change)
        found = rig.state.violations[before:]
        assert [v.rule for v in found] == [rule.id], (change.label, found)
        if rule.adjusts:
            assert answer.status == 200, change.label
            continue
        assert answer.status == rule.status, (change.label, answer)
        if rule.code:
            assert answer.error_code == rule.code, change.label


@pytest.mark.fake_rejects
def test_a_refusal_has_the_shape_of_its_service_and_is_listed_with_its_row(rig: Rig) -> None:
    """Workspace and Cloud Eye answer ``{"error_code", "error_msg"}``; IAM a Keystone error."""
    bases = _bases(rig)
    v2_from = bases["ces_batch_v2"][2]["to"] - 300_000
    for api, change, code in (
        ("os_operations", Probe("1000", (("q.limit", "1000"),)), "WKS.00211102"),
        ("ces_batch_v2", Probe("5 min", (("b.from", v2_from),)), "ces.0014"),
        ("ces_metrics", Probe("0", (("q.limit", "0"),)), "ces.0013"),
    ):
        before = len(rig.state.violations)
        answer = send(rig, api, bases[api], change)
        assert (answer.status, answer.error_code) == (400, code)
        (found,) = rig.state.violations[before:]
        assert (found.api, found.status, found.error_code) == (api, 400, code)
        assert found.error_msg.startswith("Invalid parameter")
    assert rig.state.rejections[-3].query["limit"] == "1000"
    assert rig.state.rejections[-3].rule == "os_operations.limit"
    before = len(rig.state.violations)
    resp = requests.post(f"{rig.url}/v3/auth/tokens", json={"auth": {}}, timeout=10)
    doc = resp.json()
    assert resp.status_code == 400
    assert doc["error"]["code"] == 400 and doc["error"]["title"] == "Bad Request"
    assert [v.rule for v in rig.state.violations[before:]] == ["iam_tokens.identity"]
    listed = requests.get(f"{rig.url}/_fake/violations", timeout=10).json()  # for a fake run elsewhere
    assert [v["rule"] for v in listed] == [v.rule for v in rig.state.violations]
