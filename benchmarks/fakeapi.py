"""Subprocess: the fake Workspace API with N desktops (``python -m benchmarks.fakeapi``)."""

from __future__ import annotations

import argparse

from benchmarks.common import announce, pin, wait_for_stop
from exporter.fake import FakeServer, FakeWorkspace


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--desktops", type=int, required=True)
    p.add_argument("--cpu", type=int, default=None)
    args = p.parse_args()
    pinned = pin(args.cpu)
    state = FakeWorkspace(desktops=args.desktops)
    server = FakeServer(state)
    url = server.start()
    try:
        announce(
            {
                "url": url,
                "ak": state.ak,
                "sk": state.sk,
                "region": state.region,
                "project_id": state.project_id,
                "pinned": pinned,
            }
        )
        wait_for_stop()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
