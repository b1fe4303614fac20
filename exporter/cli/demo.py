"""``workspace-exporter demo``: a living fake Workspace API plus the exporter, on 127.0.0.1.

Nothing leaves the machine: the fake API listens on a loopback port and a seeded
simulated office (:mod:`exporter.fake.sim`) keeps it busy. The demo writes an ordinary
config file (and the fake's keys beside it) and runs the exporter from that file, so
``check-config``, ``export-connections``, ``SIGHUP`` and ``/-/reload`` work on it as on
a real deployment. ``--scenario`` (or ``POST /_fake/scenario`` on the fake) stages an
incident for a shipped alert.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from exporter.app.multi import MultiExporter
from exporter.app.scheduler import PeriodicRunner
from exporter.cli.demo_prometheus import DemoStack, StackError
from exporter.cli.demo_scenarios import CONFIG_HEADER, DemoConfig
from exporter.cli.report import config_error
from exporter.config.settings import Settings, parse_listen_address
from exporter.config.targets import load_targets
from exporter.errors import ConfigError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake.scenarios import SCENARIOS
from exporter.fake.sim import Simulation
from exporter.logs import setup_logging

BACKFILL_S = 900.0  # the office's past 15 minutes (an alert range window) are simulated at start


def scenario_help() -> str:
    """One line per scenario with the alerts it makes fire (for --help and README)."""
    lines = []
    for name, s in SCENARIOS.items():
        lines.append(f"  {name:<20} {s.description}")
        if s.alerts:
            lines.append(f"  {'':<20} fires: {', '.join(s.alerts)}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--desktops", type=int, default=20, help="Desktops the fake API serves (default 20).")
    p.add_argument("--seed", type=int, default=0, help="Seed of the simulated office (default 0).")
    p.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=None,
        metavar="NAME",
        help="Stage an incident at start (see the list below); more can be triggered later with "
        "POST /_fake/scenario on the fake API.",
    )
    p.add_argument(
        "--fake.listen-address",
        dest="fake_listen_address",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="Address of the fake Workspace API (default 127.0.0.1:0, a free port).",
    )
    p.add_argument(
        "--with-prometheus",
        dest="with_prometheus",
        action="store_true",
        help="Also run Prometheus and Alertmanager (from the PATH) on loopback ports, with the chart's "
        "rules and every for: 30 s: watch any alert fire within minutes (see README).",
    )
    p.add_argument(
        "--prometheus.listen-address",
        dest="prometheus_listen_address",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="With --with-prometheus: Prometheus's address (default 127.0.0.1:0, a free port).",
    )
    p.add_argument(
        "--alertmanager.listen-address",
        dest="alertmanager_listen_address",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="With --with-prometheus: Alertmanager's address (default 127.0.0.1:0, a free port).",
    )
    p.add_argument(
        "--demo.dir",
        dest="demo_dir",
        default=None,
        metavar="DIR",
        help="Directory for the config file and fake keys the demo writes "
        "(default: a new temporary directory, removed on exit).",
    )


def demo_config(fake: FakeWorkspace, api_url: str, listen: str, keys: Path) -> dict[str, object]:
    return {
        "region": fake.region,
        "project_id": fake.project_id,
        "endpoints": {"workspace": api_url, "iam": api_url, "ces": api_url},
        "auth": {"method": "aksk", "ak_file": str(keys / "ak"), "sk_file": str(keys / "sk")},
        # The default intervals of connections and events (the shipped alerts' thresholds
        # assume them); inventory and monitoring refresh every minute, so what the office
        # does shows within a minute or two.
        "inventory": {"interval": "60s"},
        "monitoring": {"interval": "60s", "max_age": "10m"},
        # The office's simulated past lies before the exporter started: count it, so the
        # demo shows it at once.
        "connections": {"interval": "60s", "lookback": "1h"},
        "events": {"interval": "60s", "lookback": "1h"},
        "web": {"listen_address": listen, "ready_timeout": "30s"},
    }


def write_demo_files(directory: Path, fake: FakeWorkspace, api_url: str, listen: str) -> Path:
    """Write the fake's keys and a config file using them into ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (("ak", fake.ak), ("sk", fake.sk)):
        path = directory / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
    config = directory / "config.yaml"
    body = yaml.safe_dump(demo_config(fake, api_url, listen, directory), sort_keys=False)
    config.write_text(CONFIG_HEADER + body, encoding="utf-8")
    return config


def command() -> str:
    """How to run this exporter again, as it was run (the console script of a virtualenv is not
    on the PATH unless the virtualenv is active)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "workspace-exporter" and argv0.exists():
        return shlex.quote(str(argv0))
    return f"{shlex.quote(sys.executable)} -m exporter"


def _banner(
    fake: FakeWorkspace, api_url: str, config: Path, scenario: str | None, stack: DemoStack | None
) -> str:
    cmd = command()
    quoted = shlex.quote(str(config))
    lines = [
        f"fake Workspace API (fake data, fake credentials): {api_url}",
        f"  project_id={fake.project_id} region={fake.region}",
        f"  ak={fake.ak} sk={fake.sk}",
        f"  iam user={fake.iam_user} password={fake.iam_password} domain={fake.iam_domain}",
        f"config file (reload: SIGHUP, or POST /-/reload with --web.enable-lifecycle): {config}",
        f"  {cmd} check-config --config.file {quoted}",
        f"  {cmd} export-connections --config.file {quoted} --output connections.xlsx",
        f"scenario at start: {scenario or 'none'}; stage one later, see what runs:",
        f'  curl -X POST -d \'{{"name": "login-failure-storm"}}\' {api_url}/_fake/scenario',
        f"  curl {api_url}/_fake/scenario",
    ]
    if stack is not None:
        lines += [
            f"Prometheus (the chart's rules, every for: 30s): {stack.prometheus_url}/alerts",
            f"Alertmanager: {stack.alertmanager_url}  (notifications also show in this log as"
            ' msg="alert notification")',
        ]
    return "\n".join(lines)


def run_demo(
    args: argparse.Namespace,
    serve: Callable[[MultiExporter, None], int],
    with_flags: Callable[[Settings], Settings],
) -> int:
    """Run the demo until stopped; ``serve`` is the ``run`` command's serving loop and
    ``with_flags`` applies the command-line flags to a target's settings."""
    if args.desktops < 0 or args.desktops > 100_000:
        print("workspace-exporter: --desktops: must be between 0 and 100000", file=sys.stderr)
        return 2
    try:
        fake_host, fake_port = parse_listen_address(args.fake_listen_address)
    except ValueError as e:
        print(f"workspace-exporter: --fake.listen-address: {e}", file=sys.stderr)
        return 2
    setup_logging(args.log_level or "info", args.log_format or "logfmt")
    fake = FakeWorkspace(desktops=args.desktops, seed=args.seed)
    sim = Simulation(fake, seed=args.seed)
    sim.backfill(BACKFILL_S)
    exporter_side = args.scenario is not None and SCENARIOS[args.scenario].exporter_side
    if exporter_side and SCENARIOS[args.scenario].needs == "--with-prometheus" and not args.with_prometheus:
        print(f"workspace-exporter: --scenario: {args.scenario} needs --with-prometheus", file=sys.stderr)
        return 2
    if args.scenario and not exporter_side:
        try:
            sim.trigger(args.scenario)
        except ValueError as e:
            print(f"workspace-exporter: --scenario: {e}", file=sys.stderr)
            return 2
    temporary = args.demo_dir is None
    directory = Path(tempfile.mkdtemp(prefix="workspace-exporter-demo-") if temporary else args.demo_dir)
    server = FakeServer(fake, host=fake_host or "127.0.0.1", port=fake_port)
    try:
        api_url = server.start()
    except OSError as e:
        print(f"workspace-exporter: --fake.listen-address: cannot listen: {e.strerror or e}", file=sys.stderr)
        return 1
    sim.start()
    stack: DemoStack | None = None
    try:
        config = write_demo_files(directory, fake, api_url, args.listen_address)
        try:
            targets = [with_flags(s) for s in load_targets(config)]
        except ConfigError as e:
            return config_error(e)
        multi = MultiExporter(targets, overrides=with_flags)
        sim.hooks.update(
            DemoConfig(config, lambda: multi.reload()[0], lambda name: _kick(multi, name)).hooks()
        )
        if args.with_prometheus:
            try:
                stack = DemoStack(
                    directory,
                    args.listen_address,
                    args.prometheus_listen_address,
                    args.alertmanager_listen_address,
                )
                stack.start()
            except StackError as e:
                print(f"workspace-exporter: {e}", file=sys.stderr)
                return 1
            sim.hooks.update(stack.targets.hooks())
        if args.scenario in sim.hooks:  # staged on the exporter: now that it exists
            sim.trigger(args.scenario)
        # What to do with the demo is the command's output (stdout); stderr carries only log lines.
        print(_banner(fake, api_url, config, args.scenario, stack), flush=True)
        return serve(multi, None)
    finally:
        if stack is not None:
            stack.stop()
        sim.stop()
        server.stop()
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


def _kick(multi: MultiExporter, source: str) -> None:
    """Refresh ``source`` now in every target (after a reload changed its interval)."""
    for exporter in multi.exporters:
        runner = exporter.runner(source)
        if isinstance(runner, PeriodicRunner):
            runner.kick()
