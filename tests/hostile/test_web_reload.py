"""The web config of a real exporter process changes without a restart, or says why it cannot.

Certificates renewed in place (as cert-manager does: new files swapped in by rename), a web
config re-read on SIGHUP and on ``/-/reload``, users applied live, a bad web config refused
with the running one kept, exporter-toolkit keys that used to make the exporter exit 2,
and settings that need a restart named in a warning.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
import yaml

from tests import tlsfiles
from tests.hostile.process import Proc, start


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("pki")
    authority = tlsfiles.ca(d)
    return {
        "ca": authority,
        "old": tlsfiles.signed(d, "old", authority, "IP:127.0.0.1", cn="old"),
        "new": tlsfiles.signed(d, "new", authority, "IP:127.0.0.1", cn="new"),
        "client": tlsfiles.signed(d, "client", authority, "DNS:prometheus", cn="client"),
    }


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _swap_in(src: tuple[Path, Path], crt: Path, key: Path) -> None:
    """Replace the files by rename, key first: a reader may see the new key with the old cert."""
    for s, dst in ((src[1], key), (src[0], crt)):
        tmp = dst.with_suffix(".tmp")
        shutil.copy(s, tmp)
        tmp.replace(dst)


def _served_cn(p: Proc, ca: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(p.address(), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        cert = s.getpeercert()
    assert cert is not None
    return next(str(v) for rdn in cert["subject"] for k, v in rdn if k == "commonName")  # type: ignore[misc]


def _wait(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.1)


def _reload_ok(p: Proc, ca: Path, **auth: Any) -> float:
    text = requests.get(p.url + "/metrics", verify=str(ca), timeout=5, **auth).text
    line = next(
        ln for ln in text.splitlines() if ln.startswith("huaweicloud_workspace_config_last_reload_successful")
    )
    return float(line.split()[-1])


@pytest.fixture
def tls_proc(tmp_path: Path, pki: dict[str, tuple[Path, Path]]) -> Iterator[Proc]:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(pki["old"][0], crt)
    shutil.copy(pki["old"][1], key)
    web = {
        "tls_server_config": {"cert_file": str(crt), "key_file": str(key)},
        "basic_auth_users": {"prom": _hash("one")},
    }
    p = start(tmp_path, web, args=("--web.enable-lifecycle",))
    try:
        yield p
    finally:
        p.stop()


def test_a_certificate_renewed_in_place_is_served_to_new_connections_without_a_signal(
    tls_proc: Proc, pki: dict[str, tuple[Path, Path]]
) -> None:
    ca = pki["ca"][0]
    assert _served_cn(tls_proc, ca) == "old"
    _swap_in(pki["new"], tls_proc.dir / "tls.crt", tls_proc.dir / "tls.key")
    _wait(lambda: _served_cn(tls_proc, ca) == "new")
    assert tls_proc.proc.poll() is None
    assert not any("Traceback" in ln for ln in tls_proc.lines)


def test_users_and_certificate_files_change_on_sighup_and_on_reload(
    tls_proc: Proc, pki: dict[str, tuple[Path, Path]]
) -> None:
    ca = pki["ca"][0]
    assert requests.get(tls_proc.url + "/metrics", auth=("prom", "one"), verify=str(ca), timeout=5).ok
    web = {
        "tls_server_config": {"cert_file": str(pki["new"][0]), "key_file": str(pki["new"][1])},
        "basic_auth_users": {"prom": _hash("two"), "grafana": _hash("three")},
    }
    (tls_proc.dir / "web.yml").write_text(yaml.safe_dump(web))
    tls_proc.proc.send_signal(signal.SIGHUP)
    tls_proc.wait_line(r'msg="config reloaded"')
    _wait(lambda: _served_cn(tls_proc, ca) == "new")

    def get(user: str, pw: str) -> int:
        r = requests.get(tls_proc.url + "/metrics", auth=(user, pw), verify=str(ca), timeout=5)
        return r.status_code

    assert (get("prom", "one"), get("prom", "two"), get("grafana", "three")) == (401, 200, 200)
    web["basic_auth_users"] = {"prom": _hash("four")}
    (tls_proc.dir / "web.yml").write_text(yaml.safe_dump(web))
    r = requests.post(tls_proc.url + "/-/reload", auth=("prom", "two"), verify=str(ca), timeout=5)
    assert r.status_code == 200, r.text
    assert (get("prom", "two"), get("prom", "four")) == (401, 200)


def test_a_bad_web_config_on_reload_is_refused_and_the_running_one_kept(
    tls_proc: Proc, pki: dict[str, tuple[Path, Path]]
) -> None:
    ca = pki["ca"][0]
    good = (tls_proc.dir / "web.yml").read_text()
    bad = yaml.safe_load(good)
    bad["tls_server_config"]["cipher_suites"] = ["TLS_RSA_WITH_RC4_128_SHA"]
    (tls_proc.dir / "web.yml").write_text(yaml.safe_dump(bad))
    tls_proc.proc.send_signal(signal.SIGHUP)
    line = tls_proc.wait_line("config reload rejected")
    assert "tls_server_config.cipher_suites" in line
    assert _reload_ok(tls_proc, ca, auth=("prom", "one")) == 0.0
    assert _served_cn(tls_proc, ca) == "old"
    assert tls_proc.proc.poll() is None


def test_turning_tls_off_and_a_new_listen_address_are_named_as_needing_a_restart(
    tls_proc: Proc, pki: dict[str, tuple[Path, Path]]
) -> None:
    (tls_proc.dir / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {"prom": _hash("one")}}))
    config = yaml.safe_load((tls_proc.dir / "config.yaml").read_text())
    config["web"]["listen_address"] = "127.0.0.1:1"
    (tls_proc.dir / "config.yaml").write_text(yaml.safe_dump(config))
    tls_proc.proc.send_signal(signal.SIGHUP)
    assert "setting=tls_server_config" in tls_proc.wait_line("turning TLS on or off needs a restart")
    assert "setting=web.listen_address" in tls_proc.wait_line("the listen address needs a restart")
    assert _served_cn(tls_proc, pki["ca"][0]) == "old"  # still TLS, still the same port


def test_exporter_toolkit_keys_that_used_to_stop_the_exporter_are_honoured(
    tmp_path: Path, pki: dict[str, tuple[Path, Path]]
) -> None:
    ca, server, client = pki["ca"], pki["old"], pki["client"]
    web = {
        "tls_server_config": {
            "cert_file": str(server[0]),
            "key_file": str(server[1]),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(ca[0]),
            "client_allowed_sans": ["prometheus"],
            "max_version": "TLS13",
            "cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
        },
        "http_server_config": {"http2": False, "headers": {"X-Content-Type-Options": "nosniff"}},
    }
    p = start(tmp_path, web)
    try:
        r = requests.get(
            p.url + "/metrics", verify=str(ca[0]), cert=(str(client[0]), str(client[1])), timeout=5
        )
        assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(p.url + "/metrics", verify=str(ca[0]), timeout=5)
    finally:
        p.stop()


def test_check_config_names_a_refused_toolkit_key(tmp_path: Path, pki: dict[str, tuple[Path, Path]]) -> None:
    server = pki["old"]
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(server[0]),
                    "key_file": str(server[1]),
                    "client_auth_type": "RequireAnyClientCert",
                }
            }
        )
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"region": "ap-southeast-1", "project_id": "p" * 32, "web": {"config_file": str(web)}})
    )
    run = subprocess.run(
        [sys.executable, "-m", "exporter", "check-config", "--config.file", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HUAWEICLOUD_SDK_AK": "a" * 20, "HUAWEICLOUD_SDK_SK": "s" * 40},
    )
    assert run.returncode == 2
    assert "tls_server_config.client_auth_type: RequireAnyClientCert accepts" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_demo_serves_tls_and_basic_auth_from_its_web_config(
    tmp_path: Path, pki: dict[str, tuple[Path, Path]]
) -> None:
    ca, server = pki["ca"][0], pki["old"]
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": str(server[0]), "key_file": str(server[1])},
                "basic_auth_users": {"prom": _hash("demo")},
            }
        )
    )
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "exporter", "demo", "--desktops", "3"),
            *("--web.listen-address", "127.0.0.1:0", "--web.config.file", str(web)),
            *("--demo.dir", str(tmp_path / "demo")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        banner = ""
        while time.monotonic() < deadline and "msg=serving " not in banner:
            banner = proc.stderr.readline()
            assert banner or proc.poll() is None
        assert " url=https://" in banner and " basic_auth=true" in banner, banner
        url = banner.split(" url=")[1].split()[0]
        assert requests.get(url, verify=str(ca), timeout=5).status_code == 401
        assert requests.get(url, verify=str(ca), auth=("prom", "demo"), timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
