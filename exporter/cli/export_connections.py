"""``workspace-exporter export-connections``: download the connection-record export to a file.

Default: the synchronous v2 export ``GET /v2/{project_id}/connections/desktops/export``
(marked "to be deprecated" upstream); its body is the file. ``--async``: the v3 export
``GET /v3/{project_id}/desktops/connections/export`` returns a ``task_id``, which is
polled on ``GET /v2/{project_id}/export-tasks`` (a progress line, a bounded wait) and
then downloaded from ``/v2/{project_id}/export-tasks/{task_id}/download``.

Arguments are validated before any call (one line, exit 2). The bytes are written
unchanged to a temporary file next to ``--output`` and renamed into place only on
success, so a failure never leaves a partial file. The file's kind is detected from its
first bytes (XLSX/ZIP signature, legacy XLS, or text/CSV) and reported; an extension that
does not match it is warned about. Exit codes: 0 ok, 1 upstream or I/O failure, 2 bad
arguments or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config.schema import parse_duration
from exporter.config.settings import Settings
from exporter.config.targets import load_targets, select_target
from exporter.constraints.workspace import EXPORT_V3_MAX_AGE
from exporter.errors import ConfigError, ExporterError, InvalidResponseError, UpstreamError
from exporter.secret import scrub
from exporter.timeutil import fmt_minutes, fmt_seconds, parse_time
from exporter.upstream.budget import Budget
from exporter.upstream.client import WorkspaceClient

PROG = "workspace-exporter export-connections"
V3_MAX_AGE = EXPORT_V3_MAX_AGE
# The v3 export refuses a start older than 30 days when it arrives: a minute of slack for
# the time between this check and the call.
V3_SLACK = 60.0
LANGUAGES = ("en_US", "zh_CN")
_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z$")
# kind -> (description, extensions that fit it)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "xlsx": ("XLSX workbook (ZIP container)", (".xlsx", ".zip")),
    "xls": ("legacy XLS workbook (OLE2)", (".xls",)),
    "csv": ("text/CSV", (".csv", ".txt")),
    "json": ("JSON text (possibly an error message, not records)", (".json", ".txt")),
    "binary": ("unrecognised binary data", ()),
    "empty": ("an empty file", ()),
}


class ArgumentProblem(ExporterError):
    """One bad command-line argument; the message is the single line shown to the user."""


class ExportFailed(ExporterError):
    """The export task failed, expired or did not finish within the wait."""


@dataclass(frozen=True)
class ExportOptions:
    output: Path
    start: float | None
    end: float | None
    user_name: str | None
    computer_name: str | None
    terminal_type: str | None
    language: str | None
    asynchronous: bool
    timeout: float
    poll_interval: float

    def params(self) -> dict[str, str]:
        fmt = fmt_seconds if self.asynchronous else fmt_minutes
        out: dict[str, str] = {}
        if self.start is not None and self.end is not None:
            out["start_time"], out["end_time"] = fmt(self.start), fmt(self.end)
        for key in ("user_name", "computer_name", "terminal_type", "language"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the subcommand (``--config.file`` is added by the CLI)."""
    p.add_argument(
        "--start", metavar="TIME", help="Start of the window, UTC: 2024-05-01T08:00Z (or ...:SSZ)."
    )
    p.add_argument("--end", metavar="TIME", help="End of the window, UTC; required with --start.")
    p.add_argument("--user-name", dest="user_name", metavar="NAME", help="Only this user's records.")
    p.add_argument(
        "--computer-name", dest="computer_name", metavar="NAME", help="Only this desktop's records."
    )
    p.add_argument("--terminal-type", dest="terminal_type", metavar="TYPE", help="Only this terminal type.")
    p.add_argument("--language", choices=LANGUAGES, default=None, help="Export language (API default en_US).")
    p.add_argument(
        "--target",
        metavar="PROJECT_ID/REGION",
        help="With a targets list in the config: the project to export (a region alone if unique).",
    )
    p.add_argument("--output", required=True, metavar="PATH", help="File to write (replaced atomically).")
    p.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="Use the asynchronous v3 export (task, poll, download); the window must be within 30 days.",
    )
    p.add_argument("--timeout", default="10m", metavar="DURATION", help="With --async: longest wait (10m).")
    p.add_argument(
        "--poll-interval", dest="poll_interval", default="5s", metavar="DURATION", help="With --async (5s)."
    )

    def one_line_error(message: str) -> NoReturn:
        p.exit(2, f"{PROG}: {message}\n")

    p.error = one_line_error  # type: ignore[method-assign]


def _time(flag: str, value: str) -> float:
    """``--start``/``--end``: the shapes the export APIs take, read by :func:`parse_time`."""
    text = value.strip()
    if not _TIME_RE.match(text):
        raise ArgumentProblem(f"{flag}: must be a UTC time like 2024-05-01T08:00Z (got {value!r})")
    ts = parse_time(text)
    if ts is None:
        raise ArgumentProblem(
            f"{flag}: not a valid date and time between 2001-09-09 and 2099 (got {value!r})"
        )
    return ts


def _duration(flag: str, value: str, lo: float, hi: float) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ArgumentProblem(f"{flag}: must be a duration such as 30s or 5m (got {value!r})") from None
    if not lo <= seconds <= hi:
        raise ArgumentProblem(f"{flag}: must be between {lo:g}s and {hi:g}s (got {value!r})")
    return seconds


def validate(args: argparse.Namespace, now: float) -> ExportOptions:
    """Check every argument before any upstream call. Raises ArgumentProblem."""
    if (args.start is None) != (args.end is None):
        raise ArgumentProblem("--start and --end must be given together")
    start = end = None
    if args.start is not None and args.end is not None:
        start, end = _time("--start", args.start), _time("--end", args.end)
        if end <= start:
            raise ArgumentProblem(f"--end must be after --start (got {args.start} .. {args.end})")
        if args.asynchronous:
            if start < now - V3_MAX_AGE + V3_SLACK:
                earliest = fmt_minutes(math.ceil((now - V3_MAX_AGE + V3_SLACK) / 60) * 60)
                raise ArgumentProblem(
                    f"--start: the --async export covers only the last 30 days (earliest {earliest})"
                )
            # No record is newer than now, and the v3 export refuses a later end time.
            end = min(end, float(math.floor(now)))
            if end <= start:
                raise ArgumentProblem(
                    f"--start: the --async export needs a start in the past (got {args.start})"
                )
    for flag, value in (
        ("--user-name", args.user_name),
        ("--computer-name", args.computer_name),
        ("--terminal-type", args.terminal_type),
    ):
        if value is not None and not value.strip():
            raise ArgumentProblem(f"{flag}: must not be empty")
    output = Path(args.output)
    if not args.output or output.is_dir():
        raise ArgumentProblem(f"--output: must be a file path, not a directory (got {args.output!r})")
    if not output.parent.is_dir():
        raise ArgumentProblem(f"--output: directory {str(output.parent)!r} does not exist")
    return ExportOptions(
        output=output,
        start=start,
        end=end,
        user_name=args.user_name,
        computer_name=args.computer_name,
        terminal_type=args.terminal_type,
        language=args.language,
        asynchronous=args.asynchronous,
        timeout=_duration("--timeout", args.timeout, 1.0, 86400.0),
        poll_interval=_duration("--poll-interval", args.poll_interval, 0.1, 60.0),
    )


def detect_kind(data: bytes) -> str:
    """``xlsx`` (ZIP signature), ``xls`` (OLE2), ``json``, ``csv`` (other text), ``binary``, ``empty``."""
    if not data:
        return "empty"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    head = data[:8192]
    if b"\x00" in head:
        return "binary"
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return "json" if stripped[:1] in (b"{", b"[") else "csv"


def extension_warning(path: Path, kind: str) -> str | None:
    """A warning when ``path``'s extension does not fit ``kind`` (None when it fits)."""
    description, fitting = KINDS[kind]
    if not fitting or path.suffix.lower() in fitting:
        return None
    have = path.suffix or "no extension"
    return f"warning: {path.name} has {have} but the export is {description}; consider {fitting[0]}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` (mode 0600), fsync, rename; nothing left on failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def export_sync(client: WorkspaceClient, opts: ExportOptions) -> bytes:
    return client.request_raw("connections_export", params=opts.params()).content


def export_async(
    client: WorkspaceClient,
    opts: ExportOptions,
    clock: Clock,
    progress: Callable[[str], None],
) -> tuple[bytes, str]:
    """Create a v3 export task, wait for it, download it. Returns (bytes, server file name)."""
    body = client.request("connections_export_v3", params=opts.params())
    task_id = body.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise InvalidResponseError("connections_export_v3", 200, "", "no task_id in the answer")
    started = clock.monotonic()
    deadline = started + opts.timeout
    while True:
        listing = client.request("export_tasks", params={"task_id": task_id, "limit": 10})
        tasks = listing.get("export_tasks")
        if not isinstance(tasks, list):
            raise InvalidResponseError("export_tasks", 200, "", "missing list 'export_tasks'")
        task = next((t for t in tasks if isinstance(t, dict) and t.get("task_id") == task_id), None)
        status = str(task.get("status") or "UNKNOWN") if task else "NOT_LISTED_YET"
        elapsed = clock.monotonic() - started
        if status == "SUCCESS" and task is not None:
            progress(f"export task {task_id}: SUCCESS after {elapsed:.0f}s, downloading")
            name = task.get("file_name")
            data = client.request_raw("export_download", {"task_id": task_id}).content
            return data, name if isinstance(name, str) else ""
        if status in ("FAIL", "EXPIRED") and task is not None:
            reason = str(task.get("fail_reason") or "no reason given")
            code = str(task.get("error_code") or "")
            raise ExportFailed(
                f"export task {task_id} ended {status}: {reason}" + (f" ({code})" if code else "")
            )
        progress(f"export task {task_id}: {status}, {elapsed:.0f}s elapsed (waiting up to {opts.timeout:g}s)")
        if clock.monotonic() + opts.poll_interval > deadline:
            raise ExportFailed(f"export task {task_id} still {status} after {opts.timeout:g}s (--timeout)")
        clock.sleep(opts.poll_interval)


class _Progress:
    """One rewritten line on a terminal, one line per update otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._width = 0

    def __call__(self, text: str) -> None:
        if self._tty:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def done(self) -> None:
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()


def run(
    args: argparse.Namespace,
    clock: Clock = SYSTEM_CLOCK,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The ``export-connections`` command. Returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        opts = validate(args, clock.time())
        # The loader of every command: a config `run` accepts (one project or a targets list) works here.
        settings = select_target(load_targets(args.config_file), args.target)
    except ArgumentProblem as e:
        print(f"{PROG}: {e}", file=err)
        return 2
    except ConfigError as e:
        for problem in e.problems:
            print(f"{PROG}: invalid configuration: {problem}", file=err)
        return 2
    return _export(settings, opts, clock, out, err)


def _export(settings: Settings, opts: ExportOptions, clock: Clock, out: TextIO, err: TextIO) -> int:
    client = WorkspaceClient(settings, Budget(settings.config.budget, clock), clock=clock)
    progress = _Progress(err)
    server_name = ""
    try:
        if opts.asynchronous:
            data, server_name = export_async(client, opts, clock, progress)
        else:
            data = export_sync(client, opts)
        progress.done()
        write_atomically(opts.output, data)
    except (UpstreamError, ExportFailed) as e:
        progress.done()
        print(f"{PROG}: export failed: {scrub(str(e))}", file=err)
        return 1
    except OSError as e:
        progress.done()
        print(f"{PROG}: cannot write {str(opts.output)!r}: {e.strerror or e}", file=err)
        return 1
    except KeyboardInterrupt:
        progress.done()
        print(f"{PROG}: interrupted; nothing written", file=err)
        return 130
    finally:
        client.close()
    kind = detect_kind(data)
    extra = f", server file name {server_name}" if server_name else ""
    print(f"wrote {len(data)} bytes to {opts.output} ({KINDS[kind][0]}{extra})", file=out)
    warning = extension_warning(opts.output, kind)
    if warning:
        print(f"{PROG}: {warning}", file=err)
    return 0
