"""``demo --with-prometheus``: a real Prometheus and Alertmanager watching the demo, on 127.0.0.1.

Both come from the ``PATH`` (Debian: ``prometheus``, ``prometheus-alertmanager``) and run as
child processes with their files in ``<demo dir>/prometheus``:

* ``prometheus.yml`` scrapes the exporter every 15 s through a file_sd target file (which
  the ``exporter-down`` and ``exporter-absent`` scenarios rewrite, see
  :mod:`exporter.cli.demo_scenarios`), evaluates every 15 s the demo's rules (the chart's
  rules with ``rules/demo-values.yaml``: every ``for:`` 30 s) and sends alerts to
  Alertmanager;
* ``alertmanager.yml`` routes every alert to a webhook served by the demo itself, which logs
  one line per notification (``msg="alert notification"``): firing and resolved alerts show
  in the demo's own log within seconds.

Everything listens on loopback ports the demo picks (or the ones given); the processes are
stopped with the demo.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

from exporter.cli.demo_scenarios import TargetFile
from exporter.cli.rules import chart_dir, demo_rules

log = logging.getLogger(__name__)

JOB = "workspace-exporter"
INTERVAL = "15s"
READY_TIMEOUT_S = 60.0
MAX_NOTIFICATION_BYTES = 1 << 20


class StackError(Exception):
    """The demo's Prometheus or Alertmanager cannot run; the message says why and the fix."""


def binaries() -> tuple[str, str]:
    """Paths of prometheus and Alertmanager on the PATH (StackError naming the packages if not)."""
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    missing = [
        name for name, path in (("prometheus", prometheus), ("alertmanager", alertmanager)) if not path
    ]
    if prometheus is None or alertmanager is None:
        raise StackError(
            f"--with-prometheus: {' and '.join(missing)} not on the PATH "
            "(Debian: apt-get install prometheus prometheus-alertmanager)"
        )
    return prometheus, alertmanager


def loopback_address(address: str) -> str:
    """``host:port`` with port 0 replaced by a port that was free a moment ago."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if port not in ("", "0"):
        return f"{host}:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return f"{host}:{s.getsockname()[1]}"


class _Receiver(BaseHTTPRequestHandler):
    """Alertmanager's webhook: one log line per alert of each notification."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_NOTIFICATION_BYTES:
            self.send_response(413)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            doc = json.loads(self.rfile.read(length))
        except ValueError:
            doc = {}
        for alert in doc.get("alerts", []) if isinstance(doc, dict) else []:
            if not isinstance(alert, dict):
                continue
            labels = alert.get("labels") or {}
            log.info(
                "alert notification status=%s alertname=%s severity=%s desktop_id=%s summary=%s",
                alert.get("status"),
                labels.get("alertname"),
                labels.get("severity"),
                labels.get("desktop_id", ""),
                (alert.get("annotations") or {}).get("summary", ""),
            )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """The notifications are logged above; requests are not."""


class DemoStack:
    """Prometheus, Alertmanager and the webhook receiver of ``demo --with-prometheus``."""

    def __init__(
        self,
        directory: Path,
        exporter_address: str,
        prometheus_address: str = "127.0.0.1:0",
        alertmanager_address: str = "127.0.0.1:0",
    ) -> None:
        chart = chart_dir()
        if chart is None:
            raise StackError(
                "--with-prometheus: the chart's rules (helm/workspace-exporter) are not beside the "
                "installed package; run the demo from a source checkout (pip install -e .)"
            )
        host, _, port = exporter_address.rpartition(":")
        if port in ("", "0"):
            raise StackError(
                "--with-prometheus: give --web.listen-address a fixed port for Prometheus to scrape"
            )
        self._prometheus_bin, self._alertmanager_bin = binaries()
        self.directory = directory / "prometheus"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.exporter = f"{host.strip('[]') or '127.0.0.1'}:{port}"
        self.prometheus_address = loopback_address(prometheus_address)
        self.alertmanager_address = loopback_address(alertmanager_address)
        self.targets = TargetFile(
            self.directory / "targets.json", self.exporter, loopback_address("127.0.0.1:0"), {}
        )
        self.rules = self.directory / "alerts-demo.yaml"
        self.rules.write_text(demo_rules(chart), "utf-8")
        self._receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        self._receiver.daemon_threads = True
        self._receiver_thread: threading.Thread | None = None
        self._processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.prometheus_address}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.alertmanager_address}"

    def _write_configs(self) -> tuple[Path, Path]:
        webhook = f"http://127.0.0.1:{self._receiver.server_address[1]}/alerts"
        alertmanager = {
            "route": {
                "receiver": "demo-log",
                "group_by": ["alertname", "desktop_id"],
                "group_wait": "5s",
                "group_interval": "10s",
                "repeat_interval": "4h",
            },
            "receivers": [{"name": "demo-log", "webhook_configs": [{"url": webhook, "send_resolved": True}]}],
        }
        prometheus = {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL, "scrape_timeout": "10s"},
            "rule_files": [str(self.rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [self.alertmanager_address]}]}]},
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "file_sd_configs": [{"files": [str(self.targets.path)], "refresh_interval": "5s"}],
                }
            ],
        }
        am_path, prom_path = self.directory / "alertmanager.yml", self.directory / "prometheus.yml"
        am_path.write_text(yaml.safe_dump(alertmanager, sort_keys=False), "utf-8")
        prom_path.write_text(yaml.safe_dump(prometheus, sort_keys=False), "utf-8")
        return prom_path, am_path

    def start(self) -> None:
        """Start the receiver, Alertmanager and Prometheus; StackError if one is not ready in time."""
        self._receiver_thread = threading.Thread(
            target=self._receiver.serve_forever, name="demo-alert-receiver", daemon=True
        )
        self._receiver_thread.start()
        prom_config, am_config = self._write_configs()
        self._spawn(
            "alertmanager",
            [
                self._alertmanager_bin,
                f"--config.file={am_config}",
                f"--storage.path={self.directory / 'alertmanager-data'}",
                f"--web.listen-address={self.alertmanager_address}",
                "--cluster.listen-address=",
            ],
        )
        self._spawn(
            "prometheus",
            [
                self._prometheus_bin,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={self.directory / 'prometheus-data'}",
                f"--web.listen-address={self.prometheus_address}",
                f"--web.external-url={self.prometheus_url}/",
            ],
        )
        for name, url in (("alertmanager", self.alertmanager_url), ("prometheus", self.prometheus_url)):
            self._wait_ready(name, url + "/-/ready")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self.directory / f"{name}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._processes.append((name, proc, log_path))

    def _wait_ready(self, name: str, url: str) -> None:
        session = requests.Session()
        session.trust_env = False  # loopback only, whatever the proxy variables say
        deadline = time.monotonic() + READY_TIMEOUT_S
        proc, log_path = next((p, path) for n, p, path in self._processes if n == name)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if session.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        tail = log_path.read_text("utf-8", errors="replace").splitlines()[-5:]
        raise StackError(f"--with-prometheus: {name} did not become ready; last lines of {log_path}: {tail}")

    def stop(self) -> None:
        """Stop Prometheus and Alertmanager (their process groups) and the receiver."""
        for _name, proc, _log in reversed(self._processes):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
                except ProcessLookupError:
                    proc.wait(5)
        self._processes.clear()
        self._receiver.shutdown()
        self._receiver.server_close()
