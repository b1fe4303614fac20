"""Server-side verification of Huawei Cloud ``SDK-HMAC-SHA256`` (AK/SK) signatures.

Written from the algorithm description (workspace-api.md F1), independently of any client
code: everything is rebuilt from the request *as received* (method, raw path, raw query,
header values, body bytes), the way API Gateway does it.

Canonical request = METHOD \\n URI \\n QUERY \\n HEADERS \\n SIGNED-HEADERS \\n sha256hex(body)

* URI: every path segment URL-decoded then encoded with only ``~`` safe, plus a trailing ``/``;
* QUERY: pairs decoded, sorted by key then value, re-encoded (safe ``~``), ``k=v`` joined by ``&``;
* HEADERS: ``name:value`` (lower-case name, trimmed value) for each signed header, each + ``\\n``;
* body hash: SHA-256 of the body; an empty body always hashes ``b""``; a non-empty body with
  ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` uses that literal.

String to sign = ``SDK-HMAC-SHA256\\n<X-Sdk-Date>\\n<sha256hex(canonical request)>``;
signature = hex HMAC-SHA256 keyed with the SK.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple, Protocol
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW_S = 15 * 60

_AUTH_RE = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


class Headers(Protocol):
    """What we need of the received headers (``http.client.HTTPMessage`` fits)."""

    def get(self, name: str, /) -> str | None: ...


class Verdict(NamedTuple):
    ok: bool
    ak: str
    reason: str  # APIGW.0301 message detail when not ok


def canonical_uri(raw_path: str) -> str:
    uri = "/".join(quote(unquote(segment), safe="~") for segment in raw_path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: str) -> str:
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def _header_value(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    # http.client decodes header bytes as latin-1; the signer signed the UTF-8 text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    return value.strip()


def canonical_request(
    method: str, raw_path: str, raw_query: str, headers: Headers, signed: list[str], body: bytes
) -> str | None:
    """The canonical request, or None when a signed header is missing."""
    lines = []
    for name in signed:
        value = _header_value(headers, name)
        if value is None:
            return None
        lines.append(f"{name}:{value}\n")
    content_sha = headers.get("X-Sdk-Content-Sha256")
    if not body:
        payload = hashlib.sha256(b"").hexdigest()
    elif content_sha:
        payload = content_sha.strip()
    else:
        payload = hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            "".join(lines),
            ";".join(signed),
            payload,
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: float,
    *,
    check_signature: bool = True,
) -> Verdict:
    """Check the ``Authorization`` header of a received request.

    ``secret_for`` maps an AK to its SK (None = unknown AK). ``check_signature=False``
    still requires a well-formed header, a known AK and a fresh date.
    """
    auth = headers.get("Authorization") or ""
    match = _AUTH_RE.match(auth.strip())
    if match is None:
        return Verdict(False, "", "verify aksk signature fail")
    ak, signed_list, signature = match["ak"], match["signed"], match["sig"].lower()
    sk = secret_for(ak)
    if sk is None:
        return Verdict(False, ak, "verify aksk signature fail")
    sdk_date = headers.get("X-Sdk-Date")
    if not sdk_date:
        return Verdict(False, ak, "verify aksk signature fail")
    try:
        signed_at = datetime.strptime(sdk_date.strip(), DATE_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return Verdict(False, ak, "verify aksk signature fail")
    if abs(signed_at - now) > MAX_SKEW_S:
        return Verdict(False, ak, "calc ak sk signature fail: signature expired")
    signed = signed_list.split(";")
    if not all(signed):
        return Verdict(False, ak, "verify aksk signature fail")
    if not check_signature:
        return Verdict(True, ak, "")
    canonical = canonical_request(method, raw_path, raw_query, headers, signed, body)
    if canonical is None:
        return Verdict(False, ak, "verify aksk signature fail")
    expected = hmac.new(sk.encode(), string_to_sign(sdk_date.strip(), canonical).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature):
        return Verdict(False, ak, "verify aksk signature fail")
    return Verdict(True, ak, "")
