"""Probe and scrape latency, RSS and threads of the HTTP server under hostile clients.

Runs the exporter's WSGI app (a ~2,000-series exposition) in a child process on
one of several servers and, for each attack, measures p50/p99 of ``/-/healthy``
and ``/metrics`` from a well-behaved client plus the child's VmRSS and thread
count. Prints a table; asserts nothing.

    python -m benchmarks.hostile_clients                      # the exporter's server
    python -m benchmarks.hostile_clients --tls                # ... over TLS
    python -m benchmarks.hostile_clients --server h11loop     # its loop, h11 parsing
    python -m benchmarks.hostile_clients --server stdlib      # the former ThreadingWSGIServer
    /tmp/venv/bin/python -m benchmarks.hostile_clients --server hypercorn [--tls]  # needs hypercorn
    /tmp/venv/bin/python -m benchmarks.hostile_clients --server cheroot   # needs cheroot
    /tmp/venv/bin/python -m benchmarks.hostile_clients --server waitress  # needs waitress

(The /tmp/venv is a throwaway venv with the repository installed, ``pip install -e .``,
plus the server package; none of them is a dependency of the exporter.)

Attacks (all on 127.0.0.1, each held while the client measures):
  baseline   no attack
  idle       N connections that send nothing (over TLS: that never handshake)
  slowloris  N connections that send a header line every 0.5 s
  fullhead   N connections that each send 15 kB of header and stop
  malformed  N/10 clients sending the heads of benchmarks/http_corpus.py, each on a new
             connection, as fast as they are answered
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SERVERS = ("loop", "h11loop", "hypercorn", "stdlib", "cheroot", "waitress")
TLS_SERVERS = ("loop", "h11loop", "hypercorn")


def _app() -> object:
    from prometheus_client import CollectorRegistry, Gauge

    from exporter.serve.server import make_app
    from tests.oracle import serving

    registry = CollectorRegistry()
    g = Gauge("huaweicloud_workspace_bench", "Bench series.", ["desktop_id"], registry=registry)
    for i in range(2000):
        g.labels(f"d-{i:05d}").set(i)
    return make_app(serving(registry), lambda: True, lambda: (True, "ok"))


def marked(app: Any) -> Any:
    """``app`` answering with ``X-Reached-App: 1``: what the server passed on, not refused."""

    def wrapped(environ: dict[str, Any], start: Any) -> Any:
        return app(environ, lambda s, h, e=None: start(s, [*h, ("X-Reached-App", "1")], e))

    return wrapped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child(server: str, tls: str = "") -> None:
    """Serve the app on a free port (TLS with ``tls``/tls.crt and .key), print the port, run
    until killed."""
    app = marked(_app())
    cert, key = (f"{tls}/tls.crt", f"{tls}/tls.key") if tls else ("", "")
    if server in ("loop", "h11loop"):
        from exporter.config.web import WebSecurity
        from exporter.serve.server import PROBES
        from exporter.serve.tls import ServerTLS

        source = ServerTLS(WebSecurity(cert, key)) if tls else None
        if server == "loop":
            from exporter.serve.loop import EventLoopServer
        else:
            from benchmarks.h11_loop import H11LoopServer as EventLoopServer
        srv = EventLoopServer("127.0.0.1", 0, app, source, inline=PROBES)
        print(srv.address[1], flush=True)
        srv.start()
        threading.Event().wait()
    elif server == "hypercorn":
        import asyncio

        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        port = _free_port()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.errorlog = None
        if tls:
            config.certfile, config.keyfile = cert, key
        print(port, flush=True)
        asyncio.run(serve(app, config, mode="wsgi"))
    elif server == "stdlib":
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        from prometheus_client.exposition import ThreadingWSGIServer

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingWSGIServer.daemon_threads = True
        httpd = make_server("127.0.0.1", 0, app, ThreadingWSGIServer, handler_class=Quiet)  # type: ignore[call-overload]
        print(httpd.server_address[1], flush=True)
        httpd.serve_forever()
    elif server == "cheroot":
        from cheroot import wsgi  # type: ignore[import-not-found]

        cs = wsgi.Server(("127.0.0.1", 0), app)
        cs.prepare()
        print(cs.bind_addr[1], flush=True)
        cs.serve()
    elif server == "waitress":
        from waitress.server import create_server  # type: ignore[import-untyped]

        ws = create_server(app, host="127.0.0.1", port=0)
        print(ws.effective_port, flush=True)
        ws.run()


def _status(pid: int) -> tuple[int, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
    threads = re.search(r"^Threads:\s+(\d+)", text, re.M)
    return (int(rss.group(1)) if rss else 0), (int(threads.group(1)) if threads else 0)


_CLIENT_TLS: ssl.SSLContext | None = None


def _connect(port: int, timeout: float) -> socket.socket:
    """A connection to the server, over TLS when the benchmark runs with --tls."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if _CLIENT_TLS is None:
        return raw
    try:
        return _CLIENT_TLS.wrap_socket(raw, server_hostname="127.0.0.1")
    except OSError:
        raw.close()
        raise


def _get(port: int, path: str, timeout: float) -> float | None:
    """Seconds for one GET on a fresh connection, or None when it failed or timed out."""
    start = time.perf_counter()
    try:
        with _connect(port, timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
                if time.perf_counter() - start > timeout:
                    return None
    except OSError:
        return None
    return time.perf_counter() - start if data[:16].split(b" ")[1:2] == [b"200"] else None


def _measure(port: int, path: str, n: int, timeout: float) -> str:
    times = [_get(port, path, timeout) for _ in range(n)]
    ok = sorted(t for t in times if t is not None)
    failed = n - len(ok)
    if not ok:
        return f"all {n} failed"
    p99 = ok[min(len(ok) - 1, int(len(ok) * 0.99))]
    return f"p50 {statistics.median(ok) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  failed {failed}/{n}"


@contextlib.contextmanager
def _attack(kind: str, port: int, count: int) -> Iterator[None]:
    socks: list[socket.socket] = []
    stop = threading.Event()

    def connect() -> socket.socket | None:
        try:
            if kind == "idle":  # plain TCP: over TLS, a client that never handshakes
                return socket.create_connection(("127.0.0.1", port), timeout=2)
            return _connect(port, 2)
        except OSError:
            return None

    def malformed(i: int) -> None:
        from benchmarks.http_corpus import CORPUS

        n = 0
        while not stop.is_set():
            case = CORPUS[(i + n) % len(CORPUS)]
            n += 1
            with contextlib.suppress(OSError), _connect(port, 2) as s:
                s.sendall(case.raw)
                while s.recv(65536):
                    pass

    senders = [threading.Thread(target=malformed, args=(i,), daemon=True) for i in range(count // 10)]
    for _ in range(count if kind not in ("baseline", "malformed") else 0):
        s = connect()
        if s is None:
            continue
        socks.append(s)
        with contextlib.suppress(OSError):
            if kind == "slowloris":
                s.sendall(b"GET /metrics HTTP/1.1\r\n")
            elif kind == "fullhead":
                s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 15000)

    def drip() -> None:
        while not stop.wait(0.5):
            for s in socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-a: b\r\n")

    dripper = threading.Thread(target=drip, daemon=True)
    if kind == "slowloris":
        dripper.start()
    if kind == "malformed":
        for t in senders:
            t.start()
    try:
        yield
    finally:
        stop.set()
        if dripper.is_alive():
            dripper.join(timeout=5)
        for t in senders:
            if t.is_alive():
                t.join(timeout=5)
        for s in socks:
            s.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=SERVERS, default="loop")
    parser.add_argument("--tls", action="store_true", help=f"serve over TLS ({', '.join(TLS_SERVERS)})")
    parser.add_argument("--attacks", default="baseline,idle,slowloris,fullhead,malformed")
    parser.add_argument("--connections", type=int, default=300, help="hostile connections per attack")
    parser.add_argument("--requests", type=int, default=100, help="measured requests per path")
    parser.add_argument("--timeout", type=float, default=2.0, help="per measured request, seconds")
    parser.add_argument("--child", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--child-tls", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_tls)
        return 0
    if args.tls and args.server not in TLS_SERVERS:
        parser.error(f"--tls works with {', '.join(TLS_SERVERS)}")
    repo = Path(__file__).resolve().parent.parent
    tls_dir = tempfile.mkdtemp(prefix="hostile-clients-") if args.tls else ""
    if tls_dir:
        global _CLIENT_TLS
        _self_signed(Path(tls_dir))
        _CLIENT_TLS = ssl.create_default_context(cafile=f"{tls_dir}/tls.crt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.hostile_clients", "--child", args.server, "--child-tls", tls_dir],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        wait_ready(port)
        print(
            f"server={args.server} tls={args.tls} connections={args.connections} requests={args.requests}",
            flush=True,
        )
        idle_rss, idle_threads = _status(proc.pid)
        print(f"{'at rest':10} rss {idle_rss / 1024:6.1f} MB  threads {idle_threads}", flush=True)
        for kind in args.attacks.split(","):
            with _attack(kind, port, args.connections):
                time.sleep(0.5)
                healthy = _measure(port, "/-/healthy", args.requests, args.timeout)
                metrics = _measure(port, "/metrics", args.requests, args.timeout)
                rss, threads = _status(proc.pid)
            print(f"{kind:10} rss {rss / 1024:6.1f} MB  threads {threads:4}", flush=True)
            print(f"{'':10} /-/healthy {healthy}", flush=True)
            print(f"{'':10} /metrics   {metrics}", flush=True)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if tls_dir:
            shutil.rmtree(tls_dir, ignore_errors=True)
    return 0


def wait_ready(port: int, timeout: float = 30.0) -> None:
    """Until the child accepts connections (a server may print its port before it listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _self_signed(d: Path) -> None:
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(d / "tls.key"), "-out", str(d / "tls.crt")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


if __name__ == "__main__":
    sys.exit(main())
