"""Helpers for the end-to-end test: processes in their own process groups, free ports,
deadline loops that show the logs when they give up, a Prometheus HTTP API client and
a webhook receiver for Alertmanager. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

T = TypeVar("T")
HOST = "127.0.0.1"


def free_port() -> int:
    """A port that was free a moment ago (for programs that cannot report the port they bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def http() -> requests.Session:
    """A session that ignores proxy variables: every address here is 127.0.0.1."""
    s = requests.Session()
    s.trust_env = False
    return s


@dataclass
class Process:
    """A child process in its own process group, with its output in ``log``."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            return f"--- {self.name}: no log"
        state = "running" if self.running() else f"exited {self._proc.returncode if self._proc else '-'}"
        return f"--- {self.name} ({state}), last lines of {self.log}:\n" + "\n".join(text)

    def stop(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        except ProcessLookupError:
            proc.wait(timeout)


@dataclass
class Diagnostics:
    """What to show when a wait gives up: the logs of every process started so far."""

    processes: list[Process] = field(default_factory=list)

    def __call__(self) -> str:
        return "\n".join(p.tail() for p in self.processes)


def eventually(
    predicate: Callable[[], T | None],
    what: str,
    timeout: float,
    diagnostics: Callable[[], str] = lambda: "",
    interval: float = 0.25,
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` and the logs."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (requests.RequestException, KeyError, IndexError, ValueError) as e:
            last_error = e  # not up yet, or not there yet
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            pytest.fail(f"{what}: not within {timeout:.0f}s{detail}\n{diagnostics()}")
        time.sleep(interval)


class PrometheusApi:
    """The few Prometheus HTTP API calls the test needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = http()

    def _get(self, path: str, **params: str) -> Any:
        r = self._http.get(self.url + path, params=params, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise ValueError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self._get("/api/v1/query", **params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [data]
        return result

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The value of a one-element vector result, else None."""
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self._get("/api/v1/targets")["activeTargets"]
        return targets

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self._get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return alerts


class Webhook:
    """An HTTP server on 127.0.0.1 that records Alertmanager webhook notifications."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        lock = threading.Lock()
        self._lock = lock
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/alerts"

    def start(self) -> Webhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification so far, with the notification's receiver added."""
        with self._lock:
            return [
                {**alert, "receiver": n.get("receiver")}
                for n in self.notifications
                for alert in n.get("alerts", [])
            ]
