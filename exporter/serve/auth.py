"""HTTP basic auth with bcrypt hashes that no crowd of guessers can turn into an outage.

bcrypt is slow on purpose (tens of ms a check), so a check is the one thing a client can make
the exporter spend CPU on without knowing a password. Four bounds keep that in check:

* **Verified credentials are cached** (a digest of user, password and hash, for
  :data:`CACHE_TTL` seconds from the last use): Prometheus sends the same credentials every
  scrape, so an authorised scrape never waits for bcrypt, or for anybody else's check.
* **Failed logins are limited per client**: a burst of 10, then one every 6 s; past that a
  429 without bcrypt. IPv6 clients are keyed by their /64 (one host gets a whole /64, so a
  per-address limit would give it 2**64 allowances); IPv4 clients by address.
* **At most :data:`MAX_CHECKS` checks run at once, and :data:`MAX_WAITING` wait**; any
  further check is a 429. The server runs the checks on their own threads, never on the
  HTTP workers, so guessers fill the check queue, not the pool that serves scrapes, and it
  holds each 429 a second, so a crowd that asks again at once gets few answers a second.
* An unknown user costs the same bcrypt work as the costliest known one (no user-name oracle).

:class:`BasicAuth` is the gate the event loop asks before it queues a request
(:meth:`admit`, :meth:`verify`) and what the WSGI app asks when nothing asked before it
(:meth:`authenticate`). Its users can be replaced while it runs (a web-config reload).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Any

import bcrypt

from exporter.config.web import bcrypt_cost
from exporter.serve.ratelimit import RateLimiter

# Failed logins: a burst of 10 per client, then one every 6 s.
AUTH_FAILURE_BURST, AUTH_FAILURE_RATE = 10.0, 1 / 6
# A check keeps a core busy for its whole 50-100 ms (bcrypt releases the GIL): one at a time
# leaves the rest of a small pod's CPU to scrapes (benchmarks/bcrypt_flood.py, --checks).
MAX_CHECKS = 1
MAX_WAITING = 16
CACHE_TTL = 300.0
CACHE_SIZE = 1000
VERDICT = "exporter.auth"  # environ key: set by the server only (clients reach HTTP_* keys only)


class Outcome(Enum):
    OK = "ok"
    DENIED = "denied"  # 401
    LIMITED = "limited"  # 429: this client failed too often
    BUSY = "busy"  # 429: too many checks queued
    CHECK = "check"  # needs bcrypt


def client_key(addr: str) -> str:
    """The failed-login key of a client address: an IPv6 address's /64, an IPv4 address itself."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def credentials(environ: dict[str, Any]) -> tuple[str, str] | None:
    """``(user, password)`` from a Basic ``Authorization`` header, None when absent or malformed."""
    scheme, _, value = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class BasicAuth:
    """Checks ``user:password`` against bcrypt hashes under the bounds of the module docstring."""

    def __init__(
        self,
        users: dict[str, bytes],
        guarded: frozenset[str] = frozenset({"/metrics", "/-/reload"}),
        clock: Callable[[], float] = time.monotonic,
        max_checks: int = MAX_CHECKS,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.guarded = guarded
        self.failures = RateLimiter(AUTH_FAILURE_BURST, AUTH_FAILURE_RATE, clock=clock)
        self.max_checks = max_checks
        self._clock = clock
        self._lock = threading.Lock()
        self._ok: OrderedDict[bytes, float] = OrderedDict()
        self._reserved = 0
        self._limit = max_checks + max_waiting
        self._running = threading.BoundedSemaphore(max_checks)
        self.update(users)

    def update(self, users: dict[str, bytes]) -> None:
        """Replace the users (a reload); forgets every verified credential."""
        with self._lock:
            self._users = dict(users)
            self._ok.clear()
            # An unknown user is checked against the costliest hash: same work, no name oracle.
            self._dummy = max(self._users.values(), key=bcrypt_cost) if self._users else b""

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def _digest(self, user: str, secret: bytes, hashed: bytes | None) -> bytes:
        return hashlib.sha256(
            b"\0".join((user.encode("utf-8", "surrogatepass"), secret, hashed or b""))
        ).digest()

    def authenticate(self, environ: dict[str, Any], bcrypt_allowed: bool = True) -> Outcome:
        """The outcome for this request; with ``bcrypt_allowed`` False, :attr:`Outcome.CHECK`
        when only bcrypt can tell (the caller runs :meth:`verify` for it later)."""
        decided = environ.get(VERDICT)
        if isinstance(decided, Outcome):
            return decided
        if not self.enabled:
            return Outcome.OK
        client = client_key(str(environ.get("REMOTE_ADDR", "")))
        # The limit comes first, even before the cache: a limited client must not learn
        # whether a guess equals a cached password at the price of one hash.
        if self.failures.retry_after(client):
            return Outcome.LIMITED
        creds = credentials(environ)
        if creds is None:
            return Outcome.DENIED
        user, password = creds
        secret = password.encode("utf-8", "surrogatepass")
        with self._lock:
            hashed = self._users.get(user)
            key = self._digest(user, secret, hashed)
            expires = self._ok.get(key)
            if hashed is not None and expires is not None and expires > self._clock():
                self._ok[key] = self._clock() + CACHE_TTL
                self._ok.move_to_end(key)
                return Outcome.OK
        if len(secret) > 72 or b"\0" in secret:
            self.failures.spend(client)  # bcrypt cannot take it, so no hash matches it
            return Outcome.DENIED
        if not bcrypt_allowed:
            return Outcome.CHECK
        if not self.reserve():
            return Outcome.BUSY
        try:
            return self._bcrypt(client, user, secret)
        finally:
            self.release()

    def reserve(self) -> bool:
        """Take a place among the running and waiting checks; False when all are taken."""
        with self._lock:
            if self._reserved >= self._limit:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._reserved -= 1

    def _bcrypt(self, client: str | None, user: str, secret: bytes) -> Outcome:
        with self._lock:
            hashed = self._users.get(user)
            dummy = self._dummy
        with self._running:
            try:
                ok = bcrypt.checkpw(secret, hashed if hashed is not None else dummy)
            except ValueError:  # a malformed hash in the file: refuse, never 500
                ok = False
        if ok and hashed is not None:
            with self._lock:
                self._ok[self._digest(user, secret, hashed)] = self._clock() + CACHE_TTL
                while len(self._ok) > CACHE_SIZE:
                    self._ok.popitem(last=False)
            return Outcome.OK
        if client is not None:
            self.failures.spend(client)
        return Outcome.DENIED

    def check(self, user: str, password: str) -> bool:
        """Whether ``user:password`` is valid (bcrypt unless cached); no client limit applies."""
        secret = password.encode("utf-8", "surrogatepass")
        if not self.enabled or len(secret) > 72 or b"\0" in secret:
            return False
        with self._lock:
            hashed = self._users.get(user)
            expires = self._ok.get(self._digest(user, secret, hashed))
        if hashed is not None and expires is not None and expires > self._clock():
            return True
        return self._bcrypt(None, user, secret) is Outcome.OK

    # -- the event loop's gate ---------------------------------------------------------------

    def admit(self, environ: dict[str, Any]) -> bool | None:
        """Asked on the loop thread, without bcrypt: True to serve, None to :meth:`verify` first
        (a place is reserved), False to refuse with 429 (this client failed too often, or
        every place is taken; the server holds that answer a second)."""
        if environ.get("PATH_INFO") not in self.guarded:
            return True
        outcome = self.authenticate(environ, bcrypt_allowed=False)
        if outcome is Outcome.LIMITED:
            return False
        if outcome is not Outcome.CHECK:
            environ[VERDICT] = outcome
            return True
        return None if self.reserve() else False

    def retry_after(self, environ: dict[str, Any]) -> int:
        """Seconds for the Retry-After of a refusal :meth:`admit` decided."""
        wait = self.failures.retry_after(client_key(str(environ.get("REMOTE_ADDR", ""))))
        return max(1, wait)

    def verify(self, environ: dict[str, Any]) -> None:
        """Run the bcrypt check :meth:`admit` reserved a place for; the verdict goes into environ."""
        try:
            creds = credentials(environ)
            if creds is None:  # pragma: no cover - admit only reserves with credentials
                environ[VERDICT] = Outcome.DENIED
                return
            client = client_key(str(environ.get("REMOTE_ADDR", "")))
            environ[VERDICT] = self._bcrypt(client, creds[0], creds[1].encode("utf-8", "surrogatepass"))
        finally:
            self.release()
