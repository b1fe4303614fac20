"""Where the AK/SK a request is signed with comes from, and when it is read again.

* :class:`WatchedKeys`: fixed keys (environment variables), or keys in files (``auth.ak_file``,
  ``sk_file``, ``security_token_file``, or the SDK's profile file) that are read again when a
  file changes, as a Kubernetes Secret updated in place does. A file is looked at every
  :data:`FILE_CHECK_SECONDS` and after every credential failure; a change that does not
  read as valid keys keeps the old ones and is logged once.
* :class:`TemporaryKeys`: keys from a provider (:mod:`exporter.upstream.identity`), fetched
  once and shared by every caller (one fetch at a time), and fetched again before they
  expire: with less than :data:`REFRESH_BEFORE` (the SDK's 40 minutes) or half their lifetime
  left. A failed refresh keeps the old keys while they last and tries again after a
  backoff; a failure with nothing usable left is remembered for :data:`FAILURE_HOLD`
  seconds, so callers waiting for the same fetch do not each repeat it.

Every key source has a ``generation`` that changes with the key material, so the auth
breaker (:mod:`exporter.upstream.breaker`) knows which keys a success or failure was for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from exporter.clock import Clock
from exporter.errors import AuthError, ConfigError
from exporter.secret import Secret, register
from exporter.upstream.identity import Fetcher, TemporaryCredential

log = logging.getLogger(__name__)

FILE_CHECK_SECONDS = 30.0
REFRESH_BEFORE = 40 * 60.0  # huaweicloudsdkcore Credentials._DEFAULT_EXPIRATION_THRESHOLD_SECONDS
MIN_REUSE = 60.0
FAILURE_HOLD = 30.0
RETRY_FIRST, RETRY_MAX = 60.0, 1800.0


@dataclass(frozen=True)
class CredentialInfo:
    """What ``check-config --online`` and the self-metrics say about the credentials in use."""

    mode: str  # aksk, token, profile, oidc, idp, metadata, pod_identity
    source: str  # the variables, files or provider; never a value
    expires_at: float | None  # temporary credentials and tokens: when the current ones expire


@dataclass(frozen=True)
class Keys:
    ak: str
    sk: Secret
    security_token: Secret
    expires_at: float | None  # wall-clock; None for keys that do not expire
    generation: int


class KeySource(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def generation(self) -> int: ...

    def keys(self) -> Keys: ...
    def invalidate(self) -> bool: ...
    def describe(self) -> str: ...


Loader = Callable[[], tuple[str, Secret, Secret]]


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = Path(path).stat()
        except OSError:
            out.append((-1, -1, -1))
            continue
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class WatchedKeys:
    """Keys from ``load()``; read again when one of ``paths`` changes (none: never)."""

    def __init__(
        self,
        load: Loader,
        paths: tuple[str, ...],
        clock: Clock,
        describe: str,
        mode: str = "aksk",
        initial: tuple[str, Secret, Secret] | None = None,
    ) -> None:
        self.mode = mode
        self._load = load
        self._paths = tuple(p for p in paths if p)
        self._clock = clock
        self._describe = describe
        self._lock = threading.Lock()
        self._stamp = _stamp(self._paths)
        ak, sk, token = initial if initial is not None else load()
        register(ak)
        self._keys = Keys(ak, sk, token, None, 1)
        self._checked = clock.monotonic()
        self._bad_stamp: tuple[tuple[int, int, int], ...] | None = None

    @property
    def generation(self) -> int:
        return self._keys.generation

    def describe(self) -> str:
        return self._describe

    def keys(self) -> Keys:
        with self._lock:
            if self._paths and self._clock.monotonic() - self._checked >= FILE_CHECK_SECONDS:
                self._reload_if_changed()
            return self._keys

    def invalidate(self) -> bool:
        """Look at the files now; True when they held new keys (worth a retry)."""
        with self._lock:
            return bool(self._paths) and self._reload_if_changed()

    def _reload_if_changed(self) -> bool:
        self._checked = self._clock.monotonic()
        stamp = _stamp(self._paths)
        if stamp == self._stamp or stamp == self._bad_stamp:
            return False
        try:
            ak, sk, token = self._load()
        except ConfigError as e:
            self._bad_stamp = stamp
            log.warning(
                "credential files changed but cannot be used, keeping the previous keys "
                "credential=%s problem=%s",
                self._describe,
                "; ".join(e.problems),
            )
            return False
        self._stamp, self._bad_stamp = stamp, None
        old = self._keys
        if (ak, sk, token) == (old.ak, old.sk, old.security_token):
            return False
        register(ak)
        self._keys = Keys(ak, sk, token, None, old.generation + 1)
        log.info("credential files changed, using the new keys credential=%s", self._describe)
        return True


class TemporaryKeys:
    """Keys from ``fetcher``, refreshed before they expire (see the module docstring)."""

    def __init__(self, fetcher: Fetcher, clock: Clock) -> None:
        self._fetcher = fetcher
        self._clock = clock
        self._lock = threading.Lock()
        self._current: TemporaryCredential | None = None
        self._generation = 0
        self._refresh_at = 0.0
        self._retry_step = RETRY_FIRST
        self._failure: AuthError | None = None
        self._failed_until = 0.0

    @property
    def mode(self) -> str:
        return self._fetcher.mode

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def expires_at(self) -> float | None:
        current = self._current
        return current.expires_at if current is not None else None

    def describe(self) -> str:
        return self._fetcher.describe()

    def keys(self) -> Keys:
        with self._lock:
            now = self._clock.time()
            current = self._current
            if current is None or now >= self._refresh_at:
                current = self._refresh(now, current)
            return Keys(
                current.access, current.secret, current.security_token, current.expires_at, self._generation
            )

    def invalidate(self) -> bool:
        """Drop the keys: the next call fetches new ones. Always worth a retry."""
        with self._lock:
            self._current = None
            self._failed_until = 0.0
        return True

    def _refresh(self, now: float, old: TemporaryCredential | None) -> TemporaryCredential:
        if old is None and self._failure is not None and now < self._failed_until:
            raise _copy(self._failure)
        try:
            new = self._fetcher.fetch()
        except AuthError as e:
            if old is not None and now < old.expires_at - MIN_REUSE:
                self._refresh_at = min(now + self._retry_step, old.expires_at - MIN_REUSE)
                log.warning(
                    "temporary credentials could not be refreshed, using the current ones until they "
                    "expire credential=%s expires_at=%s error=%s",
                    self._fetcher.describe(),
                    _iso(old.expires_at),
                    e,
                )
                self._retry_step = min(self._retry_step * 2, RETRY_MAX)
                return old
            self._current = None
            self._failure, self._failed_until = e, now + FAILURE_HOLD
            raise
        self._failure = None
        self._retry_step = RETRY_FIRST
        lifetime = new.expires_at - now
        self._refresh_at = max(new.expires_at - min(REFRESH_BEFORE, lifetime / 2), now + MIN_REUSE)
        self._current = new
        self._generation += 1
        log.info(
            "obtained temporary credentials credential=%s expires_at=%s",
            self._fetcher.describe(),
            _iso(new.expires_at),
        )
        return new


def _copy(error: AuthError) -> AuthError:
    return AuthError(
        error.api,
        error.status,
        error.error_code,
        error.error_msg,
        error.request_id,
        host=error.host,
        cause=error.cause,
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()
