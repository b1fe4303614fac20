"""Memory and time of the real WorkspaceClient against each hostile-upstream attack.

Run from the repository root::

    python -m benchmarks.hostile_upstream            # every mode, default limits
    python -m benchmarks.hostile_upstream --mode gzip_bomb --bomb-mib 2048

Each mode runs in its own child process so that its peak RSS (``ru_maxrss``) is its
own; the child also reports the tracemalloc peak of the call. The client uses the
shipped defaults (``http.max_body_bytes`` 8 MiB, ``http.call_deadline`` 60 s) except
where a mode needs a shorter deadline to finish (``drip``: 5 s). Figures are printed,
never asserted: the tests in ``tests/hostile/`` prove behaviour, this measures it.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from exporter.clock import SYSTEM_CLOCK
from exporter.config.settings import parse_config
from exporter.errors import UpstreamError
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient
from tests.desktops import list_desktops
from tests.hostile.upstream import HostileUpstream

MODES = ("ok", "gzip_bomb", "huge", "endless", "drip", "lying_total", "deep_json")


def run_one(mode: str, bomb_mib: int) -> dict[str, Any]:
    with HostileUpstream(mode, bomb_bytes=bomb_mib * 1024 * 1024, drip_interval=1.0, max_seconds=120) as up:
        if mode == "gzip_bomb":
            from tests.hostile.upstream import gzip_bomb

            wire = len(gzip_bomb(up.bomb_bytes))
        else:
            wire = 0
        http: dict[str, Any] = {"max_retries": 0}
        if mode == "drip":
            http["call_deadline"] = "5s"
        raw = {
            "region": "ap-southeast-1",
            "project_id": "proj",
            "endpoints": {"workspace": up.url, "iam": up.url, "ces": up.url},
            "http": http,
            "budget": {"burst": 100, "per_api": {"desktops_detail": 60000}},
        }
        settings = parse_config(
            raw, {"HUAWEICLOUD_SDK_AK": "AKBENCH0001", "HUAWEICLOUD_SDK_SK": "sk-bench-0001"}
        )
        client = WorkspaceClient(settings, Budget(settings.config.budget, SYSTEM_CLOCK), rng=random.Random(1))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.monotonic()
        outcome = "ok"
        try:
            list_desktops(client)
        except UpstreamError as e:
            outcome = f"{type(e).__name__}: {e.cause or e.error_msg}"
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        client.close()
        sent = up.bytes_sent
        calls = up.calls("/v2/")
    return {
        "mode": mode,
        "seconds": round(elapsed, 2),
        "calls": calls,
        "server_bytes_sent": sent,
        "wire_bytes": wire,
        "tracemalloc_peak_mib": round(peak / 2**20, 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "outcome": outcome[:120],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--bomb-mib", type=int, default=1024, help="decompressed size of the gzip bomb")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.mode, args.bomb_mib)))
        return 0
    rows = []
    for mode in [args.mode] if args.mode else MODES:
        cmd = [sys.executable, "-m", "benchmarks.hostile_upstream", "--child", "--mode", mode]
        out = subprocess.run(
            [*cmd, "--bomb-mib", str(args.bomb_mib)], capture_output=True, text=True, timeout=600, check=True
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
