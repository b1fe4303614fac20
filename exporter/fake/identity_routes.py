"""Handlers of the fake credential providers: ECS metadata, CCE pod identity, STS (OIDC), IAM
federation. Each answers the way the SDK's accessors read it (``huaweicloudsdkcore/auth/
internal.py``) and issues temporary credentials that the fake gateway then verifies (see
:mod:`exporter.fake.identity`). All of them are served on the fake's own loopback port, so
tests point ``auth.metadata_url``, ``HC_CONTAINER_CREDENTIALS_FULL_URI``,
``HUAWEICLOUD_SDK_STS_ENDPOINT`` and the IAM endpoint at it: never at 169.254.169.254.
"""

from __future__ import annotations

import secrets

from exporter.fake.data import iso_micros
from exporter.fake.proto import Request, Response, error_response, json_response
from exporter.fake.state import FakeWorkspace

METADATA_TOKEN_PATH = "/meta-data/latest/api/token"  # noqa: S105 - a path
METADATA_KEY_PATH = "/openstack/latest/securitykey"
POD_IDENTITY_PATH = "/v1/pod-identity/credentials"
OIDC_PATH = "/v5/agencies/assume-with-oidc"
IDP_TOKEN_PATH = "/v3.0/OS-AUTH/id-token/tokens"  # noqa: S105 - a path
SECURITY_TOKENS_PATH = "/v3.0/OS-CREDENTIAL/securitytokens"
AGENCY_MISSING = "Please configure Cloud Service Agency first"
#: The names these routes are counted under (not in exporter.apis: they fetch credentials).
API_NAMES = frozenset(
    {
        "metadata_token",
        "metadata_securitykey",
        "pod_identity",
        "sts_oidc",
        "iam_id_token",
        "iam_securitytokens",
    }
)


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain")


def _refuse(state: FakeWorkspace, api: str, status: int, code: str, msg: str) -> Response:
    state.note_auth_failure(api, msg)
    return error_response(status, code, msg)


def metadata_token(state: FakeWorkspace, req: Request) -> Response:
    """PUT /meta-data/latest/api/token: a session token for the metadata API."""
    if not state.metadata_token_api:
        return _text(404, "Not Found")
    token = "fake-metadata-" + secrets.token_urlsafe(24)
    with state._lock:
        state._metadata_tokens.add(token)
    return _text(200, token)


def metadata_securitykey(state: FakeWorkspace, req: Request) -> Response:
    """GET /openstack/latest/securitykey: the agency's temporary AK/SK (token required when the
    token API exists, as on a current ECS)."""
    token = req.header("X-Metadata-Token").strip()
    with state._lock:
        known = token in state._metadata_tokens
    if state.metadata_token_api and not known:
        return _text(401, "Unauthorized")
    if not state.metadata_agency:
        return _text(404, AGENCY_MISSING)
    return json_response({"credential": state.issue_temporary("metadata")})


def pod_identity(state: FakeWorkspace, req: Request) -> Response:
    """POST <pod identity URI>: the pod's agency credentials for the projected token."""
    if req.header("Authorization").strip() != state.pod_identity_token:
        return _refuse(state, "pod_identity", 401, "CCE.01040001", "The pod identity token is invalid.")
    if req.json() != {}:
        return error_response(400, "CCE.01040002", "The body must be an empty JSON object.")
    return json_response({"credential": state.issue_temporary("pod_identity")})


def sts_oidc(state: FakeWorkspace, req: Request) -> Response:
    """POST /v5/agencies/assume-with-oidc: temporary credentials of the agency for an ID token."""
    doc = req.json()
    if not isinstance(doc, dict):
        return error_response(400, "STS.0001", "The request body must be a JSON object.")
    required = ("provider_urn", "agency_urn", "agency_session_name", "id_token", "duration_seconds")
    missing = [k for k in required if k not in doc]
    if missing:
        return error_response(400, "STS.0001", f"Missing parameter: {', '.join(missing)}")
    duration = doc["duration_seconds"]
    if not isinstance(duration, int) or isinstance(duration, bool) or not 900 <= duration <= 43200:
        return error_response(400, "STS.0002", "duration_seconds must be 900-43200.")
    if (doc["provider_urn"], doc["agency_urn"]) != (state.oidc_provider_urn, state.oidc_agency_urn):
        return _refuse(
            state, "sts_oidc", 403, "STS.0403", "The agency does not trust this identity provider."
        )
    if doc["id_token"] != state.oidc_id_token:
        return _refuse(state, "sts_oidc", 401, "STS.0401", "The ID token is invalid or expired.")
    issued = state.issue_temporary("oidc")
    # The STS v5 shape, as the SDK's parser reads it (credentials / access_key_id / expiration).
    body = {
        "credentials": {
            "access_key_id": issued["access"],
            "secret_access_key": issued["secret"],
            "security_token": issued["securitytoken"],
            "expiration": issued["expires_at"],
        }
    }
    return json_response(body, 201)


def iam_id_token(state: FakeWorkspace, req: Request) -> Response:
    """POST /v3.0/OS-AUTH/id-token/tokens (``X-Idp-Id``): an unscoped token for an ID token."""
    doc = req.json()
    try:
        token = doc["auth"]["id_token"]["id"]
    except (KeyError, TypeError):
        return error_response(400, "IAM.0001", "The request body is malformed.")
    if req.header("X-Idp-Id") != state.idp_id or token != state.idp_id_token:
        return _refuse(state, "iam_id_token", 401, "IAM.0002", "The ID token is invalid.")
    unscoped = "MIIunscoped" + secrets.token_urlsafe(32)
    with state._lock:
        state._unscoped.add(unscoped)
    body = {"token": {"expires_at": iso_micros(state.now() + 86400), "methods": ["mapped"]}}
    return json_response(body, 201, {"X-Subject-Token": unscoped})


def iam_securitytokens(state: FakeWorkspace, req: Request) -> Response:
    """POST /v3.0/OS-CREDENTIAL/securitytokens with the token method: temporary AK/SK."""
    doc = req.json()
    try:
        identity = doc["auth"]["identity"]
        methods, token = identity["methods"], identity["token"]["id"]
    except (KeyError, TypeError):
        return error_response(400, "IAM.0001", "The request body is malformed.")
    with state._lock:
        known = token in state._unscoped
    if methods != ["token"] or not known:
        return _refuse(state, "iam_securitytokens", 401, "IAM.0003", "The token is invalid.")
    return json_response({"credential": state.issue_temporary("idp")}, 201)
