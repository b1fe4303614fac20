"""The container image: build it from ./Dockerfile, then run the exporter inside it.

No registry and no container daemon are needed: ``scripts/build-image.sh`` debootstraps a
Debian base (python3 + python3-venv), imports it into podman's storage and runs
``podman build --isolation=chroot`` on it. The built image then runs

- with ``--help`` (the smoke test every exporter image gets),
- against the fake Workspace API started on 127.0.0.1 on the host (``--network=host``), as
  Kubernetes would run it: read-only root filesystem, UID 65532, all capabilities dropped.

Needs root plus the Debian packages podman, buildah, runc and debootstrap
(``.ci/install-packaging.sh``); skipped with the reason otherwise. Set
``WORKSPACE_EXPORTER_IMAGE`` to test an image that is already built instead, and
``WORKSPACE_EXPORTER_IMAGE_RUNNER`` (podman-runc, podman, buildah-chroot) to force a runner.

How the image runs depends on the machine: ``podman run`` with runc (explicit ``--ulimit``
values, because a root without CAP_SYS_RESOURCE cannot raise RLIMIT_NOFILE to podman's default,
and crun rejects hybrid cgroup v1/v2 hosts), else podman's default runtime, else
``buildah run --isolation=chroot`` (no OCI runtime at all, but no read-only root either).
"""

from __future__ import annotations

import json
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from exporter import __version__

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-image.sh"
DEFAULT_TAG = "localhost/workspace-exporter:test"
CONFIG_DIR = "/etc/workspace-exporter"
UID_GID = "65532:65532"


def _missing_requirements() -> str | None:
    if os.environ.get("WORKSPACE_EXPORTER_IMAGE"):
        needed = ["podman"]
    else:
        needed = ["podman", "buildah", "debootstrap"]
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (run .ci/install-packaging.sh)"
    if os.geteuid() != 0:
        return "building and running images without a daemon needs root here"
    return None


_reason = _missing_requirements()
if _reason:
    pytest.skip(_reason, allow_module_level=True)


# --------------------------------------------------------------------------------------
# Build, and the ways to run a container on this machine
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    prebuilt = os.environ.get("WORKSPACE_EXPORTER_IMAGE")
    if prebuilt:
        return prebuilt
    log = tmp_path_factory.mktemp("build") / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "all"],
            env={**os.environ, "IMAGE": DEFAULT_TAG},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    assert result.returncode == 0, f"scripts/build-image.sh failed:\n{tail}"
    print(f"\nimage {DEFAULT_TAG} built in {time.monotonic() - started:.0f}s")
    return DEFAULT_TAG


@dataclass
class Runner:
    """Runs commands in containers of the image, one way or another."""

    name: str
    image: str
    entrypoint: list[str]
    default_args: list[str]
    _buildah_containers: list[str] = field(default_factory=list)

    def command(
        self,
        args: list[str],
        *,
        entrypoint: list[str] | None = None,
        env: dict[str, str] | None = None,
        volumes: dict[Path, str] | None = None,
        name: str | None = None,
    ) -> list[str]:
        env = env or {}
        volumes = volumes or {}
        if self.name == "buildah-chroot":
            container = f"we-test-{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["buildah", "from", "--pull-never", "--quiet", "--name", container, self.image],
                check=True,
                capture_output=True,
            )
            self._buildah_containers.append(container)
            cmd = ["buildah", "run", "--isolation=chroot", "--network=host", f"--user={UID_GID}"]
            cmd.append("--cap-drop=all")
            cmd += [f"--env={k}={v}" for k, v in env.items()]
            cmd += [f"--volume={src}:{dst}:ro" for src, dst in volumes.items()]
            # buildah run applies neither ENTRYPOINT nor CMD: emulate them.
            if entrypoint is None:
                entrypoint, args = self.entrypoint, args or self.default_args
            return [*cmd, container, "--", *entrypoint, *args]
        cmd = ["podman"]
        if self.name == "podman-runc":
            cmd += ["--runtime", "runc"]
        nofile_soft, nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cmd += [
            "run",
            "--rm",
            "--network=host",
            "--read-only",
            "--cap-drop=all",
            "--security-opt=no-new-privileges",
            f"--ulimit=nofile={nofile_soft}:{nofile_hard}",
            "--ulimit=nproc=4096:4096",
        ]
        if name:
            cmd.append(f"--name={name}")
        if entrypoint:
            cmd += [f"--entrypoint={json.dumps(entrypoint)}"]
        cmd += [f"--env={k}={v}" for k, v in env.items()]
        cmd += [f"--volume={src}:{dst}:ro" for src, dst in volumes.items()]
        return [*cmd, self.image, *args]

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(args, **kwargs), capture_output=True, text=True, timeout=120)

    def cleanup(self) -> None:
        for container in self._buildah_containers:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
        self._buildah_containers.clear()


@pytest.fixture(scope="module")
def image_config(image: str) -> dict[str, Any]:
    out = subprocess.run(
        ["podman", "image", "inspect", image], capture_output=True, text=True, check=True
    ).stdout
    config: dict[str, Any] = json.loads(out)[0]["Config"]
    return config


@pytest.fixture(scope="module")
def runner(image: str, image_config: dict[str, Any]) -> Iterator[Runner]:
    entrypoint = list(image_config["Entrypoint"])
    default_args = list(image_config["Cmd"])
    attempts = []
    candidates = ["podman-runc"] if shutil.which("runc") else []
    candidates += ["podman", "buildah-chroot"] if shutil.which("buildah") else ["podman"]
    if os.environ.get("WORKSPACE_EXPORTER_IMAGE_RUNNER"):  # force one, e.g. buildah-chroot
        candidates = [os.environ["WORKSPACE_EXPORTER_IMAGE_RUNNER"]]
    for name in candidates:
        candidate = Runner(name, image, entrypoint, default_args)
        result = candidate.run(["--version"])
        candidate.cleanup()
        if result.returncode == 0 and __version__ in result.stdout:
            print(f"\nrunning the image with {name}")
            yield candidate
            candidate.cleanup()
            return
        attempts.append(f"{name}: {(result.stderr or result.stdout).strip()[-300:]}")
    pytest.fail("no way to run the image here:\n" + "\n".join(attempts))


# --------------------------------------------------------------------------------------
# The image itself
# --------------------------------------------------------------------------------------


def test_image_metadata_follows_the_house_style(image_config: dict[str, Any]) -> None:
    assert image_config["User"] == UID_GID
    assert image_config["Entrypoint"] == ["workspace-exporter"]
    assert image_config["Cmd"] == [f"--config.file={CONFIG_DIR}/config.yaml"]
    assert "10187/tcp" in image_config["ExposedPorts"]
    assert not image_config.get("Healthcheck")
    env = dict(item.split("=", 1) for item in image_config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/workspace-exporter/bin:")
    assert not {k for k in env if re.search(r"_AK$|_SK$|TOKEN|PASSWORD|PIP_CERT", k)}
    labels = image_config["Labels"]
    assert labels["org.opencontainers.image.title"] == "workspace-exporter"
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_image_prints_help(runner: Runner) -> None:
    result = runner.run(["--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: workspace-exporter")
    assert "check-config" in result.stdout


def test_image_rejects_a_missing_config_with_exit_code_2(runner: Runner) -> None:
    result = runner.run([])  # the default CMD: --config.file=/etc/workspace-exporter/config.yaml
    assert result.returncode == 2
    assert f"{CONFIG_DIR}/config.yaml" in result.stderr


RUNTIME_CHECKS = """
import os, pathlib, sys, exporter
assert os.getuid() == 65532 and os.getgid() == 65532, (os.getuid(), os.getgid())
venv = pathlib.Path(sys.prefix)
assert str(venv) == "/opt/workspace-exporter", venv
assert not (venv / "bin" / "pip").exists(), "pip left in the runtime venv"
package = pathlib.Path(exporter.__file__).parent
assert list(package.glob("__pycache__/*.pyc")), "byte code not compiled at build time"
assert not pathlib.Path("/run/secrets/pip-ca").exists(), "build secret leaked into the image"
assert not os.access("/opt/workspace-exporter", os.W_OK), "the venv is writable"
print("ok", sys.version.split()[0])
"""


def test_image_runtime_is_read_only_non_root_and_precompiled(runner: Runner) -> None:
    result = runner.run(["-c", RUNTIME_CHECKS], entrypoint=["/opt/workspace-exporter/bin/python"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 3.")


# --------------------------------------------------------------------------------------
# The exporter in the image against the fake Workspace API on the host
# --------------------------------------------------------------------------------------


class LineReader:
    """Collects a process' output lines on a thread, so waiting for one never blocks forever."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pattern: str, timeout: float) -> list[str]:
        """Lines read so far, up to the first one matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return self.seen
        raise AssertionError(f"no output line matched {pattern!r}; got:\n" + "\n".join(self.seen))


@pytest.fixture
def fake_api() -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter.fake", "--desktops", "5", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = "\n".join(LineReader(proc.stdout).until(r"control plane", timeout=30))
        info = {
            "url": re.search(r"listening on (\S+)", text)[1],
            "ak": re.search(r"ak=(\S+)", text)[1],
            "sk": re.search(r"sk=(\S+)", text)[1],
            "project_id": re.search(r"project_id=(\S+)", text)[1],
            "region": re.search(r"region=(\S+)", text)[1],
        }
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_exporter_in_the_image_scrapes_the_fake_api(
    runner: Runner, fake_api: dict[str, str], tmp_path: Path
) -> None:
    url = fake_api["url"]
    config = {
        "region": fake_api["region"],
        "project_id": fake_api["project_id"],
        "endpoints": {"workspace": url, "iam": url, "ces": url},
        "inventory": {"interval": "60s"},
        "monitoring": {"interval": "60s", "max_age": "10m"},
        "web": {"ready_timeout": "30s"},
    }
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(yaml.safe_dump(config), "utf-8")
    config_dir.chmod(0o755)
    (config_dir / "config.yaml").chmod(0o644)
    name = f"we-test-{uuid.uuid4().hex[:8]}"
    cmd = runner.command(
        [f"--config.file={CONFIG_DIR}/config.yaml", "--web.listen-address=127.0.0.1:0"],
        env={"HUAWEICLOUD_SDK_AK": fake_api["ak"], "HUAWEICLOUD_SDK_SK": fake_api["sk"]},
        volumes={config_dir: CONFIG_DIR},
        name=name,
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        output = LineReader(proc.stderr)
        lines = output.until(r"msg=serving .*url=http://\S+/metrics", timeout=60)
        base = re.search(r"url=(http://\S+)/metrics", lines[-1])[1]
        assert _get(f"{base}/-/healthy") == (200, "OK\n")
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            status, body = _get(f"{base}/metrics")
            if status == 200 and "huaweicloud_workspace_desktop_info{" in body:
                break
            time.sleep(0.5)
        info = [line for line in body.splitlines() if line.startswith("huaweicloud_workspace_desktop_info{")]
        assert len(info) == 5, body[-2000:]
        status, _ = _get(f"{base}/-/ready")
        assert status == 200
    finally:
        if runner.name.startswith("podman"):
            subprocess.run(["podman", "stop", "--time=10", name], capture_output=True, check=False)
        else:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if runner.name.startswith("podman"):
            subprocess.run(["podman", "rm", "--force", name], capture_output=True, check=False)
        runner.cleanup()
    # SIGTERM (podman stop) shuts the exporter down cleanly.
    if runner.name.startswith("podman"):
        assert proc.returncode == 0, "\n".join(output.seen)
        output.until(r'msg="?stopped', timeout=5)
