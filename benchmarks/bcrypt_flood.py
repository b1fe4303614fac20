"""An authorised scrape's latency while a crowd sends wrong passwords from rotating addresses.

Serves the exporter's WSGI app (a ~2,000-series exposition rendered once and cached, as the
exporter serves it; basic auth with one bcrypt hash of cost 10, the htpasswd default) on the
exporter's server in a child process. Then:

  idle    the authorised client scrapes /metrics on a fresh connection, one at a time;
  attack  the same, while ``--connections`` clients, each connecting from its own rotating
          address in 127.0.0.0/8 (so the per-address failed-login limit never bites),
          send GET /metrics with a wrong password as fast as they are answered.

Prints p50/p90/p99/max of both, the ratio of the medians (the target is at most 5x),
and what the attackers got (401: a bcrypt check ran; 429: refused without one).

    python -m benchmarks.bcrypt_flood                    # 200 attackers, 20 s
    python -m benchmarks.bcrypt_flood --short            # a few seconds, to prove it runs
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

USER, PASSWORD = "prometheus", "right-password"


def child(cost: int, checks: int) -> None:
    """Serve the app with basic auth on a free port, print the port, run until killed."""
    import bcrypt
    from prometheus_client import CollectorRegistry, Gauge

    from exporter.exposition.render import CachedExposition
    from exporter.serve.auth import BasicAuth
    from exporter.serve.server import HTTPServer, make_app

    registry, live = CollectorRegistry(), CollectorRegistry()
    g = Gauge("huaweicloud_workspace_bench", "Bench series.", ["desktop_id"], registry=registry)
    for i in range(2000):
        g.labels(f"d-{i:05d}").set(i)
    # Scrapes are served from bytes rendered once, as in the exporter.
    exposition = CachedExposition(lambda: list(registry.collect()), lambda: list(live.collect()), lambda: 1)
    exposition.start()
    auth = BasicAuth({USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost))}, max_checks=checks)
    app = make_app(exposition, lambda: True, lambda: (True, ""), auth)
    srv = HTTPServer("127.0.0.1", 0, app, gate=auth)
    print(srv.address[1], flush=True)
    srv.start()
    threading.Event().wait()


def request(port: int, password: str, source: str = "127.0.0.1", timeout: float = 15.0) -> int:
    """Status of one GET /metrics on a fresh connection from ``source`` (0: failed)."""
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as s:
            s.sendall(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + f"Authorization: Basic {token}\r\n\r\n".encode()
            )
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return 0
    parts = data[:16].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def scrape(port: int, timeout: float = 15.0) -> float | None:
    """Seconds for one authorised scrape, None when it did not get a 200."""
    t0 = time.perf_counter()
    return time.perf_counter() - t0 if request(port, PASSWORD, timeout=timeout) == 200 else None


@contextlib.contextmanager
def flood(port: int, connections: int, seed: int = 0) -> Iterator[Counter[int]]:
    """``connections`` clients sending wrong passwords from rotating 127.0.0.0/8 addresses."""
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def attacker(i: int) -> None:
        rng = random.Random(seed * 100_003 + i)
        while not stop.is_set():
            source = f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
            status = request(port, f"guess-{rng.random()}", source, timeout=5)
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    try:
        yield statuses
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)


def distribution(times: list[float | None]) -> str:
    ok = sorted(t for t in times if t is not None)
    if not ok:
        return f"all {len(times)} failed"

    def pct(p: float) -> float:
        return ok[min(len(ok) - 1, int(len(ok) * p))] * 1000

    return (
        f"p50 {statistics.median(ok) * 1000:7.1f} ms  p90 {pct(0.9):7.1f}  p99 {pct(0.99):7.1f}  "
        f"max {ok[-1] * 1000:7.1f}  failed {len(times) - len(ok)}/{len(times)}"
    )


def measure(port: int, seconds: float, every: float = 0.1) -> list[float | None]:
    times: list[float | None] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        times.append(scrape(port))
        time.sleep(every)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument("--cost", type=int, default=10, help="bcrypt cost of the hash")
    parser.add_argument("--short", action="store_true", help="3 s per phase, 50 attackers")
    parser.add_argument("--checks", type=int, default=1, help="bcrypt checks at once (the server bound)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--attack", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.checks)
        return 0
    if args.attack is not None:
        with flood(args.attack, args.connections) as statuses:
            time.sleep(args.seconds)
        print(", ".join(f"{k or 'error'}: {v}" for k, v in sorted(statuses.items())))
        return 0
    if args.short:
        args.seconds, args.connections = 3.0, min(args.connections, 50)
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.bcrypt_flood",
            "--child",
            str(args.cost),
            "--checks",
            str(args.checks),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        scrape(port)  # the first check runs bcrypt and fills the cache, as a first scrape would
        print(f"bcrypt cost={args.cost} attackers={args.connections} seconds={args.seconds}", flush=True)
        idle = measure(port, args.seconds)
        print(f"{'idle':8} {distribution(idle)}", flush=True)
        # The attackers run in a process of their own: in this one their threads would take
        # the GIL from the measuring client and the figures would measure that instead.
        crowd = subprocess.Popen(
            [
                *(sys.executable, "-m", "benchmarks.bcrypt_flood", "--attack", str(port)),
                *("--connections", str(args.connections), "--seconds", str(args.seconds + 2)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=repo,
        )
        time.sleep(1.0)
        attack = measure(port, args.seconds)
        print(f"{'attack':8} {distribution(attack)}", flush=True)
        out, _ = crowd.communicate(timeout=args.seconds + 60)
        ok_idle = [t for t in idle if t is not None]
        ok_attack = [t for t in attack if t is not None]
        if ok_idle and ok_attack:
            ratio = statistics.median(ok_attack) / statistics.median(ok_idle)
            print(f"median under attack / idle: {ratio:.2f}x (target: at most 5x)", flush=True)
        print("attackers got: " + out.strip(), flush=True)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
