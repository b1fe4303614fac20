"""The strict fake: every row of the constraint table enforced on every request, and counted.

:func:`enforce` checks a request against the rows of its API
(:mod:`exporter.constraints`) before the handler runs. The first row it breaks answers,
as the real gateway would: a 400 with ``{"error_code", "error_msg"}`` (``WKS.…`` for
Workspace, ``ces.0014``/``ces.0013`` for Cloud Eye; a Keystone error for IAM; 413 for a
body that is too large). Rows that only *adjust* a request (Cloud Eye v1 moves ``from``
forward) let it through. Either way the fake records a :class:`Violation`, so a test can
assert after a run that the exporter never broke a documented constraint::

    assert state.violations == []

There is no switch to turn this off. Every :class:`StrictLog` (every ``FakeWorkspace``) is
listed in :func:`live` while it exists, so the test suite can check them all after each
test (tests/conftest.py).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import deque
from dataclasses import replace
from typing import Any, NamedTuple

from exporter.apis import APIS
from exporter.constraints import Call, rules_for
from exporter.fake.proto import Request, Response, error_response, json_response

#: Requests remembered per fake for tests that re-check them (the oldest are dropped), and
#: the largest body remembered with them: a long demo or benchmark run stays small.
MAX_REMEMBERED = 50_000
MAX_REMEMBERED_BODY = 64 * 1024
UNLISTED = "unlisted"  # a 400 the handler raised for something the table does not list


class Violation(NamedTuple):
    """One request that broke a row: rejected (status ≥ 400) or silently adjusted (200)."""

    api: str
    rule: str  # the row id (``os_operations.limit``), or ``unlisted``
    status: int
    error_code: str
    error_msg: str
    method: str
    path: str
    query: dict[str, str]


_LIVE: weakref.WeakSet[StrictLog] = weakref.WeakSet()


def live() -> list[StrictLog]:
    """Every fake workspace that exists now."""
    return list(_LIVE)


class StrictLog:
    """What the strict checks saw; a base of ``FakeWorkspace`` (thread-safe)."""

    _lock: threading.RLock

    def _init_strict(self) -> None:
        self._violations: list[Violation] = []
        self._checked: deque[tuple[str, Call]] = deque(maxlen=MAX_REMEMBERED)
        _LIVE.add(self)

    def record_violation(self, violation: Violation) -> None:
        with self._lock:
            self._violations.append(violation)

    def remember(self, api: str, call: Call) -> None:
        with self._lock:
            self._checked.append((api, call))

    @property
    def violations(self) -> list[Violation]:
        """Every rejection and adjustment since the start (or :meth:`reset_violations`)."""
        with self._lock:
            return list(self._violations)

    @property
    def rejections(self) -> list[Violation]:
        return [v for v in self.violations if v.status >= 400]

    def checked(self, api: str | None = None) -> list[Call]:
        """The requests (of ``api``) the strict checks saw, oldest first, as the rules see them
        (the last :data:`MAX_REMEMBERED`; a body over :data:`MAX_REMEMBERED_BODY` bytes is
        remembered as None, with its size)."""
        with self._lock:
            return [c for a, c in self._checked if api is None or a == api]

    def reset_violations(self) -> None:
        with self._lock:
            self._violations.clear()
            self._checked.clear()


def call_of(req: Request, now: float) -> Call:
    """The rules' view of a request: every query value, the JSON body (None if not JSON)."""
    body: Any = None
    if req.body:
        try:
            body = json.loads(req.body)
        except ValueError:
            body = None
    query = {k: list(v) for k, v in req.multi.items()}
    return Call(query=query, body=body, body_bytes=len(req.body), now=now)


def rejection(api: str, rule_status: int, code: str, msg: str) -> Response:
    """The answer of the real service to a request it refuses, in that service's shape."""
    if APIS[api].service == "iam":
        title = "Bad Request" if rule_status == 400 else "Request Entity Too Large"
        return json_response({"error": {"code": rule_status, "message": msg, "title": title}}, rule_status)
    return error_response(rule_status, code, msg)


def _violation(api: str, req: Request, rule: str, status: int, code: str, msg: str) -> Violation:
    query = {k: ",".join(v) for k, v in req.multi.items()}
    return Violation(api, rule, status, code, msg, req.method, req.path, query)


def enforce(state: StrictLog, api: str, req: Request, now: float) -> Response | None:
    """Check ``req`` against every row of ``api``: the rejection to answer, or None to go on.

    Adjusting rows are recorded and passed; the handler applies the adjustment itself.
    """
    call = call_of(req, now)
    state.remember(api, call if call.body_bytes <= MAX_REMEMBERED_BODY else replace(call, body=None))
    for rule in rules_for(api):
        problem = rule.check(call)
        if problem is None:
            continue
        status = 200 if rule.adjusts else rule.status
        state.record_violation(_violation(api, req, rule.id, status, rule.code, problem))
        if not rule.adjusts:
            return rejection(api, rule.status, rule.code, problem)
    return None


def record_unlisted(state: StrictLog, api: str, req: Request, status: int, code: str, msg: str) -> None:
    """A handler refused the request for a reason the table does not list: count it too."""
    state.record_violation(_violation(api, req, UNLISTED, status, code, msg))


def describe(violations: list[Violation]) -> str:
    """One line per violation, for a failing assertion."""
    return "\n".join(
        f"  {v.api} {v.rule}: {v.status} {v.error_code} {v.error_msg} ({v.method} {v.path} {v.query})"
        for v in violations
    )
