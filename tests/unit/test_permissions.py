"""README's permission table names, for each API, the IAM action the code's table has.

The table in code is ``exporter.apis.IAM_ACTIONS`` (the API's action, then the ones it
depends on) where it exists, else the fake API's :data:`~exporter.fake.faults.IAM_ACTIONS`
(what it names in a 403); both hold the actions of the API reference."""

from __future__ import annotations

import re
from pathlib import Path

from exporter import apis as api_table
from exporter.apis import APIS
from exporter.fake.faults import IAM_ACTIONS as FAKE_ACTIONS

README = Path(__file__).parent.parent.parent / "README.md"
# "`action` (`api`" and "`action` (`api`, ..." as the permission rows write them
PAIR = re.compile(r"`([a-z]+:[A-Za-z]+:[A-Za-z]+)` \(`([a-z0-9_]+)`")


def _actions() -> dict[str, tuple[str, ...]]:
    table = getattr(api_table, "IAM_ACTIONS", None)
    if table is not None:
        return {api: tuple(actions) for api, actions in table.items()}
    return {api: (action,) if action else () for api, action in FAKE_ACTIONS.items()}


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Permissions\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_action_named_for_an_api_is_that_apis_action() -> None:
    pairs = PAIR.findall(_section())
    assert len(pairs) >= 8
    table = _actions()
    for action, api in pairs:
        assert api in APIS, api
        assert table[api][:1] == (action,), (api, action)


def test_every_known_action_is_in_the_readme() -> None:
    section = _section()
    for api, actions in _actions().items():
        for action in actions:
            assert f"`{action}`" in section, (api, action)


def test_the_readme_names_no_action_the_table_lacks() -> None:
    named = set(re.findall(r"`((?:workspace|ces|iam):[A-Za-z]+:[A-Za-z]+)`", _section()))
    known = {a for actions in _actions().values() for a in actions} | {"ces:metricData:get"}
    assert named <= known, named - known
