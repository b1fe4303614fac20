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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from exporter.app.multi import MultiExporter
from exporter.app.scheduler import PeriodicRunner
from exporter.cli.demo_prometheus import DemoStack, StackError
from exporter.cli.demo_scenarios import CONFIG_HEADER, DemoConfig
from exporter.cli.report import config_error
from exporter.config.settings import Settings, parse_listen_address
from exporter.config.targets import load_targets
from exporter.config.web import WebSecurity, load_web_config
from exporter.errors import ConfigError
from exporter.fake import FakeServer, FakeWorkspace
from exporter.fake.scenarios import SCENARIOS, Hook
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
        "--projects",
        type=int,
        default=1,
        help="Projects the demo watches as targets of one exporter, each its own fake API and office "
        f"(1-{len(PROJECTS)}; default 1). With more than one, every series has project_id and region labels.",
    )
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


def demo_config(
    fake: FakeWorkspace,
    api_url: str,
    listen: str,
    keys: Path,
    others: Sequence[tuple[FakeWorkspace, str]] = (),
) -> dict[str, object]:
    """The demo's config: one target, or (``others``: more fakes and their URLs) a ``targets`` list."""
    config: dict[str, object] = {
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
        # The fleet sources every minute, so a scenario's pool, quota, task, agents or alarm
        # shows within a minute or two (their defaults are 5 minutes to an hour); user events
        # and the monitoring plug-ins, opt-in elsewhere, are on to show their series.
        "pools": {"interval": "60s"},
        "quotas": {"interval": "60s"},
        "tasks": {"interval": "60s"},
        "agents": {"interval": "60s", "monitoring_plugins": True},
        "alarms": {"interval": "60s", "levels": ["critical", "major", "minor", "info"]},
        "user_events": {"enabled": True, "interval": "60s", "lookback": "1h"},
        "web": {"listen_address": listen, "ready_timeout": "30s"},
    }
    if others:
        config["targets"] = [
            {
                "region": f.region,
                "project_id": f.project_id,
                "endpoints": {"workspace": url, "iam": url, "ces": url},
            }
            for f, url in ((fake, api_url), *others)
        ]
    return config


def write_demo_files(
    directory: Path,
    fake: FakeWorkspace,
    api_url: str,
    listen: str,
    others: Sequence[tuple[FakeWorkspace, str]] = (),
) -> Path:
    """Write the fake's keys (every demo fake has the same) and a config file using them into
    ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (("ak", fake.ak), ("sk", fake.sk)):
        path = directory / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
    config = directory / "config.yaml"
    body = yaml.safe_dump(demo_config(fake, api_url, listen, directory, others), sort_keys=False)
    config.write_text(CONFIG_HEADER + body, encoding="utf-8")
    return config


def command() -> str:
    """How to run this exporter again, as it was run (the console script of a virtualenv is not
    on the PATH unless the virtualenv is active)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "workspace-exporter" and argv0.exists():
        return shlex.quote(str(argv0))
    return f"{shlex.quote(sys.executable)} -m exporter"


def _banner(offices: list[_Office], config: Path, scenario: str | None, stack: DemoStack | None) -> str:
    cmd = command()
    quoted = shlex.quote(str(config))
    fake, api_url = offices[0].fake, offices[0].url
    lines = [f"fake Workspace API (fake data, fake credentials): {o.url}" for o in offices[:1]]
    for o in offices:
        more = f"  (its own fake API: {o.url})" if o is not offices[0] else ""
        lines.append(f"  project_id={o.fake.project_id} region={o.fake.region}{more}")
    target = f" --target {fake.project_id}/{fake.region}" if len(offices) > 1 else ""
    lines += [
        f"  ak={fake.ak} sk={fake.sk}",
        f"  iam user={fake.iam_user} password={fake.iam_password} domain={fake.iam_domain}",
        f"config file (reload: SIGHUP, or POST /-/reload with --web.enable-lifecycle): {config}",
        f"  {cmd} check-config --config.file {quoted}",
        f"  {cmd} export-connections --config.file {quoted}{target} --output connections.xlsx",
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
    serve: Callable[[MultiExporter, WebSecurity | None], int],
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
    if not 1 <= args.projects <= len(PROJECTS):
        print(f"workspace-exporter: --projects: must be between 1 and {len(PROJECTS)}", file=sys.stderr)
        return 2
    setup_logging(args.log_level or "info", args.log_format or "logfmt")
    offices = [_Office.make(args.desktops, args.seed + i, *PROJECTS[i]) for i in range(args.projects)]
    sim = offices[0].sim
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
    stack: DemoStack | None = None
    try:
        for i, office in enumerate(offices):
            try:  # the first fake on --fake.listen-address, any others on free ports
                office.start(fake_host or "127.0.0.1", fake_port if i == 0 else 0)
            except OSError as e:
                print(
                    f"workspace-exporter: --fake.listen-address: cannot listen: {e.strerror or e}",
                    file=sys.stderr,
                )
                return 1
        others = [(o.fake, o.url) for o in offices[1:]]
        config = write_demo_files(directory, offices[0].fake, offices[0].url, args.listen_address, others)
        try:
            targets = [with_flags(s) for s in load_targets(config)]
            web_config = targets[0].config.web.config_file  # --web.config.file: TLS, basic auth
            security = load_web_config(web_config) if web_config else None
        except ConfigError as e:
            return config_error(e)
        multi = MultiExporter(targets, overrides=with_flags)
        hooks: dict[str, Hook] = dict(
            DemoConfig(config, lambda: multi.reload()[0], lambda name: _kick(multi, name)).hooks()
        )
        if args.with_prometheus:
            if security is not None:
                # The demo's Prometheus would need the scrape password, which the web config
                # holds only as a bcrypt hash.
                print(
                    "workspace-exporter: --with-prometheus cannot scrape an exporter behind "
                    "--web.config.file; use one or the other",
                    file=sys.stderr,
                )
                return 2
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
            hooks.update(stack.targets.hooks())
        for office in offices:  # the exporter-side scenarios, from any fake's /_fake/scenario
            office.sim.hooks.update(hooks)
        if args.scenario in sim.hooks:  # staged on the exporter: now that it exists
            sim.trigger(args.scenario)
        # What to do with the demo is the command's output (stdout); stderr carries only log lines.
        print(_banner(offices, config, args.scenario, stack), flush=True)
        return serve(multi, security)
    finally:
        if stack is not None:
            stack.stop()
        for office in offices:
            office.stop()
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


# Project id and region of each project the demo can watch (--projects): the first is the fake's default.
PROJECTS: tuple[tuple[str, str], ...] = (
    ("0123456789abcdef0123456789abcdef", "ap-southeast-1"),
    ("fedcba9876543210fedcba9876543210", "ap-southeast-3"),
    ("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "ap-southeast-2"),
)


@dataclass
class _Office:
    """One project of the demo: its fake API, its simulated office, their server."""

    fake: FakeWorkspace
    sim: Simulation
    server: FakeServer | None = None
    url: str = ""

    @classmethod
    def make(cls, desktops: int, seed: int, project_id: str, region: str) -> _Office:
        fake = FakeWorkspace(desktops=desktops, seed=seed, project_id=project_id, region=region)
        sim = Simulation(fake, seed=seed)
        sim.backfill(BACKFILL_S)
        return cls(fake, sim)

    def start(self, host: str, port: int) -> None:
        self.server = FakeServer(self.fake, host=host, port=port)
        self.url = self.server.start()
        self.sim.start()

    def stop(self) -> None:
        self.sim.stop()
        if self.server is not None:
            self.server.stop()


def _kick(multi: MultiExporter, source: str) -> None:
    """Refresh ``source`` now in every target (after a reload changed its interval)."""
    for exporter in multi.exporters:
        runner = exporter.runner(source)
        if isinstance(runner, PeriodicRunner):
            runner.kick()
