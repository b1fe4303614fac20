"""Why an exchange failed, said without quoting it.

An exception text from ``requests``, ``urllib3`` or ``http.client`` can carry a header, a
URL or the prepared request (with a token or a password in it): errors name the cause
class instead (:func:`network_cause`, with the fix when there is one), or the setting a
refused header value came from (:func:`bad_header`).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import requests
import urllib3

TLS_FIX = "trust its CA with http.ca_file, or set http.tls_verify: false"
# Which credential a header carries, for errors that must name it without its value.
_HEADER_SOURCES = {
    "authorization": "the access key or secret key (auth.ak_env / auth.sk_env or their *_file)",
    "x-security-token": "the security token (auth.security_token_env or auth.security_token_file)",
    "x-auth-token": "the IAM token (answer of the IAM token call)",
    "x-project-id": "the project id (project_id or the IAM answer)",
}


def _chain(exc: BaseException) -> Iterator[object]:
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo and len(seen) < 32:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        if isinstance(cur, BaseException):
            todo.extend(a for a in cur.args if isinstance(a, BaseException))
            todo.extend(x for x in (cur.__cause__, cur.__context__) if x is not None)
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)


def network_cause(exc: BaseException) -> str:
    """The cause class of a failure without an answer, with the fix when there is one."""
    chain = list(_chain(exc))
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return f"tls verification failed ({TLS_FIX})"
    if any(isinstance(e, ssl.SSLError | requests.exceptions.SSLError) for e in chain):
        return "tls handshake failed"
    if any(isinstance(e, socket.gaierror | urllib3.exceptions.NameResolutionError) for e in chain):
        return "dns lookup failed"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError) for e in chain):
        return "connect timeout (http.connect_timeout)"
    if any(
        isinstance(e, requests.Timeout | TimeoutError | urllib3.exceptions.ReadTimeoutError) for e in chain
    ):
        return "read timeout (http.read_timeout)"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset"
    return "connection failed"


def bad_header(prepared: requests.PreparedRequest) -> str:
    headers: dict[str, object] = dict(prepared.headers)
    for name, value in headers.items():
        text = str(value, "latin-1") if isinstance(value, bytes) else str(value)
        if text != text.strip() or any(c in text for c in "\r\n\0") or not text.isprintable():
            return _HEADER_SOURCES.get(name.lower(), f"the {name} header")
    return "a request header"
