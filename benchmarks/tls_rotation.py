"""What noticing a renewed certificate costs: a stat of the files, a new context, a handshake.

exporter-toolkit re-reads the web config and the certificate on every handshake. Here the
loop stats the files at most once a second and builds a new context only when they
changed. Prints the cost of each step (median of many, microseconds) so the choice can be
checked: a stat per handshake would be cheap too; a context per handshake would not.

    python -m benchmarks.tls_rotation
"""

from __future__ import annotations

import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from exporter.config.web import WebSecurity
from exporter.serve.tls import ServerTLS, stamps


def _time(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def _handshakes(ctx: ssl.SSLContext, client: ssl.SSLContext, n: int) -> float:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(n):
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def one() -> None:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as s,
        ):
            s.sendall(b"x")

    median = _time(one, n)
    t.join(timeout=10)
    listener.close()
    return median


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        crt, key = Path(d) / "tls.crt", Path(d) / "tls.key"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"),
                *("-keyout", str(key), "-out", str(crt)),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        security = WebSecurity(str(crt), str(key))
        source = ServerTLS(security, every=0.0)  # checks on every call: the per-handshake cost
        client = ssl.create_default_context(cafile=str(crt))
        stat = _time(lambda: stamps(security.files()), 5000)
        check = _time(source.context, 5000)
        build = _time(security.ssl_context, 200)
        handshake = _handshakes(source.context(), client, 200)
    print("RSA-2048 certificate, medians:")
    print(f"  stat of cert and key        {stat:9.1f} us")
    print(f"  change check (ServerTLS)    {check:9.1f} us  (at most once a second in the server)")
    print(f"  new SSLContext from files   {build:9.1f} us  (only when the files changed)")
    print(f"  TLS handshake, loopback     {handshake:9.1f} us")
    print(f"  a check per handshake would add {check / handshake * 100:.2f} % to it; a new context per")
    print(f"  handshake (as exporter-toolkit re-reads) {build / handshake * 100:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
