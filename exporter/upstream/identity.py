"""Temporary credentials from the providers of the SDK's chain: ECS metadata, CCE pod identity,
OIDC → STS and IdP federation.

Each fetcher makes the calls the SDK makes (``huaweicloudsdkcore/auth/internal.py``) through
the exporter's own transport (bounded exchange, no redirects, TLS as configured), counts
them under their API names and budgets, and returns a :class:`TemporaryCredential`. Every
secret in an answer is wrapped (and so registered with the scrubber) before anything else
touches it; a failure is an :class:`~exporter.errors.AuthError` that never quotes a request.

The answers are read as the SDK reads them: the credential object may sit under
``credential`` or ``credentials``, its fields may be called ``access``/``accessKeyId``/
``access_key_id``, ``secret``/``secretAccessKey``/``secret_access_key``,
``securitytoken``/``securityToken``/``security_token`` and ``expires_at``/``expiration``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from exporter.clock import Clock
from exporter.config.credential_chain import OidcSpec, read_small_text
from exporter.errors import AuthError, ShutdownError, UpstreamError, parse_error_body
from exporter.secret import Secret, register
from exporter.timeutil import parse_time
from exporter.upstream.budget import Budget
from exporter.upstream.jsonbody import loads_bounded
from exporter.upstream.transport import Transport, host_of_url

log = logging.getLogger(__name__)

# (api, HTTP status or 0 when no answer came, seconds, the error code of a refusal or "")
OnRequest = Callable[[str, int, float, str], None]

METADATA_TOKEN_PATH = "/meta-data/latest/api/token"  # noqa: S105 - a path
METADATA_KEY_PATH = "/openstack/latest/securitykey"
METADATA_TOKEN_TTL = 6 * 3600  # the SDK's
AGENCY_MISSING = "Please configure Cloud Service Agency first"
OIDC_PATH = "/v5/agencies/assume-with-oidc"
IDP_TOKEN_PATH = "/v3.0/OS-AUTH/id-token/tokens"  # noqa: S105 - a path
SECURITY_TOKENS_PATH = "/v3.0/OS-CREDENTIAL/securitytokens"
IDP_DURATION = 6 * 3600  # the SDK's FederalAccessor
# An answer without a readable expiry is trusted for the shortest STS lifetime only.
ASSUMED_LIFETIME = 900.0
# A credential answer is a few hundred bytes.
MAX_ANSWER_BYTES = 64 * 1024

_FIELDS = {
    "access": ("access", "accessKeyId", "access_key_id"),
    "secret": ("secret", "secretAccessKey", "secret_access_key"),
    "token": ("securitytoken", "securityToken", "security_token"),
    "expires": ("expires_at", "expiration"),
}


@dataclass(frozen=True)
class TemporaryCredential:
    access: str
    secret: Secret
    security_token: Secret
    expires_at: float  # wall-clock epoch seconds


class Fetcher(Protocol):
    """Fetches one temporary credential; raises AuthError (or ShutdownError)."""

    @property
    def mode(self) -> str: ...

    def describe(self) -> str: ...
    def fetch(self) -> TemporaryCredential: ...


class Http:
    """The exchange every fetcher uses: budget, bounded transport, accounting, clean errors."""

    def __init__(
        self,
        session: requests.Session,
        transport: Transport,
        verify: bool | str,
        clock: Clock,
        budget: Budget | None = None,
        stop: threading.Event | None = None,
        on_request: OnRequest | None = None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.verify = verify
        self.clock = clock
        self.budget = budget
        self.stop = stop or threading.Event()
        self.on_request = on_request

    def send(
        self, api: str, method: str, url: str, headers: Mapping[str, str], body: object = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """``(status, headers, body)``; a failure without an answer is an AuthError with a cause."""
        if self.budget is not None and not self.budget.acquire(api, self.stop):
            raise ShutdownError(f"client closed while waiting for the {api} budget")
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        started = time.perf_counter()
        status = 0
        failure: UpstreamError | None = None
        try:
            prepared = self.session.prepare_request(
                requests.Request(method, url, headers=dict(headers), data=data)
            )
            resp, content = self.transport.exchange(api, prepared, self.verify, MAX_ANSWER_BYTES)
            status = resp.status_code
        except UpstreamError as e:
            failure = e
        finally:
            if self.on_request is not None:
                # A credential provider's refusal is counted like any upstream refusal.
                code = parse_error_body(content)[0] if status >= 400 else ""
                self.on_request(api, status, time.perf_counter() - started, code)
        if failure is not None:
            # Outside the except block: the request (a token, a password) must not hang off it.
            raise AuthError(
                api, failure.status, host=failure.host, cause=failure.cause or type(failure).__name__
            )
        return status, resp.headers, content


def refused(api: str, url: str, status: int, content: bytes, headers: Mapping[str, str]) -> AuthError:
    """The AuthError for a non-2xx answer of a credential provider (body text scrubbed)."""
    code, msg = parse_error_body(content)
    if not code and not msg:
        msg = content[:200].decode("utf-8", "replace").strip()
    return AuthError(
        api, status, code, msg or f"HTTP {status}", headers.get("X-Request-Id", ""), host=host_of_url(url)
    )


def parse_credential(api: str, url: str, content: bytes | str, now: float) -> TemporaryCredential:
    """A credential answer read as the SDK reads it (see the module docstring)."""
    host = host_of_url(url)
    try:
        doc: Any = loads_bounded(content)
    except (ValueError, RecursionError):
        raise AuthError(api, 200, host=host, cause="credential answer is not JSON") from None
    if isinstance(doc, dict):
        doc = doc.get("credential", doc.get("credentials", doc))
    if not isinstance(doc, dict):
        raise AuthError(api, 200, host=host, cause="credential answer is not a JSON object")
    found: dict[str, str] = {}
    for name, keys in _FIELDS.items():
        value = next((doc[k] for k in keys if isinstance(doc.get(k), str) and doc[k].strip()), "")
        found[name] = value.strip() if isinstance(value, str) else ""
    # Wrap (register) every secret before any check can put it into a message.
    secret, token = Secret(found["secret"]), Secret(found["token"])
    register(found["access"])
    for name in ("access", "secret"):
        if not found[name]:
            raise AuthError(api, 200, host=host, cause=f"credential answer has no {name} key")
    for name in ("access", "secret", "token"):
        if any(not 0x20 < ord(ch) < 0x7F for ch in found[name]):
            raise AuthError(api, 200, host=host, cause=f"credential {name} is not printable ASCII")
    expires = parse_time(found["expires"])
    if expires is None:
        log.warning("credential answer has no readable expiry, refreshing it within 15 minutes api=%s", api)
        expires = now + ASSUMED_LIFETIME
    return TemporaryCredential(found["access"], secret, token, expires)


def _json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json;charset=UTF-8"}


class MetadataFetcher:
    """Agency credentials from the ECS metadata service, as ``MetadataAccessor`` gets them: a
    session token from ``PUT /meta-data/latest/api/token`` (kept until refused), then
    ``GET /openstack/latest/securitykey``. A metadata service that has no token API (404,
    405, 503) is asked without one."""

    mode = "metadata"

    def __init__(self, http: Http, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token: Secret | None = None
        self._token_tried = False

    def describe(self) -> str:
        return f"ECS metadata {self._base} (agency)"

    def _update_token(self, must: bool) -> None:
        url = self._base + METADATA_TOKEN_PATH
        headers = {"X-Metadata-Token-Ttl-Seconds": str(METADATA_TOKEN_TTL)}
        status, resp_headers, content = self._http.send("metadata_token", "PUT", url, headers)
        self._token_tried = True
        if status == 200:
            self._token = Secret(content.decode("utf-8", "replace").strip())
        elif status in (404, 405, 503) and not must:
            self._token = None
        else:
            raise refused("metadata_token", url, status, content, resp_headers)

    def fetch(self) -> TemporaryCredential:
        if self._token is None and not self._token_tried:
            self._update_token(must=False)
        url = self._base + METADATA_KEY_PATH
        status, headers, content = self._get(url)
        if status == 401 and AGENCY_MISSING.encode() not in content:
            self._update_token(must=True)
            status, headers, content = self._get(url)
        if status >= 400 or status < 200:
            raise refused("metadata_securitykey", url, status, content, headers)
        return parse_credential("metadata_securitykey", url, content, self._http.clock.time())

    def _get(self, url: str) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"X-Metadata-Token": self._token.reveal()} if self._token else {}
        return self._http.send("metadata_securitykey", "GET", url, headers)


class PodIdentityFetcher:
    """CCE pod identity: ``POST $HC_CONTAINER_CREDENTIALS_FULL_URI`` with the token file's
    contents (read again for every fetch: the kubelet rotates it) as ``Authorization``."""

    mode = "pod_identity"

    def __init__(self, http: Http, uri: str, token_file: str) -> None:
        self._http = http
        self._uri = uri
        self._token_file = token_file

    def describe(self) -> str:
        return f"CCE pod identity {self._uri}"

    def fetch(self) -> TemporaryCredential:
        token = _token_from_file("pod_identity", self._token_file, self._uri)
        headers = {"Authorization": token.reveal(), "Content-Type": "application/json"}
        status, resp_headers, content = self._http.send("pod_identity", "POST", self._uri, headers, {})
        if not 200 <= status < 300:
            raise refused("pod_identity", self._uri, status, content, resp_headers)
        return parse_credential("pod_identity", self._uri, content, self._http.clock.time())


class OidcFetcher:
    """OIDC → STS: ``POST <sts>/v5/agencies/assume-with-oidc`` with the ID token (from the file
    at every exchange when a file names it, so a rotated service-account token is used)."""

    mode = "oidc"

    def __init__(self, http: Http, sts_base: Callable[[], str], spec: OidcSpec) -> None:
        self._http = http
        self._sts_base = sts_base
        self._spec = spec

    def describe(self) -> str:
        return f"OIDC agency {self._spec.agency_urn} via STS {self._sts_base()}"

    def fetch(self) -> TemporaryCredential:
        spec = self._spec
        url = self._sts_base().rstrip("/") + OIDC_PATH
        token = spec.id_token if spec.id_token else _token_from_file("sts_oidc", spec.id_token_file, url)
        payload: dict[str, object] = {
            "provider_urn": spec.provider_urn,
            "agency_urn": spec.agency_urn,
            "agency_session_name": spec.session_name,
            "id_token": token.reveal(),
            "duration_seconds": spec.duration_seconds,
        }
        if spec.policy:
            payload["policy"] = spec.policy
        if spec.policy_ids:
            payload["policy_ids"] = list(spec.policy_ids)
        status, headers, content = self._http.send("sts_oidc", "POST", url, _json_headers(), payload)
        if not 200 <= status < 300:
            raise refused("sts_oidc", url, status, content, headers)
        return parse_credential("sts_oidc", url, content, self._http.clock.time())


class IdpFetcher:
    """IdP federation (``HUAWEICLOUD_SDK_IDP_ID`` + ``HUAWEICLOUD_SDK_ID_TOKEN_FILE``): an
    unscoped IAM token for the ID token, exchanged for temporary AK/SK, as ``FederalAccessor``."""

    mode = "idp"

    def __init__(self, http: Http, iam_base: Callable[[], str], idp_id: str, token_file: str) -> None:
        self._http = http
        self._iam_base = iam_base
        self._idp_id = idp_id
        self._token_file = token_file

    def describe(self) -> str:
        return f"IdP {self._idp_id} via IAM {self._iam_base()}"

    def fetch(self) -> TemporaryCredential:
        base = self._iam_base().rstrip("/")
        url = base + IDP_TOKEN_PATH
        id_token = _token_from_file("iam_id_token", self._token_file, url)
        headers = {**_json_headers(), "X-Idp-Id": self._idp_id}
        body = {"auth": {"id_token": {"id": id_token.reveal()}}}
        status, resp_headers, content = self._http.send("iam_id_token", "POST", url, headers, body)
        if not 200 <= status < 300:
            raise refused("iam_id_token", url, status, content, resp_headers)
        unscoped = Secret(resp_headers.get("X-Subject-Token", "").strip())
        if not unscoped:
            raise AuthError(
                "iam_id_token", status, host=host_of_url(url), cause="answer has no X-Subject-Token"
            )
        url = base + SECURITY_TOKENS_PATH
        identity = {
            "methods": ["token"],
            "token": {"id": unscoped.reveal(), "duration_seconds": IDP_DURATION},
        }
        status, resp_headers, content = self._http.send(
            "iam_securitytokens", "POST", url, _json_headers(), {"auth": {"identity": identity}}
        )
        if not 200 <= status < 300:
            raise refused("iam_securitytokens", url, status, content, resp_headers)
        return parse_credential("iam_securitytokens", url, content, self._http.clock.time())


class FirstAnswering:
    """The chain's last two steps: ask each fetcher in turn until one answers, then keep it."""

    def __init__(self, fetchers: list[Fetcher]) -> None:
        self._fetchers = fetchers
        self._chosen: Fetcher | None = None

    @property
    def mode(self) -> str:
        return self._chosen.mode if self._chosen else self._fetchers[0].mode

    def describe(self) -> str:
        if self._chosen is not None:
            return self._chosen.describe()
        return ", then ".join(f.describe() for f in self._fetchers)

    def fetch(self) -> TemporaryCredential:
        if self._chosen is not None:
            return self._chosen.fetch()
        errors: list[AuthError] = []
        for fetcher in self._fetchers:
            try:
                found = fetcher.fetch()
            except AuthError as e:
                errors.append(e)
                continue
            self._chosen = fetcher
            log.info("credentials found provider=%s", fetcher.describe())
            return found
        first = errors[0]
        why = "; ".join(str(e) for e in errors)
        raise AuthError(
            first.api, first.status, first.error_code, why[:500], host=first.host, cause=first.cause
        )


def _token_from_file(api: str, path: str, url: str) -> Secret:
    text, why = read_small_text(path)
    token = Secret(text.strip())
    if why or not token:
        raise AuthError(api, host=host_of_url(url), cause=f"token file {path[:200]} {why or 'is empty'}")
    if any(not 0x20 <= ord(ch) < 0x7F for ch in token.reveal()):
        raise AuthError(api, host=host_of_url(url), cause=f"token file {path[:200]} is not printable ASCII")
    return token
