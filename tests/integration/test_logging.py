"""``workspace-exporter run --log.format json|logfmt`` end to end: every stderr line is structured.

A real exporter process runs against the fake API on 127.0.0.1 with the desktop list
answering 500, serves, reloads on SIGHUP and stops on SIGTERM. Every line it wrote to
stderr must parse in the chosen format (JSON, or logfmt by the strict parser of
tests/unit/test_logs.py), carry ts/level/logger/msg, and show no Python repr; the
failure line carries the source and the upstream's where and why as separate fields.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FakeApi, wait_for
from tests.unit.test_logs import parse_logfmt, reprs_in

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INVENTORY_APIS = ("desktops_detail", "desktops_list")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _parse(fmt: str, line: str) -> dict[str, Any]:
    if fmt == "json":
        doc = json.loads(line)
        assert isinstance(doc, dict), line
        return doc
    return dict(parse_logfmt(line))


@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_every_stderr_line_of_a_run_is_structured_in_the_chosen_format(
    fmt: str, fake_api: FakeApi, tmp_path: Path
) -> None:
    for api in INVENTORY_APIS:
        fake_api.state.fail(api, 500, times=None)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(fake_api.config(connections={"enabled": True}, events={"enabled": True})),
        "utf-8",
    )
    port = _free_port()
    stderr = tmp_path / "stderr.log"
    argv = [
        "--config.file",
        str(cfg),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log.format",
        fmt,
        "--log.level",
        "debug",
    ]
    with stderr.open("wb") as err:
        p = subprocess.Popen(
            [sys.executable, "-m", "exporter", *argv],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **fake_api.env()},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    def logged(prefix: str) -> bool:
        # Only whole lines: the process may be half-way through writing the last one.
        text = stderr.read_text("utf-8")
        for line in text[: text.rfind("\n") + 1].splitlines():
            try:
                if _parse(fmt, line)["msg"].startswith(prefix):
                    return True
            except (AssertionError, ValueError, KeyError):
                continue
        return False

    try:
        wait_for(lambda: logged("serving"), timeout=30)
        wait_for(lambda: logged("source refresh failed"), timeout=60)
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: logged("config reloaded"), timeout=30)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)

    lines = stderr.read_text("utf-8").splitlines()
    docs = []
    for line in lines:
        doc = _parse(fmt, line)
        assert {"ts", "level", "logger", "msg"} <= set(doc), line
        assert doc["level"] in ("debug", "info", "warn", "error"), line
        assert doc["msg"], line
        assert reprs_in(line) == [], line
        assert fake_api.state.sk not in line
        docs.append(doc)
    by_msg: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_msg.setdefault(doc["msg"], []).append(doc)

    (failed,) = [d for d in docs if d["msg"].startswith("source refresh failed")]
    assert failed["level"] == "warn"
    assert failed["source"] == "inventory"
    assert failed["api"] in INVENTORY_APIS
    assert failed["error"] == "upstreamunavailable"
    assert failed["host"].startswith("127.0.0.1:")
    assert str(failed["status"]) == "500"
    assert failed["error_code"] == "WKS.00211401"
    if fmt == "json":
        assert failed["status"] == 500  # a number, not the string "500"

    (serving,) = by_msg["serving"]
    assert serving["url"] == f"http://127.0.0.1:{port}/metrics"
    assert serving["config"] == str(cfg)
    assert serving["tls"] in (False, "false") and serving["basic_auth"] in (False, "false")
    (starting,) = by_msg["starting"]
    assert starting["config"] == str(cfg) and starting["version"]
    assert by_msg["config reloaded"][0]["file"] == str(cfg)
    assert by_msg["shutting down"][0]["signal"] == "SIGTERM"
    assert "stopped" in by_msg
    # Retries of the failing call are logged at debug, each a structured line too.
    retries = by_msg["retrying"]
    assert all(r["api"] in INVENTORY_APIS and str(r["status"]) == "500" for r in retries)
