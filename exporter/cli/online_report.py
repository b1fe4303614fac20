"""The table ``check-config --online`` prints: rows, cells, advice, the credentials row.

Cells hold only API names, statuses, error codes, causes and upstream messages, each
scrubbed of every registered secret and stripped of control characters, so nothing a
request carried is printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from exporter.apis import IAM_ACTIONS
from exporter.config.credentials import Credentials
from exporter.errors import InvalidResponseError, UpstreamError
from exporter.secret import scrub
from exporter.upstream.breaker import GateState
from exporter.upstream.keys import CredentialInfo

Status = Literal["ok", "failed", "skipped"]

_ACTION = re.compile(r"\b[a-z][a-z0-9]*:[A-Za-z0-9*]+:[A-Za-z0-9*]+\b")
_MAX_CELL = 160


@dataclass(frozen=True)
class Row:
    """One line of the table: what one call to one API of one target showed."""

    target: str
    api: str
    status: Status
    result: str  # "ok", "skipped", "not tried", "HTTP 403 WKS.00081102", "connection refused", ...
    note: str = ""


def grant_for(api: str, error: UpstreamError) -> str:
    """The IAM action(s) a 403 of ``api`` asks for: the one the denial names, else the table's.

    When the denial names the API's own action, the actions it depends on are added.
    """
    known = IAM_ACTIONS.get(api, ())
    named = _ACTION.search(error.error_msg)
    if named is None:
        return " + ".join(known)
    if known and named.group(0) == known[0]:
        return " + ".join(known)
    return named.group(0)


def describe(error: UpstreamError) -> str:
    """The result cell of a failed call: HTTP status and error code, or the cause class."""
    if isinstance(error, InvalidResponseError) and 200 <= error.status < 300:
        return f"invalid answer: {error.cause or error.error_msg or 'unexpected body'}"
    if error.status:
        # Keystone's error body carries the status again as its code.
        code = "" if error.error_code == str(error.status) else error.error_code
        return f"HTTP {error.status} {code}".strip()
    return error.cause or type(error).__name__


def advice(api: str, error: UpstreamError) -> str:
    if error.status == 403 and api != "iam_tokens":
        action = grant_for(api, error)
        if action:
            return f"grant {action}"
        return "permission denied; the API reference names no IAM action: grant read access to this API"
    if api == "iam_tokens" and error.status in (400, 401, 403):
        return "IAM refused the token: check auth.username, auth.domain_name, the password and project_id"
    if error.status == 401:
        return "credentials rejected: check the AK/SK (and security token), or the IAM user"
    if error.status == 0:
        return f"no answer from {error.host}" if error.host else "no answer"
    if isinstance(error, InvalidResponseError):
        return ""
    return error.error_msg[:120]


def cell(text: str) -> str:
    """``text`` scrubbed of secrets, on one line, printable, bounded."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in scrub(text))
    return clean if len(clean) <= _MAX_CELL else clean[: _MAX_CELL - 3] + "..."


def credentials_row(
    credentials: Credentials, gate: GateState, info: CredentialInfo, now: float, error: UpstreamError | None
) -> Row:
    """Which credentials the calls used and whether they worked: the mode (the chain's step
    that answered, and those passed over), their source, and when temporary ones expire."""
    # Most telling first: a long cell is cut at the end.
    note = f"mode {info.mode}"
    if info.expires_at is not None:
        left = (info.expires_at - now) / 60
        at = datetime.fromtimestamp(info.expires_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        note += f", expire {at} (in {left:.0f} min)"
    note += f": {info.source}"
    if credentials.chain:
        passed = ", ".join(step.split(":")[0] for step in credentials.skipped)
        note += f" (the SDK's chain{'; passed over ' + passed if passed else ''})"
    if error is not None:
        return Row("", "credentials", "failed", describe(error), f"{note}; {error.error_msg or error.cause}")
    if gate.open:
        return Row("", "credentials", "failed", "rejected", note)
    if not gate.verified:
        return Row("", "credentials", "skipped", "not verified", f"{note}; no call was answered")
    return Row("", "credentials", "ok", "ok", note)


def render(rows: list[Row]) -> str:
    """The table, one row per call, columns aligned, then a one-line summary."""
    header = ("TARGET", "API", "RESULT", "NOTE")
    lines = [tuple(cell(v) for v in (r.target, r.api, r.result, r.note)) for r in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(3)]
    out = []
    for line in [header, *lines]:
        out.append("  ".join(v.ljust(w) for v, w in zip(line[:3], widths, strict=True)) + "  " + line[3])
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "failed", "skipped")}
    out.append(
        f"{len(rows)} checks: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped"
    )
    return "\n".join(line.rstrip() for line in out) + "\n"
