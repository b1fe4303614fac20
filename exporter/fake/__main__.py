"""``python -m exporter.fake``: run a standalone fake Workspace API until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from exporter.fake.server import FakeServer
from exporter.fake.state import FakeWorkspace


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.fake", description=__doc__)
    parser.add_argument("--desktops", type=int, default=10, help="number of generated desktops")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timestamp-unit", choices=("ms", "s"), default="ms")
    parser.add_argument("--no-activity", action="store_true", help="start without connection/screen records")
    args = parser.parse_args(argv)

    state = FakeWorkspace(args.desktops, seed=args.seed, timestamp_unit=args.timestamp_unit)
    if not args.no_activity:
        state.seed_activity()
    server = FakeServer(state, host=args.host, port=args.port)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    url = server.start()
    print(f"fake Workspace API listening on {url}")
    print(f"  ak={state.ak} sk={state.sk}")
    print(f"  project_id={state.project_id} region={state.region}")
    print(f"  iam user={state.iam_user} password={state.iam_password} domain={state.iam_domain}")
    print(f"  control plane: {url}/_fake/calls", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
