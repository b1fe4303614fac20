"""Request/response types and parameter helpers shared by the fake API's handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from exporter.constraints import default_limit
from exporter.fake.data import JsonDict

INVALID_PARAM = "WKS.00211102"
OPERATION_FAILED = "WKS.00211401"
NOT_FOUND = "WKS.00211404"
NO_PERMISSION = "WKS.00081102"
CES_BAD_BODY = "ces.0014"
CES_BAD_URL = "ces.0013"
NOT_PUBLISHED = "The API does not exist or has not been published in the environment"


class BadRequest(Exception):
    """Raised by handlers; the server turns it into an error body."""

    def __init__(self, msg: str, code: str = INVALID_PARAM, status: int = 400) -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = code
        self.status = status


@dataclass
class Request:
    method: str
    path: str  # raw path, without the query
    query: dict[str, str]  # first value of each key
    multi: dict[str, list[str]]  # every value of each key
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    def header(self, name: str) -> str:
        """A request header's value ("" when absent)."""
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise BadRequest(f"The request body is not valid JSON: {exc}", "APIGW.0201") from exc

    def get(self, name: str) -> str | None:
        """A query parameter; empty strings count as absent."""
        value = self.query.get(name)
        return value if value else None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), headers=dict(headers or {}))


def error_response(status: int, code: str, msg: str) -> Response:
    return json_response({"error_code": code, "error_msg": msg}, status)


def to_int(
    value: Any, name: str, *, lo: int | None = None, hi: int | None = None, code: str = INVALID_PARAM
) -> int:
    """``value`` as an int within [lo, hi], else :class:`BadRequest`."""
    if isinstance(value, bool):
        raise BadRequest(f"Invalid parameter: {name}", code)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid parameter: {name}", code) from None
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise BadRequest(f"Invalid parameter: {name} must be within [{lo}, {hi}]", code)
    return number


def paging(req: Request, api: str) -> tuple[int, int]:
    """``(offset, limit)`` from the query, ``limit`` defaulting as the constraint table says
    (the strict checks have already refused values out of range)."""
    offset = to_int(req.get("offset") or 0, "offset", lo=0)
    limit = to_int(req.get("limit") or default_limit(api), "limit", lo=0)
    return offset, limit


def page(items: list[JsonDict], offset: int, limit: int) -> list[JsonDict]:
    return items[offset : offset + limit]
