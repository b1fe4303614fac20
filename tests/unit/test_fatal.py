"""The fatal exit: its one line, the threads it watches, and /-/healthy failing on a dead thread."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import NoReturn

import pytest
from prometheus_client import CollectorRegistry

from exporter import fatal
from exporter.serve.server import make_app
from tests.oracle import serving


class Exited(Exception):
    pass


@pytest.fixture(autouse=True)
def logfmt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default format, whatever an earlier test's setup_logging left in this process."""
    monkeypatch.setattr(fatal, "_json", False)


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> list[int]:
    codes: list[int] = []

    def _exit(code: int) -> NoReturn:
        codes.append(code)
        raise Exited

    monkeypatch.setattr(fatal, "_exit", _exit)
    return codes


def test_die_writes_one_logfmt_line_and_exits_1(exits: list[int], capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exited):
        fatal.die("out of memory", thread="http-worker-1")
    err = capfd.readouterr().err
    assert exits == [1]
    assert err.count("\n") == 1
    assert err.startswith("ts=")
    assert (
        'level=error logger=exporter msg="fatal error, exiting" reason="out of memory" thread=http-worker-1'
        in err
    )


def test_die_writes_json_when_the_log_is_json(exits: list[int], capfd: pytest.CaptureFixture[str]) -> None:
    fatal.set_format("json")
    try:
        with pytest.raises(Exited):
            fatal.die('a "quoted"\nreason', thread="x")
    finally:
        fatal.set_format("logfmt")
    doc = json.loads(capfd.readouterr().err)
    assert doc["level"] == "error" and doc["reason"] == 'a "quoted"\nreason' and doc["thread"] == "x"


def test_die_falls_back_to_a_prebuilt_line_when_formatting_fails(
    exits: list[int], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(reason: str, fields: dict[str, str]) -> bytes:
        raise MemoryError

    monkeypatch.setattr(fatal, "line", broken)
    with pytest.raises(Exited):
        fatal.die("out of memory")
    assert capfd.readouterr().err == fatal._FALLBACK.decode()


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (MemoryError(), "out of memory"),
        (RuntimeError("can't start new thread"), "cannot start a thread"),
        (RuntimeError("other"), None),
        (ValueError("x"), None),
        (None, None),
    ],
)
def test_which_exceptions_are_fatal(exc: BaseException | None, reason: str | None) -> None:
    assert fatal.fatal_exception(exc) == reason


def test_the_lifeline_names_a_started_thread_that_stopped_and_ignores_unstarted_ones() -> None:
    lifeline = fatal.Lifeline()
    release = threading.Event()
    running = threading.Thread(target=release.wait, name="running")
    ended = threading.Thread(target=lambda: None, name="ended")
    unstarted = threading.Thread(target=lambda: None, name="unstarted")
    lifeline.watch(lambda: [unstarted, running])
    running.start()
    assert lifeline.dead() is None and lifeline.healthy()
    lifeline.watch(lambda: [ended])
    ended.start()
    ended.join()
    assert lifeline.dead() == "ended" and not lifeline.healthy()
    release.set()
    running.join()


def test_an_exception_ending_a_watched_thread_is_fatal_and_others_are_logged(
    exits: list[int], capfd: pytest.CaptureFixture[str]
) -> None:
    lifeline = fatal.Lifeline()
    vital = threading.Thread(target=lambda: None, name="vital")
    other = threading.Thread(target=lambda: None, name="other")
    lifeline.watch(lambda: [vital])
    fatal.install(lifeline)
    try:
        try:
            raise KeyError("secret-ish text never shown")
        except KeyError as e:
            args = threading.ExceptHookArgs((KeyError, e, e.__traceback__, other))
            assert fatal.thread_exception(args) is False
            with pytest.raises(Exited):
                fatal.thread_exception(threading.ExceptHookArgs((KeyError, e, e.__traceback__, vital)))
        err = capfd.readouterr().err
        assert "thread=vital error=KeyError where=test_fatal.py:" in err
        assert "secret-ish" not in err
    finally:
        fatal.install(None)


def test_nothing_is_fatal_while_no_lifeline_is_installed() -> None:
    args = threading.ExceptHookArgs((MemoryError, MemoryError(), None, threading.current_thread()))
    assert fatal.thread_exception(args) is False


def test_healthy_fails_while_a_needed_thread_has_stopped() -> None:
    dead: list[str] = []
    app = make_app(
        serving(CollectorRegistry()),
        lambda: True,
        lambda: (True, ""),
        stopped=lambda: dead[0] if dead else None,
    )
    statuses: list[str] = []

    def start(status: str, headers: object) -> None:
        statuses.append(status)

    env = {"PATH_INFO": "/-/healthy", "REQUEST_METHOD": "GET"}
    assert b"".join(app(env, start)) == b"OK\n"
    dead.append("refresh-inventory")
    assert b"".join(app(env, start)) == b"Unhealthy: thread refresh-inventory stopped\n"
    assert statuses == ["200 OK", "503 Service Unavailable"]


def test_a_second_thread_dying_waits_until_the_first_line_is_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the process the first exit ends everything, so the second never writes."""
    events: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    def slow_write(fd: int, data: bytes) -> int:
        if b"thread=a" in data:
            entered.set()
            release.wait(5)
        events.append("write " + data.decode().split("thread=")[1].strip())
        return len(data)

    def fake_exit(code: int) -> NoReturn:
        events.append(f"exit {code}")
        raise SystemExit(code)

    monkeypatch.setattr(fatal.os, "write", slow_write)
    monkeypatch.setattr(fatal, "_exit", fake_exit)

    def dying(name: str) -> None:
        with contextlib.suppress(SystemExit):
            fatal.die("out of memory", thread=name)

    a = threading.Thread(target=dying, args=("a",))
    a.start()
    assert entered.wait(5)
    b = threading.Thread(target=dying, args=("b",))
    b.start()
    b.join(0.2)
    assert events == []  # b neither writes nor exits while a's line is being written
    release.set()
    a.join(5)
    b.join(5)
    assert events[:2] == ["write a", "exit 1"]
