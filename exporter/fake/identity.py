"""The fake's identity side: token expiry and revocation, temporary credentials, lockouts.

:class:`IdentityMixin` (a base of :class:`~exporter.fake.state.FakeWorkspace`) holds

* IAM tokens revoked (answered ``APIGW.0301`` "decrypt token fail") or stale (``APIG.0307``
  "The token must be updated"), besides the expired ones the state already knows;
* temporary credentials issued by the fake ECS metadata service, CCE pod identity, STS
  (OIDC) and IAM federation (see :mod:`exporter.fake.identity_routes`); requests signed
  with them must carry the matching ``X-Security-Token`` and arrive before they expire;
* the gateway's AK lockout (5 signature failures within 5 minutes lock the AK for 5
  minutes: ``AK access failed to reach the limit, forbidden``) and IAM's login protection
  (5 failed logins within 15 minutes lock the user for 15 minutes);
* the log of every auth-failing call (:meth:`IdentityMixin.auth_failures`), on the fake's
  clock, so a test can count what a wrong password or AK/SK costs the account.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from exporter.fake import signing
from exporter.fake.data import iso_micros

LOCK_FAILURES = 5
AK_LOCK_WINDOW = AK_LOCK_SECONDS = 300.0
LOGIN_LOCK_WINDOW = LOGIN_LOCK_SECONDS = 900.0
AK_LOCKED = "AK access failed to reach the limit, forbidden"

#: Identity settings a test may change (``state.identity(**settings)``, ``POST /_fake/identity``).
IDENTITY_SETTINGS: dict[str, type] = {
    "temporary_ttl": float,  # lifetime of issued temporary credentials, seconds
    "metadata_agency": bool,  # False: the ECS has no agency ("Please configure Cloud Service Agency first")
    "metadata_token_api": bool,  # False: an old metadata service without the token API (404)
    "pod_identity_token": str,  # the Authorization value pod identity accepts
    "oidc_provider_urn": str,
    "oidc_agency_urn": str,
    "oidc_id_token": str,  # the ID token STS accepts
    "idp_id": str,
    "idp_id_token": str,
    "lockouts": bool,  # False: no AK or user lockout
    "temporary_fixed": bool,  # True: each provider hands out the same credential every time
}


class AuthFailure(NamedTuple):
    at: float  # the fake's clock
    api: str
    reason: str


@dataclass
class Temporary:
    secret: str
    security_token: str
    expires_at: float
    source: str


class IdentityMixin:
    """See the module docstring. Uses the state's ``_lock``, ``now``, ``ak``/``sk`` and tokens."""

    def _init_identity(self) -> None:
        self.temporary_ttl = 3600.0
        self.metadata_agency = True
        self.metadata_token_api = True
        self.pod_identity_token = "fake-pod-identity-token"  # noqa: S105 - a fake credential
        self.oidc_provider_urn = "iam::0000:identity-provider:fake-oidc"
        self.oidc_agency_urn = "iam::0000:agency:fake-exporter"
        self.oidc_id_token = "fake.oidc.id-token"  # noqa: S105 - a fake credential
        self.idp_id = "fake-idp"
        self.idp_id_token = "fake.idp.id-token"  # noqa: S105 - a fake credential
        self.lockouts = True
        self.temporary_fixed = False
        self._fixed: dict[str, dict[str, str]] = {}
        self._revoked: set[str] = set()
        self._stale: set[str] = set()
        self._temporary: dict[str, Temporary] = {}
        self._metadata_tokens: set[str] = set()
        self._unscoped: set[str] = set()
        self._signature_failures: dict[str, deque[float]] = {}
        self._ak_locked_until: dict[str, float] = {}
        self._login_failures: deque[float] = deque()
        self._user_locked_until = 0.0
        self._auth_failures: list[AuthFailure] = []
        self.temporary_issued: dict[str, int] = {}

    # ------------------------------------------------------------------ settings

    def identity(self: Any, **settings: Any) -> None:
        """Change identity settings by name (see :data:`IDENTITY_SETTINGS`)."""
        for name, value in settings.items():
            kind = IDENTITY_SETTINGS.get(name)
            if kind is None:
                raise ValueError(
                    f"unknown identity setting {name!r}; expected one of {sorted(IDENTITY_SETTINGS)}"
                )
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"identity setting {name} needs a {kind.__name__}, got {value!r}")
        with self._lock:
            for name, value in settings.items():
                setattr(self, name, float(value) if IDENTITY_SETTINGS[name] is float else value)

    # ------------------------------------------------------------------ IAM tokens

    def revoke_tokens(self: Any) -> None:
        """Every token issued so far answers "decrypt token fail" (new tokens are unaffected)."""
        with self._lock:
            self._revoked.update(self._tokens)

    def require_token_update(self: Any) -> None:
        """Every token issued so far answers APIG.0307 "The token must be updated"."""
        with self._lock:
            self._stale.update(self._tokens)

    def token_verdict(self: Any, token: str) -> tuple[str, str] | None:
        """None for a live token, else ``(error_code, error_msg)`` as the gateway answers."""
        with self._lock:
            if token in self._stale:
                return "APIG.0307", "The token must be updated."
            if token in self._revoked:
                return "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail"
            project, detail = self.check_token(token)
            if project is None:
                return "APIGW.0301", "Incorrect IAM authentication information: " + detail
            return None

    # ------------------------------------------------------------------ temporary credentials

    def issue_temporary(self: Any, source: str) -> dict[str, str]:
        """New temporary credentials (access, secret, securitytoken, expires_at) from ``source``."""
        with self._lock:
            if self.temporary_fixed and source in self._fixed:
                return dict(self._fixed[source])
            now = self.now()
            access = "FAKETMP" + secrets.token_hex(8).upper()
            temp = Temporary(
                "tmp-sk-" + secrets.token_urlsafe(24),
                "tmp-st-" + secrets.token_urlsafe(48),
                now + self.temporary_ttl,
                source,
            )
            self._temporary[access] = temp
            self.temporary_issued[source] = self.temporary_issued.get(source, 0) + 1
            issued = {
                "access": access,
                "secret": temp.secret,
                "securitytoken": temp.security_token,
                "expires_at": iso_micros(temp.expires_at),
            }
            if self.temporary_fixed:
                self._fixed[source] = dict(issued)
            return issued

    def expire_temporary(self: Any) -> None:
        """Make every temporary credential issued so far expired."""
        with self._lock:
            now = self.now()
            for temp in self._temporary.values():
                temp.expires_at = min(temp.expires_at, now - 1)

    def temporary_credentials(self: Any) -> dict[str, Temporary]:
        with self._lock:
            return dict(self._temporary)

    # ------------------------------------------------------------------ signatures

    def verify_signed(
        self: Any, method: str, path: str, raw_query: str, headers: signing.Headers, body: bytes, api: str
    ) -> str:
        """ "" when the AK/SK signature (permanent or temporary keys) is good, else the APIGW.0301
        detail; failures count towards the AK lockout and the auth-failure log."""
        token = (headers.get("X-Security-Token") or "").strip()
        with self._lock:
            now = self.now()
            detail = ""
            temp: Temporary | None = None

            def secret_for(ak: str) -> str | None:
                nonlocal temp
                if ak == self.ak:
                    return str(self.sk)
                temp = self._temporary.get(ak)
                return temp.secret if temp is not None else None

            verdict = signing.verify(
                method,
                path,
                raw_query,
                headers,
                body,
                secret_for,
                now,
                check_signature=self.verify_signatures,
            )
            ak = verdict.ak
            if self.lockouts and ak and self._ak_locked_until.get(ak, 0.0) > now:
                detail = AK_LOCKED
            elif not verdict.ok:
                detail = verdict.reason
            elif temp is not None and token != temp.security_token:
                detail = "verify aksk signature fail: the security token is invalid"
            elif temp is not None and now >= temp.expires_at:
                detail = "calc ak sk signature fail: signature expired"
            elif temp is None and token:
                detail = "verify aksk signature fail: a security token with a permanent AK"
            if not detail:
                self._signature_failures.pop(ak, None)
                return ""
            if ak and detail != AK_LOCKED:
                fails = self._signature_failures.setdefault(ak, deque())
                fails.append(now)
                while fails and fails[0] <= now - AK_LOCK_WINDOW:
                    fails.popleft()
                if self.lockouts and len(fails) >= LOCK_FAILURES:
                    self._ak_locked_until[ak] = now + AK_LOCK_SECONDS
            self._auth_failures.append(AuthFailure(now, api, detail))
            return detail

    def note_auth_failure(self: Any, api: str, reason: str) -> None:
        with self._lock:
            self._auth_failures.append(AuthFailure(self.now(), api, reason))

    def ak_locked(self: Any, ak: str) -> bool:
        with self._lock:
            return bool(self._ak_locked_until.get(ak, 0.0) > self.now())

    # ------------------------------------------------------------------ IAM logins

    def login(self: Any, name: str, password: str, domain: str) -> str:
        """ "" for a good login, else why not (wrong password, or the user locked)."""
        with self._lock:
            now = self.now()
            if self.lockouts and self._user_locked_until > now:
                reason = "The account is locked."
            elif (name, password, domain) == (self.iam_user, self.iam_password, self.iam_domain):
                self._login_failures.clear()
                return ""
            else:
                reason = "The username or password is wrong."
                self._login_failures.append(now)
                while self._login_failures and self._login_failures[0] <= now - LOGIN_LOCK_WINDOW:
                    self._login_failures.popleft()
                if self.lockouts and len(self._login_failures) >= LOCK_FAILURES:
                    self._user_locked_until = now + LOGIN_LOCK_SECONDS
            self._auth_failures.append(AuthFailure(now, "iam_tokens", reason))
            return reason

    def user_locked(self: Any) -> bool:
        with self._lock:
            return bool(self._user_locked_until > self.now())

    # ------------------------------------------------------------------ accounting

    def auth_failures(self: Any, api: str | None = None) -> list[AuthFailure]:
        """Every auth-failing call so far (signature, token, login, credential exchange)."""
        with self._lock:
            return [f for f in self._auth_failures if api is None or f.api == api]

    def max_auth_failures_in(self: Any, window: float) -> int:
        """The most auth-failing calls within any ``window`` seconds (on the fake's clock)."""
        times = sorted(f.at for f in self.auth_failures())
        best, start = 0, 0
        for end, at in enumerate(times):
            while times[start] < at - window:
                start += 1
            best = max(best, end - start + 1)
        return best


CONTROL: Mapping[str, Callable[[Any, dict[str, Any]], Any]] = {
    "revoke-tokens": lambda s, b: s.revoke_tokens(),
    "token-update-required": lambda s, b: s.require_token_update(),
    "expire-temporary": lambda s, b: s.expire_temporary(),
    "identity": lambda s, b: s.identity(**b),
}
