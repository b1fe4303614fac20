"""Command line: ``run`` (default), ``check-config``, ``export-connections`` and ``demo``.

Flags follow the Go exporters' dotted style. Secrets never come from flags: they
come from the environment or ``*_file`` paths named in the config.
Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from exporter import __version__, fatal
from exporter.app.multi import MultiExporter
from exporter.cli import demo as demo_cmd
from exporter.cli import export_connections as export_cmd
from exporter.cli.report import config_error
from exporter.config.settings import DEFAULT_PORT, Settings, parse_listen_address
from exporter.config.targets import load_targets
from exporter.config.web import WebSecurity, load_web_config
from exporter.errors import ConfigError
from exporter.logs import setup_logging
from exporter.serve.auth import BasicAuth
from exporter.serve.policy import WebPolicy
from exporter.serve.server import HTTPServer, make_app

log = logging.getLogger("exporter")

COMMANDS = ("run", "check-config", "export-connections", "demo")
DEFAULT_CONFIG = "config.yaml"


def _config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help=f"YAML configuration file (default: {DEFAULT_CONFIG}).",
    )


def _serve_flags(p: argparse.ArgumentParser, default_listen: str | None = None) -> None:
    g = p.add_argument_group("web")
    g.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=default_listen,
        metavar="HOST:PORT",
        help="Address to serve /metrics on; overrides web.listen_address "
        f"(default {default_listen or f':{DEFAULT_PORT}'}).",
    )
    g.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        metavar="PATH",
        help="exporter-toolkit style web config (TLS, basic auth); overrides web.config_file.",
    )
    g.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="Enable POST /-/reload (off by default, as in Prometheus; SIGHUP always reloads).",
    )
    lg = p.add_argument_group("logging")
    lg.add_argument(
        "--log.level",
        dest="log_level",
        choices=("debug", "info", "warn", "error"),
        default=None,
        help="Log level; overrides log.level (default info).",
    )
    lg.add_argument(
        "--log.format",
        dest="log_format",
        choices=("logfmt", "json"),
        default=None,
        help="Log line format; overrides log.format (default logfmt).",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workspace-exporter",
        description="Prometheus exporter for Huawei Cloud Workspace (cloud desktops). "
        f"Serves /metrics on port {DEFAULT_PORT} by default. Credentials come from the "
        "HUAWEICLOUD_SDK_* environment variables or files named in the config, never from flags.",
    )
    parser.add_argument("--version", action="version", version=f"workspace-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="Run the exporter (the default command).")
    _config_flag(run)
    _serve_flags(run)
    check = sub.add_parser("check-config", help="Validate a configuration file; exit 0 if valid, 2 if not.")
    _config_flag(check)
    check.add_argument(
        "--online",
        action="store_true",
        help="Then make one smallest call to each API the config enables, with its credentials, and "
        "print a table of results (the IAM action to grant for a 403); exit 1 if any call fails.",
    )
    demo = sub.add_parser(
        "demo",
        help="Start a fake Workspace API with a simulated office and the exporter against it.",
        description="Start a fake Workspace API (fake data, fake credentials) with a simulated "
        "office on 127.0.0.1, write a config file for it and run the exporter from that file.",
        epilog="scenarios (each makes the listed alerts of the shipped rules fire):\n"
        + demo_cmd.scenario_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo_cmd.add_arguments(demo)
    _serve_flags(demo, default_listen=f"127.0.0.1:{DEFAULT_PORT}")
    export = sub.add_parser(
        "export-connections",
        help="Download the connection-record export (v2, or the v3 task with --async) to a file.",
    )
    _config_flag(export)
    export_cmd.add_arguments(export)
    return parser


def _with_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    cfg = settings.config
    web, logc = cfg.web, cfg.log
    if args.listen_address:
        try:
            parse_listen_address(args.listen_address)
        except ValueError as e:
            raise ConfigError([f"--web.listen-address: {e}"]) from e
        web = dataclasses.replace(web, listen_address=args.listen_address)
    if args.web_config_file:
        web = dataclasses.replace(web, config_file=args.web_config_file)
    if args.log_level:
        logc = dataclasses.replace(logc, level=args.log_level)
    if args.log_format:
        logc = dataclasses.replace(logc, format=args.log_format)
    return dataclasses.replace(settings, config=dataclasses.replace(cfg, web=web, log=logc))


class _LiveWeb:
    """The web config of the running server: re-read with the config on SIGHUP and
    ``/-/reload``, applied live where it can be (users, headers, rate limit, TLS settings
    and certificate for new connections), named in a warning where it needs a restart."""

    def __init__(
        self, exporter: MultiExporter, auth: BasicAuth, policy: WebPolicy, security: WebSecurity | None
    ) -> None:
        self._exporter, self._auth, self._policy = exporter, auth, policy
        self._security = security
        self._listen = exporter.settings.config.web.listen_address
        self._lock = threading.Lock()
        self.server: HTTPServer | None = None

    def reload(self) -> tuple[bool, str]:
        with self._lock:
            loaded: list[WebSecurity | None] = []

            def check(settings: Settings) -> None:
                path = settings.config.web.config_file
                loaded.append(load_web_config(path) if path else None)

            ok, message = self._exporter.reload(check=check)
            if ok and loaded:
                self._apply(loaded[-1], self._exporter.settings.config.web.listen_address)
            return ok, message

    def _apply(self, new: WebSecurity | None, listen: str) -> None:
        was_tls = self.server.tls if self.server else bool(self._security and self._security.tls)
        self._auth.update(new.users if new else {})
        self._policy.update(new)
        tls_source = self.server.tls_source if self.server else None
        if new is not None and new.tls and tls_source is not None:
            tls_source.update(new)
        if bool(new and new.tls) != was_tls:
            log.warning(
                "web config reload: turning TLS on or off needs a restart setting=%s serving=%s",
                "tls_server_config",
                "https" if was_tls else "http",
            )
        if listen != self._listen:
            log.warning(
                "web config reload: the listen address needs a restart setting=%s serving=%s",
                "web.listen_address",
                self._listen,
            )
        self._security = new


def serve(
    exporter: MultiExporter,
    security: WebSecurity | None,
    stop: threading.Event | None = None,
    lifecycle: bool = False,
) -> int:
    """Start the exporter and its HTTP server; block until SIGTERM/SIGINT (or ``stop``).

    Returns 0 after a clean stop and 1 when the server cannot listen. A thread the
    exporter needs that stops, a thread that cannot start and memory exhaustion end the
    process at once with one log line and exit code 1 (:mod:`exporter.fatal`).
    """
    cfg = exporter.settings.config
    host, port = parse_listen_address(cfg.web.listen_address)
    lifeline = fatal.Lifeline()
    auth = BasicAuth(security.users if security else {})
    policy = WebPolicy(security)
    web = _LiveWeb(exporter, auth, policy, security)
    app = make_app(
        exporter.exposition,
        exporter.ready,
        web.reload,
        auth,
        lifecycle=lifecycle,
        stopped=lifeline.dead,
        policy=policy,
    )
    try:
        server = HTTPServer(host, port, app, security, gate=auth)
        web.server = server
    except OSError as e:
        log.error("cannot listen address=%s error=%s", cfg.web.listen_address, e.strerror or e)
        return 1
    done = stop or threading.Event()
    hup = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        # Set first, log after: under memory exhaustion the log call is what fails.
        if done.is_set():
            fatal.die("second termination signal", signal=signal.Signals(signum).name)
        done.set()
        with contextlib.suppress(Exception):
            log.info("shutting down signal=%s", signal.Signals(signum).name)

    def on_hup(signum: int, frame: FrameType | None) -> None:
        hup.set()  # reloaded by the main loop below: a signal handler starts no thread

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)
    lifeline.watch(lambda: server.threads)
    lifeline.watch(exporter.threads)
    fatal.install(lifeline)
    try:
        exporter.start()
        server.start()
        log.info(
            "serving version=%s url=%s tls=%s basic_auth=%s lifecycle=%s config=%s",
            __version__,
            server.url + "/metrics",
            server.tls,
            auth.enabled,
            lifecycle,
            exporter.settings.source or None,
        )
        while not done.wait(1.0):
            if hup.is_set():
                hup.clear()
                web.reload()
            dead = lifeline.dead()
            if dead is not None:
                fatal.die("a thread the exporter needs stopped", thread=dead)
    except (MemoryError, RuntimeError) as e:
        reason = fatal.fatal_exception(e)
        if reason is None:
            raise
        fatal.die(reason, thread="main")
    fatal.install(None)  # from here on threads end because they are told to
    server.stop()
    exporter.stop()
    log.info("stopped")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        targets = [_with_flags(s, args) for s in load_targets(args.config_file)]
        cfg = targets[0].config
    except ConfigError as e:
        return config_error(e)
    setup_logging(cfg.log.level, cfg.log.format)
    try:
        security = load_web_config(cfg.web.config_file) if cfg.web.config_file else None
    except ConfigError as e:
        return config_error(e)
    log.info(
        "starting version=%s config=%s targets=%s",
        __version__,
        args.config_file,
        ",".join(f"{t.config.region}/{t.credentials.method}" for t in targets),
    )
    exporter = MultiExporter(targets, overrides=lambda s: _with_flags(s, args))
    return serve(exporter, security, lifecycle=args.enable_lifecycle)


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        targets = load_targets(args.config_file)
        if targets[0].config.web.config_file:
            load_web_config(targets[0].config.web.config_file)
    except ConfigError as e:
        return config_error(e)
    where = ", ".join(t.config.region for t in targets)
    print(f"{args.config_file}: configuration is valid ({len(targets)} target(s): {where})", flush=True)
    if args.online:
        from exporter.cli.online import run_online

        return run_online(targets, sys.stdout)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return demo_cmd.run_demo(
        args,
        functools.partial(serve, lifecycle=args.enable_lifecycle),
        lambda s: _with_flags(s, args),
    )


def cmd_export_connections(args: argparse.Namespace) -> int:
    return export_cmd.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    handlers = {
        "run": cmd_run,
        "check-config": cmd_check_config,
        "export-connections": cmd_export_connections,
        "demo": cmd_demo,
    }
    return handlers[args.command](args)
