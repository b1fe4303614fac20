"""Key sources: files read again when a Secret is updated in place, temporary keys refreshed
before they expire, one fetch shared by every caller, a failed fetch not repeated by each."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from exporter.clock import FakeClock
from exporter.config.credentials import Credentials
from exporter.errors import AuthError
from exporter.secret import Secret, scrub
from exporter.upstream.auth import _file_loader, _profile_loader
from exporter.upstream.identity import TemporaryCredential
from exporter.upstream.keys import FILE_CHECK_SECONDS, REFRESH_BEFORE, TemporaryKeys, WatchedKeys


def write_secret(directory: Path, ak: str, sk: str) -> None:
    """As the kubelet updates a Secret volume: new files in a new directory, ..data swapped."""
    stamp = f"..{time.monotonic_ns()}"
    target = directory / stamp
    target.mkdir()
    (target / "ak").write_text(ak + "\n")
    (target / "sk").write_text(sk + "\n")
    tmp = directory / "..data_tmp"
    tmp.symlink_to(stamp)
    tmp.replace(directory / "..data")
    for name in ("ak", "sk"):
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def file_keys(directory: Path, clock: FakeClock) -> WatchedKeys:
    c = Credentials(method="aksk", ak_file=str(directory / "ak"), sk_file=str(directory / "sk"))
    paths = (c.ak_file, c.sk_file)
    return WatchedKeys(_file_loader(c), paths, clock, "auth.ak_file, auth.sk_file")


def test_a_secret_updated_in_place_is_read_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    write_secret(tmp_path, "AKOLD0001", "sk-old-secret")
    keys = file_keys(tmp_path, clock)
    assert (keys.keys().ak, keys.generation) == ("AKOLD0001", 1)
    write_secret(tmp_path, "AKNEW0002", "sk-new-secret")
    assert keys.keys().ak == "AKOLD0001"  # looked at every FILE_CHECK_SECONDS, not per call
    clock.advance(FILE_CHECK_SECONDS)
    with caplog.at_level(logging.INFO):
        got = keys.keys()
    assert (got.ak, got.sk.reveal(), got.generation) == ("AKNEW0002", "sk-new-secret", 2)
    assert scrub("sk-new-secret") == "***"
    assert "credential files changed, using the new keys" in caplog.text
    assert "sk-new-keys-secret" not in caplog.text


def test_a_credential_failure_looks_at_the_files_at_once(tmp_path: Path) -> None:
    clock = FakeClock()
    write_secret(tmp_path, "AKOLD0001", "sk-old-keys-secret")
    keys = file_keys(tmp_path, clock)
    assert keys.invalidate() is False  # unchanged: a retry would not help
    write_secret(tmp_path, "AKNEW0002", "sk-new-keys-secret")
    assert keys.invalidate() is True
    assert keys.keys().ak == "AKNEW0002"


def test_a_broken_update_keeps_the_old_keys_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    write_secret(tmp_path, "AKOLD0001", "sk-old-keys-secret")
    keys = file_keys(tmp_path, clock)
    write_secret(tmp_path, "AK BAD\x01", "sk-new-keys-secret")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            clock.advance(FILE_CHECK_SECONDS)
            assert keys.keys().ak == "AKOLD0001"
    assert caplog.text.count("credential files changed but cannot be used") == 1


def test_a_profile_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "credentials"
    path.write_text("[basic]\nak = AKPROFILEKEY1\nsk = sk-profile-secret-1\n")
    keys = WatchedKeys(_profile_loader(str(path)), (str(path),), clock, "profile", "profile")
    path.write_text(
        "[basic]\nak = AKPROFILEKEY2\nsk = sk-profile-secret-2\nsecurity_token = st-profile-token-2\n"
    )
    os.utime(path, ns=(1, 1))
    clock.advance(FILE_CHECK_SECONDS)
    got = keys.keys()
    assert (got.ak, got.security_token.reveal()) == ("AKPROFILEKEY2", "st-profile-token-2")


class StubFetcher:
    mode = "metadata"

    def __init__(self, clock: FakeClock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail = False
        self.delay = 0.0

    def describe(self) -> str:
        return "stub"

    def fetch(self) -> TemporaryCredential:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise AuthError("metadata_securitykey", 503, cause="")
        n = self.calls
        return TemporaryCredential(
            f"AKSTUBTEMP{n:04d}",
            Secret(f"stub-temporary-secret-{n:04d}"),
            Secret(f"stub-security-token-{n:04d}"),
            self.clock.time() + self.lifetime,
        )


def test_temporary_keys_are_refreshed_40_minutes_before_they_expire() -> None:
    clock = FakeClock()
    stub = StubFetcher(clock, lifetime=3 * 3600)
    keys = TemporaryKeys(stub, clock)
    assert keys.keys().ak == "AKSTUBTEMP0001"
    clock.advance(3 * 3600 - REFRESH_BEFORE - 1)
    assert (keys.keys().ak, stub.calls) == ("AKSTUBTEMP0001", 1)
    clock.advance(2)
    got = keys.keys()
    assert (got.ak, got.generation, stub.calls) == ("AKSTUBTEMP0002", 2, 2)


def test_short_lived_keys_are_refreshed_at_half_their_life_not_on_every_call() -> None:
    clock = FakeClock()
    stub = StubFetcher(clock, lifetime=900)  # shorter than the SDK's 40-minute threshold
    keys = TemporaryKeys(stub, clock)
    for _ in range(10):
        keys.keys()
    assert stub.calls == 1
    clock.advance(451)
    keys.keys()
    assert stub.calls == 2


def test_a_failed_refresh_keeps_the_current_keys_and_backs_off() -> None:
    clock = FakeClock()
    stub = StubFetcher(clock)
    keys = TemporaryKeys(stub, clock)
    keys.keys()
    clock.advance(1801)  # an hour's keys are refreshed at half their life
    stub.fail = True
    assert keys.keys().ak == "AKSTUBTEMP0001"
    assert keys.keys().ak == "AKSTUBTEMP0001"
    assert stub.calls == 2  # not again until the backoff passed
    clock.advance(61)
    keys.keys()
    assert stub.calls == 3
    clock.advance(61)
    keys.keys()
    assert stub.calls == 3  # the second wait is 2 minutes


def test_a_failed_fetch_with_nothing_left_is_not_repeated_by_every_caller() -> None:
    clock = FakeClock()
    stub = StubFetcher(clock)
    stub.fail = True
    keys = TemporaryKeys(stub, clock)
    for _ in range(5):
        with pytest.raises(AuthError):
            keys.keys()
    assert stub.calls == 1
    clock.advance(31)
    with pytest.raises(AuthError):
        keys.keys()
    assert stub.calls == 2


def test_concurrent_callers_share_one_fetch() -> None:
    clock = FakeClock()
    stub = StubFetcher(clock)
    stub.delay = 0.2
    keys = TemporaryKeys(stub, clock)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(keys.keys().ak)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got == ["AKSTUBTEMP0001"] * 8 and stub.calls == 1


def test_invalidate_drops_the_keys() -> None:
    clock = FakeClock()
    stub = StubFetcher(clock)
    keys = TemporaryKeys(stub, clock)
    keys.keys()
    assert keys.invalidate() is True
    assert keys.keys().ak == "AKSTUBTEMP0002"
