"""A dripping upstream: ``up`` says the data go stale while a refresh is stuck, and SIGTERM
still ends a real ``workspace-exporter run`` within its bound.

The exporter promises to exit within 10 s of SIGTERM whatever the upstream does (the
chart gives a pod 30 s). The process is bounded by a subprocess timeout of that bound;
every other wait is a bounded poll, and nothing asserts a wall-clock duration.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
import yaml

from exporter.app.exporter import SHUTDOWN_BOUND
from exporter.app.multi import MultiExporter
from exporter.config.settings import parse_config
from exporter.serve.server import HTTPServer, make_app
from tests.conftest import fast, wait_for
from tests.hostile.upstream import HostileUpstream

AK = "AKSHUTDOWNCANARY01"
SK = "sk-shutdown-canary"


class MonitorDrip(HostileUpstream):
    """Answers every call at once, except the per-desktop monitor calls: those drip."""

    def _answer(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: bytes) -> None:
        view = copy.copy(self)  # shares the lock, stop event and request log; own mode
        view.mode = "drip" if "desktop-monitor" in path else "ok"
        HostileUpstream._answer(view, h, path, query, body)


@pytest.fixture(params=["every_call", "monitor_calls"])
def upstream(request: pytest.FixtureRequest) -> Iterator[HostileUpstream]:
    kind = HostileUpstream if request.param == "every_call" else MonitorDrip
    with kind("drip", drip_interval=1.0, max_seconds=60) as up:
        yield up


def _stuck(upstream: HostileUpstream) -> bool:
    """Every source of the project is inside a dripping call (or waits on one)."""
    if isinstance(upstream, MonitorDrip):
        return upstream.calls("/v2/proj/desktop-monitor") >= 2  # both desktops, in the worker pool
    return upstream.calls("/v2/") >= 3  # inventory, connections and events


def _config(tmp_path: Path, url: str, port: int) -> Path:
    raw = {
        "region": "ap-southeast-1",
        "project_id": "proj",
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        # A call deadline far beyond the shutdown bound: only the shutdown path can end the calls.
        "http": {"call_deadline": "600s", "read_timeout": "600s", "max_retries": 0},
        "budget": {"burst": 100},
        "web": {"listen_address": f"127.0.0.1:{port}"},
        "connections": {"enabled": True},
        "events": {"enabled": True},
        "log": {"level": "debug"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"not met within {timeout}s")


def test_sigterm_exits_within_the_bound_while_the_upstream_drips(
    upstream: HostileUpstream, tmp_path: Path
) -> None:
    port = _free_port()
    config = _config(tmp_path, upstream.url, port)
    env = {**os.environ, "HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    log_path = tmp_path / "stderr.log"
    with log_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run", "--config.file", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        try:

            def metrics_up() -> bool:
                try:
                    return requests.get(f"http://127.0.0.1:{port}/-/healthy", timeout=2).ok
                except requests.RequestException:
                    return False

            _wait(metrics_up, 30)
            _wait(lambda: _stuck(upstream), 30)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=SHUTDOWN_BOUND)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    log = log_path.read_text()
    assert code == 0, log
    assert "SIGTERM" in log, log  # the exporter logged the signal it got
    after = log[log.index("SIGTERM") :]
    assert "stopped" in after
    # A refresh cut short by shutdown is not a failure of the upstream.
    assert "refresh failed" not in after and "ShutdownError" not in after, after
    assert "Traceback" not in log
    assert "did not stop in time" not in log


def _up(server: HTTPServer, source: str) -> float | None:
    text = requests.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f'huaweicloud_workspace_up{{source="{source}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_up_turns_zero_while_a_refresh_is_stuck_and_recovers_when_it_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "exporter.sources.base")
    raw = {
        "region": "ap-southeast-1",
        "project_id": "proj",
        "connections": {"enabled": False},
        "events": {"enabled": False},
        # Each dripping attempt ends at the 1 s call deadline and is retried: the refresh
        # runs far past its deadline (interval 0.5 s + 1 s) without failing yet.
        "http": {
            "call_deadline": "1s",
            "max_retries": 10,
            "retry_max_elapsed": "120s",
            "backoff_initial": "0.01s",
            "backoff_max": "0.02s",
        },
    }
    with HostileUpstream("ok", drip_interval=0.2, max_seconds=30) as up:
        raw["endpoints"] = {"workspace": up.url, "iam": up.url, "ces": up.url}
        settings = fast(parse_config(raw, {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}))
        multi = MultiExporter([settings])
        server = HTTPServer("127.0.0.1", 0, make_app(multi.exposition, multi.ready, multi.reload, None))
        multi.start()
        server.start()
        try:
            wait_for(lambda: _up(server, "inventory") == 1.0, timeout=20)
            up.mode = "drip"
            wait_for(lambda: _up(server, "inventory") == 0.0, timeout=20)
            status = multi.exporters[0].health("inventory").status
            assert status.overdue and status.consecutive_failures == 0  # stale, not failed (yet)
            up.mode = "ok"
            wait_for(lambda: _up(server, "inventory") == 1.0, timeout=20)
        finally:
            server.stop()
            multi.stop()
    lines = [r.getMessage() for r in caplog.records if "source=inventory" in r.getMessage()]
    overdue = [line for line in lines if line.startswith("source refresh overdue")]
    assert len(overdue) == 1 and overdue[0].startswith("source refresh overdue, serving last good data"), (
        lines
    )
    assert lines[-1] in (
        "source refresh completed after its deadline source=inventory",
        "source recovered source=inventory after_failures=1",  # a late attempt ran out of retries
    ), lines
