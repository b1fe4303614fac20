"""README's permission table names, for each API, the IAM action the code's table has.

The table in code is :data:`exporter.apis.IAM_ACTIONS` (the API's action, then the ones
it depends on, from the API reference); the fake names the first of them in a 403."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.apis import APIS, IAM_ACTIONS

README = Path(__file__).parent.parent.parent / "README.md"
# "`action` (`api`" and "`action` (`api`, ..." as the permission rows write them
PAIR = re.compile(r"`([a-z]+:[A-Za-z]+:[A-Za-z]+)` \(`([a-z0-9_]+)`")


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Permissions\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_action_named_for_an_api_is_that_apis_action() -> None:
    pairs = PAIR.findall(_section())
    assert len(pairs) >= 8
    for action, api in pairs:
        assert api in APIS, api
        assert IAM_ACTIONS[api][:1] == (action,), (api, action)


def test_every_known_action_is_in_the_readme() -> None:
    section = _section()
    for api, actions in IAM_ACTIONS.items():
        for action in actions:
            assert f"`{action}`" in section, (api, action)


def test_the_readme_names_no_action_the_table_lacks() -> None:
    named = set(re.findall(r"`((?:workspace|ces|iam):[A-Za-z]+:[A-Za-z]+)`", _section()))
    known = {a for actions in IAM_ACTIONS.values() for a in actions} | {"ces:metricData:get"}
    assert named <= known, named - known
