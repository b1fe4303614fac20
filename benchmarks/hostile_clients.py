"""Probe and scrape latency, RSS and threads of the HTTP server under hostile clients.

Runs the exporter's WSGI app (a ~2,000-series exposition) in a child process on
one of several servers and, for each attack, measures p50/p99 of ``/-/healthy``
and ``/metrics`` from a well-behaved client plus the child's VmRSS and thread
count. Prints a table; asserts nothing.

    python benchmarks/hostile_clients.py                      # the exporter's server
    python benchmarks/hostile_clients.py --server stdlib      # the former ThreadingWSGIServer
    /tmp/venv/bin/python benchmarks/hostile_clients.py --server cheroot   # needs cheroot
    /tmp/venv/bin/python benchmarks/hostile_clients.py --server waitress  # needs waitress

Attacks (all on 127.0.0.1, each held while the client measures):
  baseline   no attack
  idle       N connections that send nothing
  slowloris  N connections that send a header line every 0.5 s
  fullhead   N connections that each send 15 kB of header and stop
"""

from __future__ import annotations

import argparse
import contextlib
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SERVERS = ("loop", "stdlib", "cheroot", "waitress")


def _app() -> object:
    from prometheus_client import CollectorRegistry, Gauge

    from exporter.serve.server import make_app

    registry = CollectorRegistry()
    g = Gauge("huaweicloud_workspace_bench", "Bench series.", ["desktop_id"], registry=registry)
    for i in range(2000):
        g.labels(f"d-{i:05d}").set(i)
    return make_app(registry, lambda: True, lambda: (True, "ok"))


def child(server: str) -> None:
    """Serve the app on a free port, print the port, run until killed."""
    app = _app()
    if server == "loop":
        from exporter.serve.server import HTTPServer

        srv = HTTPServer("127.0.0.1", 0, app)  # type: ignore[arg-type]
        print(srv.address[1], flush=True)
        srv.start()
        threading.Event().wait()
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


def _get(port: int, path: str, timeout: float) -> float | None:
    """Seconds for one GET on a fresh connection, or None when it failed or timed out."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
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
            return socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            return None

    for _ in range(count if kind != "baseline" else 0):
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
    try:
        yield
    finally:
        stop.set()
        if dripper.is_alive():
            dripper.join(timeout=5)
        for s in socks:
            s.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=SERVERS, default="loop")
    parser.add_argument("--connections", type=int, default=300, help="hostile connections per attack")
    parser.add_argument("--requests", type=int, default=100, help="measured requests per path")
    parser.add_argument("--timeout", type=float, default=2.0, help="per measured request, seconds")
    parser.add_argument("--child", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", args.server],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        print(f"server={args.server} connections={args.connections} requests={args.requests}", flush=True)
        idle_rss, idle_threads = _status(proc.pid)
        print(f"{'at rest':10} rss {idle_rss / 1024:6.1f} MB  threads {idle_threads}", flush=True)
        for kind in ("baseline", "idle", "slowloris", "fullhead"):
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
