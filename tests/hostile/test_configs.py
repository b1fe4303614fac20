"""Hostile configuration files and environments, through the real command line and a real reload.

Each case is a file an operator (or an attacker with write access to a ConfigMap) could
hand the exporter: alias bombs, deep nesting, huge or non-finite numbers, wrong text
encodings, duplicate keys, credentials with a newline. ``check-config`` must answer each
with exit 2 and one line naming the key path, within a subprocess timeout and an address
space limit, and never print a secret; a reload of the same file must be rejected with
``config_last_reload_successful`` 0 and one log line, and keep the running config.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml

from exporter.app.multi import MultiExporter
from exporter.config.targets import load_targets
from tests.conftest import FakeApi
from tests.oracle import scraped

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "fixtures" / "config" / "hostile"
PREFIX = "workspace-exporter: invalid configuration: "
CANARY_SK = "CANARY-SK-4b1d0c"
CANARY_TOKEN = "CANARY-TOKEN-9e2f71"
ENV = {"HUAWEICLOUD_SDK_AK": "AKHOSTILE", "HUAWEICLOUD_SDK_SK": CANARY_SK}
# The alias bomb took check-config to 2.1 GB; a bounded loader stays far below this.
ADDRESS_SPACE = 768 * 1024 * 1024
GAUGE = "huaweicloud_workspace_config_last_reload_successful"
BASE = "region: ap-southeast-1\n"


def _generated(tmp: Path) -> dict[str, Path]:
    """Cases too large (or too binary) to keep as fixture files."""
    files = {
        "deep_nesting": (BASE + "inventory:\n  tag_labels: " + "[" * 20_000 + "]" * 20_000 + "\n").encode(),
        "burst_400_digits": (BASE + f"budget:\n  burst: {'9' * 400}\n").encode(),
        "int_5000_digits": (BASE + f"connections:\n  max_label_sets: {'7' * 5000}\n").encode(),
        "float_overflow": (BASE + "http:\n  read_timeout: 1.0e+999\n").encode(),
        "utf16": (BASE + "monitoring: {interval: 5m}\n").encode("utf-16"),
        "latin1": (BASE + "project_id: caf\xe9\n").encode("latin-1"),
        "oversize": (BASE + "# " + "x" * 400_000 + "\n").encode(),
        "huge_value": (
            BASE + f"project_id: {'p' * 200_000}\nendpoints: {{iam: '{'y' * 50_000}'}}\n"
        ).encode(),
        "targets_superscript": (BASE + "targets: [{project_id: a}, {project_id: b}]\n").encode(),
        "plain": BASE.encode(),
        "sk_file_utf16": (BASE + f"auth: {{sk_file: {tmp / 'sk.utf16'}}}\n").encode(),
        "web_bomb": (BASE + f"web: {{config_file: {HOSTILE / 'web_bomb.yaml'}}}\n").encode(),
        "web_duplicate_user": (
            BASE + f"web: {{config_file: {HOSTILE / 'web_duplicate_user.yaml'}}}\n"
        ).encode(),
    }
    (tmp / "sk.utf16").write_bytes(CANARY_SK.encode("utf-16"))
    out = {}
    for name, data in files.items():
        path = tmp / f"{name}.yaml"
        path.write_bytes(data)
        out[name] = path
    return out


# case -> (file: fixture name or generated name, extra environment, the line after PREFIX starts with)
CASES: dict[str, tuple[str, dict[str, str], str]] = {
    "alias bomb": ("alias_bomb", {}, "config: aliases expand to more than 20000 YAML nodes"),
    "merge-key bomb": ("merge_bomb", {}, "config: aliases expand to more than 20000 YAML nodes"),
    "recursive alias": ("recursive_alias", {}, "config: an alias refers to the mapping or list"),
    "duplicate key": ("duplicate_key", {}, "monitoring.interval: duplicate key (line 5)"),
    "nan interval": ("nan_interval", {}, "monitoring.interval: must be a finite duration"),
    "inf budget": ("inf_budget", {}, "budget.per_api.desktop_monitor: must be a positive number up to"),
    "nan budget": ("nan_budget", {}, "budget.per_api.desktop_monitor: must be a positive number up to"),
    "-inf backoff": ("negative_inf_backoff", {}, "http.backoff_initial: must be a finite duration"),
    "superscript port": ("superscript_port", {}, "web.listen_address: must be HOST:PORT"),
    "deep nesting": ("deep_nesting", {}, "inventory.tag_labels[0]"),
    "400-digit burst": ("burst_400_digits", {}, "budget.burst: must be an integer"),
    "5000-digit int": ("int_5000_digits", {}, "connections.max_label_sets: must be an integer"),
    "float overflow": ("float_overflow", {}, "http.read_timeout: must be a finite duration"),
    "utf-16 file": ("utf16", {}, "config: is UTF-16 text; save it as UTF-8"),
    "latin-1 file": ("latin1", {}, "config: is not UTF-8 text"),
    "oversize file": ("oversize", {}, "config: is larger than 256 KiB"),
    "huge value": ("huge_value", {}, "endpoints.iam: must be an http:// or https:// URL"),
    "shard index ²": ("plain", {"WORKSPACE_EXPORTER_SHARD_INDEX": "²"}, "WORKSPACE_EXPORTER_SHARD_INDEX: "),
    "target index ²": (
        "targets_superscript",
        {"WORKSPACE_EXPORTER_TARGET_INDEX": "²"},
        "WORKSPACE_EXPORTER_TARGET_INDEX: must be an index",
    ),
    "token with newline": (
        "plain",
        {"HUAWEICLOUD_SDK_SECURITY_TOKEN": f"{CANARY_TOKEN}\nx"},
        "auth: environment variable HUAWEICLOUD_SDK_SECURITY_TOKEN holds a control character",
    ),
    "AK with header injection": (
        "plain",
        {"HUAWEICLOUD_SDK_AK": f"AK\r\nX-Leak: {CANARY_TOKEN}"},
        "auth: environment variable HUAWEICLOUD_SDK_AK holds a control character",
    ),
    "utf-16 key file": ("sk_file_utf16", {}, "auth.sk_file: file "),
    "web config bomb": ("web_bomb", {}, "web config "),
    "web config duplicate user": ("web_duplicate_user", {}, "web config "),
}
# What each web config case must say after its "web config '<path>': " prefix.
WEB_PROBLEM = {
    "web config bomb": "aliases expand to more than 20000 YAML nodes",
    "web config duplicate user": "basic_auth_users.prometheus: duplicate key (line 3)",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _generated(tmp_path_factory.mktemp("hostile"))


def _path(name: str, generated: dict[str, Path]) -> Path:
    return generated.get(name) or HOSTILE / f"{name}.yaml"


# The child caps its own address space before importing the exporter (no preexec_fn: the
# test process may have threads, and fork-then-Python is unsafe with threads).
_LIMITED = (
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE})); "
    "sys.argv = ['exporter', *sys.argv[1:]]; "
    "runpy.run_module('exporter', run_name='__main__')"
)


def _check_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _LIMITED, "check-config", "--config.file", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **ENV, **env},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_every_hostile_fixture_has_a_case() -> None:
    used = {name for name, _, _ in CASES.values()} | {"web_bomb", "web_duplicate_user"}
    assert {p.stem for p in HOSTILE.glob("*.yaml")} <= used


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_config_rejects_hostile_input_in_one_line(case: str, generated: dict[str, Path]) -> None:
    name, env, start = CASES[case]
    r = _check_config(_path(name, generated), env)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr[-2000:]
    (line,) = lines
    assert line.startswith(PREFIX + start), line
    if case in WEB_PROBLEM:
        assert line.endswith(WEB_PROBLEM[case]) or WEB_PROBLEM[case] in line, line
    assert len(line) < 400
    assert "Traceback" not in r.stderr
    for canary in (CANARY_SK, CANARY_TOKEN):
        assert canary not in r.stderr


# -- reload: the same files rejected by a running exporter ---------------------------------------

RELOAD_CASES = [
    "alias bomb",
    "merge-key bomb",
    "recursive alias",
    "duplicate key",
    "nan interval",
    "nan budget",
    "deep nesting",
    "400-digit burst",
    "5000-digit int",
    "utf-16 file",
    "latin-1 file",
    "oversize file",
    "huge value",
    "utf-16 key file",
]


@pytest.fixture
def running(
    fake_api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MultiExporter, Path]]:
    """An in-process exporter (not started: reload needs no refresh threads) on a valid file."""
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(fake_api.config()), "utf-8")
    multi = MultiExporter(load_targets(path))
    try:
        yield multi, path
    finally:
        multi.stop()


@pytest.mark.parametrize("case", RELOAD_CASES)
def test_reload_of_a_hostile_file_is_rejected_with_the_gauge_at_0(
    case: str,
    generated: dict[str, Path],
    running: tuple[MultiExporter, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    multi, path = running
    before = multi.settings
    assert scraped(multi.exposition).get_sample_value(GAUGE) == 1.0
    name, _, start = CASES[case]
    path.write_bytes(_path(name, generated).read_bytes())
    with caplog.at_level(logging.INFO, logger="exporter"):
        ok, message = multi.reload()
    assert not ok
    assert message.startswith("config reload rejected: " + start), message
    assert scraped(multi.exposition).get_sample_value(GAUGE) == 0.0
    assert multi.settings is before
    records = [r for r in caplog.records if r.name.startswith("exporter")]
    assert len(records) == 1, [r.getMessage()[:200] for r in records]
    (record,) = records
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert record.getMessage().startswith(
        "config reload rejected, keeping the running config problem=" + start
    )
    assert len(record.getMessage()) < 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("case", ["alias bomb", "deep nesting"])
def test_sighup_with_a_hostile_file_keeps_serving_and_logs_one_line(
    case: str, fake_api: FakeApi, generated: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(fake_api.config()), "utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = ["--config.file", str(path), "--web.listen-address", f"127.0.0.1:{port}", "--log.format", "json"]
    p = subprocess.Popen(
        [sys.executable, "-m", "exporter", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **fake_api.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def gauge() -> float | None:
        try:
            body = requests.get(url + "/metrics", timeout=5).text
        except requests.ConnectionError:
            return None
        for line in body.splitlines():
            if line.startswith(GAUGE + " "):
                return float(line.split()[1])
        return None

    try:
        assert _wait(lambda: gauge() == 1.0, 30)
        rss_before = _peak_rss_mib(p.pid)
        path.write_bytes(_path(CASES[case][0], generated).read_bytes())
        p.send_signal(signal.SIGHUP)
        assert _wait(lambda: gauge() == 0.0, 30)
        assert requests.get(url + "/-/healthy", timeout=5).status_code == 200
        # The bomb expands to 387 million strings; bounded, the reload costs a few MiB at most.
        assert _peak_rss_mib(p.pid) - rss_before < 64
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        out = p.stdout.read() if p.stdout else ""
        if p.stdout:
            p.stdout.close()
    rejected = [line for line in out.splitlines() if "config reload rejected" in line]
    assert len(rejected) == 1, rejected
    assert CASES[case][2] in rejected[0]
    assert "Traceback" not in out
    assert fake_api.state.sk not in out
    assert max(len(line) for line in out.splitlines()) < 2000
