"""Huawei Cloud ``SDK-HMAC-SHA256`` request signing (the algorithm of huaweicloudsdkcore).

Pure functions over a method, URL, headers and body; :class:`exporter.upstream.auth.AkSkAuth`
applies them to outgoing requests. Reimplemented so the SDK stays a test-only
dependency; tests prove the ``Authorization`` header matches the SDK's byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from exporter.secret import Secret

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# Headers the AK/SK signer signs when the request carries them (host and x-sdk-date always).
SIGNED_HEADERS = ("content-type", "host", "x-project-id", "x-sdk-date", "x-security-token")


def _encode(text: str) -> str:
    # surrogateescape round-trips bytes that are not valid UTF-8 exactly as they came.
    return quote(text, safe="~", errors="surrogateescape")


def sdk_date(timestamp: float) -> str:
    """Format a UNIX timestamp as an ``X-Sdk-Date`` value (UTC, ``20250101T000000Z``)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime(SDK_DATE_FORMAT)


def canonical_uri(path: str) -> str:
    """Decode ``path``, encode each segment (only ``~`` kept) and end it with ``/``."""
    segments = unquote(path, errors="surrogateescape").split("/")
    uri = "/".join(_encode(segment) for segment in segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query_string(query: str) -> str:
    """Canonical form of an encoded query string.

    Pairs are decoded (``+`` means a space, as ``requests`` encodes ``params``),
    sorted by key then value, and re-encoded with only ``~`` kept; a repeated key
    becomes one ``k=v`` per value. A key without ``=`` gets an empty value.
    """
    pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    pairs.sort()
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def _signed_header_items(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    items = {name.lower(): str(value).strip() for name, value in headers.items() if "_" not in name}
    return sorted(items.items())


def _payload_hash(body: bytes | str | None) -> str:
    if not body:
        return EMPTY_BODY_SHA256
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()


def canonical_request(method: str, url: str, headers: Mapping[str, str], body: bytes | str | None) -> str:
    """The SDK-HMAC-SHA256 canonical request.

    ``headers`` are exactly the headers to sign (names with ``_`` are skipped, as
    the SDK does). ``url`` is the encoded URL; only its path and query are used.
    """
    parts = urlsplit(url)
    items = _signed_header_items(headers)
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in items)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query_string(parts.query),
            canonical_headers,
            ";".join(name for name, _ in items),
            _payload_hash(body),
        ]
    )


def string_to_sign(canonical: str, date: str) -> str:
    """``SDK-HMAC-SHA256``, the ``X-Sdk-Date`` value and the canonical request's hex SHA-256."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{date}\n{digest}"


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | str | None,
    ak: str,
    sk: Secret,
) -> str:
    """Return the ``Authorization`` header value for a request.

    ``headers`` are the headers to sign and must include ``X-Sdk-Date``.
    """
    date = next((str(v).strip() for k, v in headers.items() if k.lower() == "x-sdk-date"), None)
    if date is None:
        raise ValueError("headers to sign must include X-Sdk-Date")
    canonical = canonical_request(method, url, headers, body)
    signature = hmac.new(
        sk.reveal().encode("utf-8"), string_to_sign(canonical, date).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    signed = ";".join(name for name, _ in _signed_header_items(headers))
    return f"{ALGORITHM} Access={ak}, SignedHeaders={signed}, Signature={signature}"


def header_text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def host_of(netloc: str) -> str:
    return netloc.rpartition("@")[2]
