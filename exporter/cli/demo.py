"""``workspace-exporter demo``: the fake Workspace API plus the exporter, on 127.0.0.1.

Nothing leaves the machine: the fake API listens on a free loopback port and the
exporter signs its calls with the fake's own AK/SK. Useful to see every metric
without a Huawei Cloud account.
"""

from __future__ import annotations

import argparse
import sys

from exporter.app.multi import MultiExporter
from exporter.config.settings import parse_config
from exporter.errors import ConfigError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.logs import setup_logging


def demo_config(fake: FakeWorkspace, api_url: str, listen: str) -> dict[str, object]:
    return {
        "region": fake.region,
        "project_id": fake.project_id,
        "endpoints": {"workspace": api_url, "iam": api_url, "ces": api_url},
        "inventory": {"interval": "60s"},
        "monitoring": {"interval": "60s", "max_age": "10m"},
        # The fake's seeded activity lies in the recent past: count it, so the demo shows it.
        "connections": {"lookback": "2h"},
        "events": {"lookback": "2h"},
        "web": {"listen_address": listen, "ready_timeout": "30s"},
    }


def run_demo(args: argparse.Namespace) -> int:
    from exporter.cli.main import _config_error, serve

    if args.desktops < 0 or args.desktops > 100_000:
        print("workspace-exporter: --desktops: must be between 0 and 100000", file=sys.stderr)
        return 2
    setup_logging(args.log_level or "info", args.log_format or "logfmt")
    fake = FakeWorkspace(desktops=args.desktops)
    fake.seed_activity()
    with FakeServer(fake) as api_url:
        env = {"HUAWEICLOUD_SDK_AK": fake.ak, "HUAWEICLOUD_SDK_SK": fake.sk}
        try:
            settings = parse_config(demo_config(fake, api_url, args.listen_address), env)
        except ConfigError as e:
            return _config_error(e)
        print(f"fake Workspace API on {api_url} serving {args.desktops} desktops", file=sys.stderr)
        shown = args.listen_address.replace("0.0.0.0", "127.0.0.1")  # noqa: S104 - display only
        print(f"open http://{shown}/metrics  (Ctrl-C stops)", file=sys.stderr, flush=True)
        return serve(MultiExporter([settings]), None, lifecycle=args.enable_lifecycle)
