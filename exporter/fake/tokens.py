"""IAM tokens of the fake: issued by ``POST /v3/auth/tokens``, checked on every call that
carries ``X-Auth-Token``, expired on demand.

A mixin of :class:`exporter.fake.state.FakeWorkspace`; every public method takes the
workspace lock, and a token's lifetime is the ``token_ttl`` switch on the injected clock.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from exporter.fake.data import JsonDict, det_hex, iso_micros


@dataclass
class _Token:
    project_id: str
    issued_at: float
    expires_at: float


class TokenMixin:
    _lock: threading.RLock
    now: Callable[[], float]
    seed: int
    region: str
    iam_user: str
    iam_domain: str
    domain_id: str
    token_ttl: float

    def _init_tokens(self) -> None:
        self._tokens: dict[str, _Token] = {}

    def issue_token(self, project_id: str) -> tuple[str, JsonDict]:
        """A new token scoped to ``project_id`` and its ``token`` body."""
        with self._lock:
            now = self.now()
            token = "MIIfake" + secrets.token_urlsafe(48)
            self._tokens[token] = _Token(project_id, now, now + self.token_ttl)
            user = {"id": det_hex(32, self.seed, "iam-user"), "name": self.iam_user}
            domain = {"id": self.domain_id, "name": self.iam_domain}
            body = {
                "expires_at": iso_micros(now + self.token_ttl),
                "issued_at": iso_micros(now),
                "methods": ["password"],
                "project": {"id": project_id, "name": self.region, "domain": domain},
                "user": {**user, "domain": domain, "password_expires_at": ""},
                "roles": [{"id": det_hex(32, self.seed, "role"), "name": "te_admin"}],
            }
            return token, body

    def check_token(self, token: str) -> tuple[str | None, str]:
        """``(project_id, "")`` for a live token, else ``(None, APIGW.0301 message detail)``."""
        with self._lock:
            info = self._tokens.get(token)
            if info is None:
                return None, "decrypt token fail"
            if self.now() >= info.expires_at:
                return None, f"token expires, expires_at: {iso_micros(info.expires_at)}"
            return info.project_id, ""

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (new tokens are unaffected)."""
        with self._lock:
            now = self.now()
            for info in self._tokens.values():
                info.expires_at = min(info.expires_at, now - 1)

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return len(self._tokens)
