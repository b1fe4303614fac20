"""Helpers shared by the benchmark driver and its subprocesses: pinning, ready lines, RSS."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

READY_PREFIX = "BENCH-READY "


def pin(cpu: int | None) -> bool:
    """Pin the calling process to ``cpu`` (None: leave it). False when pinning is impossible."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True


def usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def announce(info: dict[str, Any]) -> None:
    """Tell the parent we are ready (one JSON line on stdout)."""
    sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
    sys.stdout.flush()


def wait_for_stop(extra: threading.Event | None = None) -> None:
    """Block until SIGTERM/SIGINT, stdin closing (the parent died) or ``extra`` is set."""
    done = extra or threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    while not done.wait(0.5):
        pass


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a process in KiB, from /proc (Linux)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


class Child:
    """A benchmark subprocess that prints one ready line; always stopped by :meth:`stop`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: TextIO = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        self.info: dict[str, Any] = {}

    def ready(self, timeout: float) -> dict[str, Any]:
        """Wait for the ready line (bounded); raise with the child's log on failure."""
        assert self.proc.stdout is not None
        result: dict[str, Any] = {}
        stdout = self.proc.stdout

        def read() -> None:
            for line in stdout:
                if line.startswith(READY_PREFIX):
                    result.update(json.loads(line[len(READY_PREFIX) :]))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not result:
            self.stop()
            raise RuntimeError(f"{self.name} did not start within {timeout:.0f}s:\n{self.log_tail()}")
        self.info = result
        return result

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.closed:  # stop() closes it
            self._log.flush()
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self._log.close()


def deadline_loop(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.25, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until truthy; raise TimeoutError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"{what} not met within {timeout:.0f}s")
        time.sleep(interval)
