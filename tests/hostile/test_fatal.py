"""A real exporter process that cannot go on ends at once, with one line and exit code 1.

Memory exhaustion comes from an address-space limit (``setrlimit(RLIMIT_AS)``, what
``prlimit --as`` sets); thread death and thread-start failures are injected by a few lines
of Python run in the process before ``main`` (the only way to make a healthy thread die on
cue). In every case: no traceback, no ``--- Logging error ---``, no half-alive process.
"""

from __future__ import annotations

import contextlib
import re
import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from exporter.fatal import _FALLBACK
from tests.hostile.process import Proc, start

FATAL = 'msg="fatal error, exiting"'


def _limit(mib: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mib << 20, mib << 20))

    return apply


def _assert_one_fatal_line(p: Proc, *parts: str) -> str:
    fatal = [ln for ln in p.lines if FATAL in ln]
    assert len(fatal) == 1, "".join(p.lines)
    for part in parts:
        assert part in fatal[0], fatal[0]
    assert not any("Traceback" in ln or "Logging error" in ln for ln in p.lines), "".join(p.lines)
    # Every line is a whole log line; the fatal one may be the line built at import, without a
    # time, when not even formatting it could get memory.
    fallback = _FALLBACK.decode()
    assert all(ln.startswith("ts=") or ln == fallback for ln in p.lines), "".join(p.lines)
    return fatal[0]


@pytest.mark.parametrize("mib", [400, 1024])
def test_under_an_address_space_limit_the_exporter_serves_fully_or_fails_fast(
    tmp_path: Path, mib: int
) -> None:
    """Whether a limit is met at start depends on what the allocator reserves (a malloc arena
    per thread, by default), so either outcome is right; a half-alive process never is."""
    p = start(tmp_path, wait=False, preexec_fn=_limit(mib))
    try:
        p.wait_line(r"msg=serving |" + FATAL, timeout=30)
        if any(FATAL in ln for ln in p.lines):
            assert p.exit_code(10) == 1
            _assert_one_fatal_line(p)
            return
        p.url = next(ln for ln in p.lines if "msg=serving " in ln).split(" url=")[1].split()[0][:-8]
        deadline = time.monotonic() + 30
        while p.get("/-/ready").status_code != 200:
            assert time.monotonic() < deadline and p.proc.poll() is None, "".join(p.lines)
            time.sleep(0.2)
        assert p.get("/-/healthy").status_code == 200
        assert "huaweicloud_workspace_up" in p.get("/metrics").text
    finally:
        code = p.stop()
    assert code in (0, 1)


@pytest.mark.parametrize("name", ["http-worker-2", "http", "refresh-inventory", "refresh-monitoring"])
def test_a_thread_that_cannot_start_ends_the_process_with_one_line(tmp_path: Path, name: str) -> None:
    # refresh-monitoring is started by another thread, after the server reported itself up.
    prelude = f"""
import threading
_start = threading.Thread.start
def start(self):
    if self.name == {name!r}:
        raise RuntimeError("can't start new thread")
    _start(self)
threading.Thread.start = start
"""
    p = start(tmp_path, prelude=prelude, wait=False)
    try:
        assert p.exit_code(30) == 1, "".join(p.lines)
        _assert_one_fatal_line(p, 'reason="cannot start a thread"')
    finally:
        p.stop()


@pytest.mark.parametrize(
    ("patch", "thread"),
    [
        ("exporter.app.scheduler.PeriodicRunner.run_once", "refresh-inventory"),
        ("exporter.serve.loop.EventLoopServer._sweep", "http"),
        ("exporter.exposition.render.CachedExposition._forget_idle_formats", "exposition-renderer"),
    ],
)
def test_a_thread_killed_by_an_exception_ends_the_process_with_one_line(
    tmp_path: Path, patch: str, thread: str
) -> None:
    module, cls, method = patch.rsplit(".", 2)
    prelude = f"""
import threading, time
import {module} as m
_orig = m.{cls}.{method}
_calls = [0]
class Boom(BaseException):
    pass
def broken(self, *a, **k):
    _calls[0] += 1
    if _calls[0] >= 3 and threading.current_thread().name == {thread!r}:
        raise Boom()
    return _orig(self, *a, **k)
m.{cls}.{method} = broken
"""
    if thread == "refresh-inventory":  # a refresh a second, so the third comes soon
        prelude += (
            "m.PeriodicRunner.run = lambda self: [self.run_once() or time.sleep(0.3) for _ in range(5)]\n"
        )
    p = start(tmp_path, prelude=prelude, wait=False)
    try:
        assert p.exit_code(30) == 1, "".join(p.lines)
        _assert_one_fatal_line(p, f"thread={thread}", "error=Boom")
    finally:
        p.stop()


def test_a_thread_that_ends_quietly_fails_healthy_and_then_ends_the_process(tmp_path: Path) -> None:
    prelude = """
import os, time
import exporter.app.scheduler as m
def run(self):
    time.sleep(3)
    os.write(2, b"ts=test msg=runner-returns\\n")
m.PeriodicRunner.run = run
"""
    p = start(tmp_path, prelude=prelude)
    try:
        assert p.get("/-/healthy").status_code == 200
        p.wait_line("runner-returns")
        time.sleep(0.1)
        seen: list[int] = []
        deadline = time.monotonic() + 10
        while p.proc.poll() is None and time.monotonic() < deadline:
            try:
                seen.append(p.get("/-/healthy", timeout=1).status_code)
            except requests.RequestException:
                seen.append(0)
            time.sleep(0.05)
        assert p.exit_code(5) == 1, "".join(p.lines)
        assert 200 not in seen
        _assert_one_fatal_line(p, 'reason="a thread the exporter needs stopped"')
    finally:
        p.stop()


def test_a_second_sigterm_ends_a_stuck_shutdown_at_once(tmp_path: Path) -> None:
    prelude = """
import time
import exporter.app.multi as m
m.MultiExporter.stop = lambda self, timeout=0: time.sleep(3600)
"""
    p = start(tmp_path, prelude=prelude)
    try:
        p.proc.terminate()
        p.wait_line('msg="shutting down"')
        time.sleep(0.5)
        assert p.proc.poll() is None  # stuck in the patched stop
        p.proc.terminate()
        assert p.exit_code(5) == 1
        _assert_one_fatal_line(p, 'reason="second termination signal"')
    finally:
        p.stop()


def test_address_space_exhausted_while_serving_ends_the_process_with_one_line(tmp_path: Path) -> None:
    """The limit is set on the running process to what it already holds, so exhaustion comes
    on cue, whatever the machine's allocator reserves: a scrape in a format not rendered yet
    needs megabytes for 2,000 desktops, and no page can be mapped for them. One malloc arena,
    so the process holds no reserve of address space beyond what it uses."""
    p = start(tmp_path, desktops=2000, env={"MALLOC_ARENA_MAX": "1"})
    try:
        deadline = time.monotonic() + 60
        while p.get("/-/ready").status_code != 200:
            assert time.monotonic() < deadline, "".join(p.lines)
            time.sleep(0.2)
        status = Path(f"/proc/{p.proc.pid}/status").read_text()
        match = re.search(r"^VmSize:\s+(\d+) kB", status, re.M)
        assert match, status
        held = int(match.group(1)) * 1024
        resource.prlimit(p.proc.pid, resource.RLIMIT_AS, (held, held))
        with contextlib.suppress(requests.RequestException):  # the process may die mid-answer
            p.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert p.exit_code(30) == 1, "".join(p.lines)
        p.wait_line(FATAL)
        _assert_one_fatal_line(p, "reason=")
    finally:
        p.stop()
