"""The exporter as a real process: env endpoint override, SIGHUP reload, SIGTERM shutdown, demo."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import FakeApi, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def proc_factory() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        if p.stdout:
            p.stdout.close()


def _start(procs: list[subprocess.Popen[str]], args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "exporter", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    procs.append(p)
    return p


def test_process_uses_sdk_env_overrides_reloads_on_sighup_and_stops_on_sigterm(
    fake_api: FakeApi, proc_factory: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    st = fake_api.state
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump({"region": st.region, "connections": {"enabled": False}, "events": {"enabled": False}})
    )
    port = _free_port()
    env = {
        **fake_api.env(),
        "HUAWEICLOUD_SDK_PROJECT_ID": st.project_id,
        "HUAWEICLOUD_SDK_REGION_WORKSPACE_AP_SOUTHEAST_1": fake_api.url,
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": fake_api.url,
    }
    p = _start(
        proc_factory,
        ["--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}", "--log.format", "json"],
        env,
    )
    url = f"http://127.0.0.1:{port}"

    def metrics() -> str:
        try:
            return requests.get(url + "/metrics", timeout=5).text
        except requests.ConnectionError:
            return ""

    wait_for(lambda: "huaweicloud_workspace_desktop_info{" in metrics(), timeout=30)
    assert "tag_env" not in metrics()
    cfg.write_text(
        yaml.safe_dump(
            {
                "region": st.region,
                "inventory": {"tag_labels": ["env"]},
                "connections": {"enabled": False},
                "events": {"enabled": False},
            }
        )
    )
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: "tag_env=" in metrics(), timeout=30)
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    out = p.stdout.read() if p.stdout else ""
    assert '"msg": "config reloaded' in out
    assert st.sk not in out


def test_demo_serves_metrics_from_the_fake_api(proc_factory: list[subprocess.Popen[str]]) -> None:
    port = _free_port()
    p = _start(proc_factory, ["demo", "--desktops", "3", "--web.listen-address", f"127.0.0.1:{port}"], {})

    def body() -> str:
        try:
            return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.ConnectionError:
            return ""

    def every_active_desktop_has_cpu() -> bool:
        # The demo's office shuts desktops down now and then: SHUTOFF ones report no CPU.
        text = body()
        active = len(re.findall(r'huaweicloud_workspace_desktop_info\{[^}]*status="ACTIVE"', text))
        return active >= 1 and text.count("huaweicloud_workspace_desktop_cpu_usage_ratio{") == active

    wait_for(every_active_desktop_has_cpu, timeout=30)
    p.send_signal(signal.SIGINT)
    assert p.wait(20) == 0
