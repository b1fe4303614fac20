"""A real exporter process on 127.0.0.1 against the fake API, for the hostile tests.

:func:`start` writes a config (and an optional web config), starts ``python -m exporter``
(or ``python -c`` with a prelude that injects a fault before ``main`` runs), collects its
stderr and waits for the ``serving`` line; :meth:`Proc.stop` ends it with SIGTERM (and
SIGKILL if that fails). Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from exporter.fake import FakeServer, FakeWorkspace


def cert(d: Path, name: str = "tls", cn: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (``name``.crt, ``name``.key in ``d``)."""
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "2", "-subj", f"/CN={cn}", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(crt)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return crt, key


@dataclass
class Proc:
    proc: subprocess.Popen[str]
    api: FakeServer
    dir: Path
    lines: list[str] = field(default_factory=list)
    url: str = ""
    reader: threading.Thread | None = None

    def get(self, path: str, timeout: float = 5, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=timeout, **kwargs)

    def address(self) -> tuple[str, int]:
        host, _, port = self.url.rpartition("://")[2].rpartition(":")
        return host, int(port)

    def wait_line(self, pattern: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if re.search(pattern, line):
                    return line
            seen = len(self.lines)
            if self.proc.poll() is not None and seen == len(self.lines):
                time.sleep(0.2)  # let the reader drain what the process wrote last
                if seen == len(self.lines):
                    break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")

    def exit_code(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.exit_code(20)
        if code is None:
            self.proc.kill()
            code = self.proc.wait(timeout=5)
        if self.reader is not None:
            self.reader.join(timeout=5)
        self.api.stop()
        return code


def start(
    d: Path,
    web: dict[str, Any] | None = None,
    *,
    prelude: str = "",
    args: tuple[str, ...] = (),
    wait: bool = True,
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
    desktops: int = 20,
) -> Proc:
    """Start an exporter in ``d``; ``prelude`` is Python run in the process before ``main``."""
    fake = FakeWorkspace(desktops=desktops)
    api = FakeServer(fake)
    api_url = api.start()
    config: dict[str, Any] = {
        "region": fake.region,
        "project_id": fake.project_id,
        "endpoints": {"workspace": api_url, "iam": api_url, "ces": api_url},
        "connections": {"enabled": False},
        "events": {"enabled": False},
        "web": {"listen_address": "127.0.0.1:0"},
    }
    if web is not None:
        (d / "web.yml").write_text(yaml.safe_dump(web))
        config["web"]["config_file"] = str(d / "web.yml")
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    argv = ["run", "--config.file", str(d / "config.yaml"), *args]
    code = f"{prelude}\nimport sys\nfrom exporter.cli.main import main\nsys.exit(main({argv!r}))\n"
    environ = {**os.environ, "HUAWEICLOUD_SDK_AK": fake.ak, "HUAWEICLOUD_SDK_SK": fake.sk, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,  # only setrlimit, before exec
    )
    p = Proc(proc, api, d)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if len(p.lines) < 100_000:
                p.lines.append(line)

    p.reader = threading.Thread(target=pump, daemon=True)
    p.reader.start()
    if wait:
        try:
            banner = p.wait_line(r"msg=serving ", timeout=30)
        except AssertionError:
            p.stop()
            raise
        p.url = banner.split(" url=", 1)[1].split()[0].removesuffix("/metrics")
    return p
