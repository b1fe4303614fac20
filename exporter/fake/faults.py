"""Fault injection and call accounting for the fake Workspace API.

Faults are keyed by the API names of :mod:`exporter.apis` (or ``"*"`` for every API) and
are consumed one per request. ``times=None`` means "until :meth:`reset_faults`".
Every request to a known API is logged *before* its response is written, so a test
that has received a response can immediately assert on :meth:`FaultInjector.calls`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from exporter.apis import APIS, IAM_ACTIONS
from exporter.fake.garbage import GARBAGE_KINDS

ANY_API = "*"

THROTTLE_CODE = "APIGW.0308"


def throttle_message(limit: int) -> str:
    return (
        f"The throttling threshold has been reached: policy user over ratelimit,limit:{limit},time:1 minute"
    )


class CallRecord(NamedTuple):
    """One upstream request: ``query`` maps each key to its value (repeats joined by ``,``)."""

    api: str
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass
class _Fault:
    remaining: int | None  # None = forever
    status: int = 500
    error_code: str = ""
    kind: str = ""
    message: str = ""

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class FaultVerdict(NamedTuple):
    """What the server must answer instead of the real response (status 0 = nothing).

    ``body`` replaces the usual ``{error_code, error_msg}`` body when set.
    """

    status: int
    error_code: str
    error_msg: str
    body: dict[str, Any] | None = None


WORKSPACE_DENIED = "WKS.00081102"  # Workspace's documented "no permission" code
CES_DENIED = "ces.0050"  # not documented: any code works, clients key on the 403


def denied_action(api: str) -> str:
    """The IAM action a policy denial of ``api`` names: the API's own action in
    :data:`exporter.apis.IAM_ACTIONS` ("" where the API reference names none)."""
    actions = IAM_ACTIONS.get(api, ())
    return actions[0] if actions else ""


def denial(api: str) -> FaultVerdict:
    """The 403 a policy denial of ``api`` gets: Keystone style from IAM, otherwise
    ``{error_code, error_msg, encoded_authorization_message}`` naming the IAM action."""
    action = denied_action(api)
    msg = f"Policy doesn't allow {action or 'this action'} to be performed."
    service = APIS[api].service
    if service == "iam":
        keystone: dict[str, Any] = {"error": {"code": 403, "message": msg, "title": "Forbidden"}}
        return FaultVerdict(403, "", msg, keystone)
    code = CES_DENIED if service == "ces" else WORKSPACE_DENIED
    digest = hashlib.sha256(f"{api}:deny".encode()).hexdigest()
    body = {"error_code": code, "error_msg": msg, "encoded_authorization_message": f"encoded-{digest}"}
    return FaultVerdict(403, code, msg, body)


def _check_api(api: str) -> str:
    if api != ANY_API and api not in APIS:
        raise ValueError(f"unknown API name {api!r}; expected one of {sorted(APIS)} or '*'")
    return api


def _check_times(times: int | None) -> int | None:
    if times is not None and times < 0:
        raise ValueError("times must be >= 0 (or None for 'until reset')")
    return times


class FaultInjector:
    """Thread-safe fault configuration plus the call log; a base of ``FakeWorkspace``."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._lock = threading.RLock()
        self.now = now
        self._fail: dict[str, _Fault] = {}
        self._throttle: dict[str, _Fault] = {}
        self._garbage: dict[str, _Fault] = {}
        self._deny: dict[str, _Fault] = {}
        self._latency: dict[str, float] = {}
        self._rate: dict[str, int] = {}
        self._rate_hits: dict[str, deque[float]] = {}
        self._calls: Counter[str] = Counter()
        self._log: list[CallRecord] = []
        self._ignore_offset: dict[str, _Fault] = {}
        self._after: dict[str, list[tuple[int, Callable[[], None]]]] = {}  # api -> (answer n, action)
        self._answers: Counter[str] = Counter()  # successful answers per API

    # ------------------------------------------------------------------ configuration

    def fail(
        self,
        api: str,
        status: int = 500,
        times: int | None = 1,
        error_code: str = "WKS.00211401",
        error_msg: str = "",
    ) -> None:
        """Answer the next ``times`` calls of ``api`` with ``status`` and a WKS error body
        (``error_msg`` replaces the default message)."""
        with self._lock:
            self._fail[_check_api(api)] = _Fault(_check_times(times), status, error_code, message=error_msg)

    def throttle(self, api: str, times: int | None = 1) -> None:
        """Answer the next ``times`` calls of ``api`` with 429 APIGW.0308."""
        with self._lock:
            self._throttle[_check_api(api)] = _Fault(_check_times(times), 429, THROTTLE_CODE)

    def set_rate_limit(self, api: str, per_minute: int | None) -> None:
        """A sliding 60 s window (on ``now()``): calls beyond ``per_minute`` get 429 APIGW.0308."""
        with self._lock:
            _check_api(api)
            if per_minute is None:
                self._rate.pop(api, None)
                self._rate_hits.pop(api, None)
                return
            if per_minute < 0:
                raise ValueError("per_minute must be >= 0")
            self._rate[api] = per_minute
            self._rate_hits.setdefault(api, deque())

    def set_latency(self, api: str, seconds: float) -> None:
        """Delay every response of ``api`` by ``seconds`` of real time (0 removes it)."""
        with self._lock:
            _check_api(api)
            if seconds <= 0:
                self._latency.pop(api, None)
            else:
                self._latency[api] = float(seconds)

    def garbage(self, api: str, times: int | None = 1, kind: str = "notjson") -> None:
        """Corrupt the next ``times`` successful bodies of ``api`` (see
        :func:`exporter.fake.garbage.corrupt`)."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"kind must be one of {GARBAGE_KINDS}")
        with self._lock:
            self._garbage[_check_api(api)] = _Fault(_check_times(times), kind=kind)

    def deny(self, api: str, times: int | None = None) -> None:
        """Answer calls of ``api`` with the 403 of a missing IAM permission (see :func:`denial`);
        by default until :meth:`reset_faults`, as a policy stays until someone changes it."""
        with self._lock:
            self._deny[_check_api(api)] = _Fault(_check_times(times), 403)

    def allow(self, api: str) -> None:
        """Undo :meth:`deny` for ``api`` (the policy was fixed), leaving other faults alone."""
        with self._lock:
            self._deny.pop(_check_api(api), None)

    def ignore_offset(self, api: str, times: int | None = None) -> None:
        """Serve the next ``times`` calls of ``api`` as if they asked for ``offset=0``: an
        upstream that ignores the offset (by default until :meth:`reset_faults`)."""
        with self._lock:
            self._ignore_offset[_check_api(api)] = _Fault(_check_times(times))

    def after_answer(self, api: str, answer: int, action: Callable[[], None]) -> None:
        """Run ``action`` once, right after the ``answer``-th successful answer of ``api`` (from
        now) was computed and before it is sent: a change in the middle of a listing, such as a
        desktop deleted between two pages."""
        if answer < 1:
            raise ValueError("answer counts from 1")
        with self._lock:
            due = self._answers[_check_api(api)] + answer
            self._after.setdefault(api, []).append((due, action))

    def listing_query(self, api: str, multi: dict[str, list[str]]) -> dict[str, list[str]]:
        """The query the handler of ``api`` sees (the server calls this before the handler)."""
        with self._lock:
            if "offset" in multi and self._lookup(self._ignore_offset, api) is not None:
                return {**multi, "offset": ["0"]}
        return multi

    def reset_faults(self) -> None:
        with self._lock:
            self._ignore_offset.clear()
            self._after.clear()
            self._deny.clear()
            self._fail.clear()
            self._throttle.clear()
            self._garbage.clear()
            self._latency.clear()
            self._rate.clear()
            self._rate_hits.clear()

    # ------------------------------------------------------------------ accounting

    def calls(self, api: str | None = None) -> int:
        """Requests made to ``api`` (all known APIs when None), whatever their status."""
        with self._lock:
            return sum(self._calls.values()) if api is None else self._calls[api]

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    @property
    def call_log(self) -> list[CallRecord]:
        with self._lock:
            return list(self._log)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self._log.clear()

    def record_call(self, api: str, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self._lock:
            self._calls[api] += 1
            self._log.append(CallRecord(api, method, path, dict(query), status))
            due: list[Callable[[], None]] = []
            if 200 <= status < 300:
                self._answers[api] += 1
                n = self._answers[api]
                pending = self._after.get(api, [])
                due = [action for at, action in pending if at == n]
                self._after[api] = [(at, action) for at, action in pending if at != n]
            for action in due:  # under the lock: the next request sees the change
                action()

    # ------------------------------------------------------------------ evaluation (server side)

    def _lookup(self, table: dict[str, _Fault], api: str) -> _Fault | None:
        for key in (api, ANY_API):
            fault = table.get(key)
            if fault is not None and fault.take():
                return fault
        return None

    def latency_for(self, api: str) -> float:
        with self._lock:
            return self._latency.get(api, self._latency.get(ANY_API, 0.0))

    def pre_request(self, api: str) -> FaultVerdict:
        """Deny, rate limit, throttle and fail checks, in that order; consumes one count if it fires."""
        with self._lock:
            if self._lookup(self._deny, api) is not None:
                return denial(api)
            for key in (api, ANY_API):
                if key in self._rate:
                    limit = self._rate[key]
                    hits = self._rate_hits[key]
                    now = self.now()
                    while hits and hits[0] <= now - 60.0:
                        hits.popleft()
                    if len(hits) >= limit:
                        return FaultVerdict(429, THROTTLE_CODE, throttle_message(limit))
                    hits.append(now)
            if self._lookup(self._throttle, api) is not None:
                return FaultVerdict(429, THROTTLE_CODE, throttle_message(100))
            failure = self._lookup(self._fail, api)
            if failure is not None:
                msg = failure.message or "Injected failure from the fake API"
                return FaultVerdict(failure.status, failure.error_code, msg)
            return FaultVerdict(0, "", "")

    def garbage_kind(self, api: str) -> str:
        """The garbage kind to apply to this successful response ("" for none)."""
        with self._lock:
            fault = self._lookup(self._garbage, api)
            return fault.kind if fault is not None else ""
