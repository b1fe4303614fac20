"""Static checks of the packaging files: hadolint on the Dockerfile, shellcheck on the scripts.

No container engine needed; each check skips itself when its linter is not installed
(``.ci/install-packaging.sh`` installs both).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _tool(name: str) -> str:
    venv_tool = ROOT / ".venv" / "bin" / name
    path = str(venv_tool) if venv_tool.exists() else shutil.which(name)
    if not path:
        pytest.skip(f"{name} not installed (run .ci/install-packaging.sh)")
    return path


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [ROOT / "scripts" / "build-image.sh", ROOT / ".ci" / "install-packaging.sh"]
    result = subprocess.run(
        [_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_follows_the_house_style() -> None:
    text = DOCKERFILE.read_text("utf-8")
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    final = text[text.rindex("\nFROM ") :]
    assert "COPY --from=builder /opt/workspace-exporter /opt/workspace-exporter" in final
    assert re.search(r"^USER 65532:65532$", final, re.MULTILINE)
    assert re.search(r"^EXPOSE 10187$", final, re.MULTILINE)
    assert 'ENTRYPOINT ["workspace-exporter"]' in final
    assert 'CMD ["--config.file=/etc/workspace-exporter/config.yaml"]' in final
    for env in ("PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PIP_NO_CACHE_DIR=1"):
        assert env in final
    assert "HEALTHCHECK" not in text
    assert "org.opencontainers.image.version" in final
