"""What one log line costs: exporter/logs.py against structlog configured to write the same line.

Every candidate writes the same event, a warning with four fields (a string, an error's
text, a ``%d`` and a ``%.2f``), through the same work the exporter does on every line: the
level filter, a UTC timestamp to the millisecond, the logger name, every value rendered for
people (:func:`exporter.logs._scalar`) and scrubbed of the three secrets registered first
(:func:`exporter.logs._clean`), one line written and flushed to ``/dev/null``:

- ``ours``: a stdlib ``logging`` call in the exporter's convention
  (``"source refresh failed source=%s ..."``) through :mod:`exporter.logs`' formatters;
- ``structlog``: structlog's own logger, called as structlog is meant to be
  (``log.warning("source refresh failed", source=...)``), processors: level, ISO timestamp,
  event renamed ``msg``, the same scrubbing, structlog's ``LogfmtRenderer`` or
  ``JSONRenderer``; ``WriteLogger``; logger cached on first use. This is structlog's fast path
  and needs every call site rewritten;
- ``floor``: the stdlib logging module alone (``%(message)s``), what every stdlib path pays;
- ``structlog-stdlib``: call sites unchanged, structlog only as the handler's formatter
  (``ProcessorFormatter``, the convention parsed by :func:`exporter.logs.record_fields`).

Prints nanoseconds per line (best of ``--repeat`` runs of ``--lines`` lines each), one sample
line of each, and whether each logfmt line keeps a value's control characters escaped.
Candidates whose package is missing are skipped; structlog is not a dependency of the
exporter, so run it from a throwaway venv:

    python3 -m venv /tmp/structlog-venv && /tmp/structlog-venv/bin/pip install structlog==26.1.0
    /tmp/structlog-venv/bin/python -m benchmarks.logging_cost            # figures of record
    /tmp/structlog-venv/bin/python -m benchmarks.logging_cost --short    # smoke
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import io
import logging
import os
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from exporter import logs
from exporter.secret import Secret

EVENT = "source refresh failed source=%s error=%s attempt=%d elapsed=%.2f"
TEXT = "source refresh failed"
HOSTILE = "bad\rlevel=error msg=forged\x1b[2J"
# What a refresh failure carries: the source, an upstream error's text, the attempt, the time.
ARGS: tuple[object, ...] = ("monitoring", "HTTP 503 from workspace.example: service unavailable", 3, 1.25)
FIELDS = ("source", "error", "attempt", "elapsed")
NAME = "exporter.sources.base"
# structlog names levels after the methods; the exporter writes these.
STRUCTLOG_LEVELS = {"warning": "warn", "exception": "error", "critical": "error"}


def _stdlib_logger(formatter: logging.Formatter, stream: Any) -> logging.Logger:
    """A logger named as a source's is, outside the logging tree: one handler, nothing else."""
    logger = logging.Logger(NAME, logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return logger


def ours(fmt: str, stream: Any) -> tuple[Callable[[], None], Callable[[str], None]]:
    formatter = logs.JsonFormatter() if fmt == "json" else logs.LogfmtFormatter()
    logger = _stdlib_logger(formatter, stream)

    def line() -> None:
        logger.warning(EVENT, *ARGS)

    def hostile(value: str) -> None:
        logger.warning("refused value=%s", value)

    return line, hostile


def floor(fmt: str, stream: Any) -> tuple[Callable[[], None], Callable[[str], None]]:
    """The stdlib logging module alone: the same call, ``%(message)s``, no fields, no scrubbing."""
    logger = _stdlib_logger(logging.Formatter("%(message)s"), stream)

    def line() -> None:
        logger.warning(EVENT, *ARGS)

    def hostile(value: str) -> None:
        logger.warning("refused value=%s", value)

    return line, hostile


def _scrubbed(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The exporter's key order, level names, value rendering and scrubbing, as a structlog processor."""
    level = event.pop("level")
    out: dict[str, Any] = {"ts": event.pop("ts"), "level": STRUCTLOG_LEVELS.get(level, level)}
    out["logger"], out["msg"] = event.pop("logger"), event.pop("msg")
    for key, value in [*out.items(), *event.items()]:
        scalar = logs._scalar(value)
        if scalar is not None:
            clean = logs._clean(scalar)
            out[key] = clean.number if isinstance(clean, logs.Formatted) else clean
    return out


def _renderer(fmt: str) -> Any:
    import structlog

    if fmt == "json":
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    return structlog.processors.LogfmtRenderer(bool_as_flag=False)


def structlog_native(fmt: str, stream: Any) -> tuple[Callable[[], None], Callable[[str], None]]:
    import structlog

    processors = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True, key="ts"),
        structlog.processors.EventRenamer("msg"),
        _scrubbed,
        _renderer(fmt),
    ]
    logger = structlog.wrap_logger(
        structlog.WriteLogger(stream),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        context_class=dict,
        cache_logger_on_first_use=True,
    ).bind(logger=NAME)
    kwargs = dict(zip(FIELDS, ARGS, strict=True))

    def line() -> None:
        logger.warning(TEXT, **kwargs)

    def hostile(value: str) -> None:
        logger.warning("refused", value=value)

    return line, hostile


def structlog_stdlib(fmt: str, stream: Any) -> tuple[Callable[[], None], Callable[[str], None]]:
    import structlog

    def convention(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        record: logging.LogRecord = copy.copy(event["_record"])
        record.args = event["positional_args"]  # ProcessorFormatter empties them on its record
        msg, fields = logs.record_fields(record)
        out: dict[str, Any] = {"ts": logs._ts(record), "level": logs._level(record), "logger": record.name}
        out["msg"] = msg
        out.update((k, v.number if isinstance(v, logs.Formatted) else v) for k, v in fields)
        out["_record"], out["_from_structlog"] = record, False
        return out

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[convention],
        use_get_message=False,
        pass_foreign_args=True,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(fmt)],
    )
    logger = _stdlib_logger(formatter, stream)

    def line() -> None:
        logger.warning(EVENT, *ARGS)

    def hostile(value: str) -> None:
        logger.warning("refused value=%s", value)

    return line, hostile


CANDIDATES: dict[
    str, tuple[str | None, Callable[[str, Any], tuple[Callable[[], None], Callable[[str], None]]]]
] = {
    "floor (stdlib logging, plain)": (None, floor),
    "ours": (None, ours),
    "structlog": ("structlog", structlog_native),
    "structlog-stdlib": ("structlog", structlog_stdlib),
}


def ns_per_line(line: Callable[[], None], lines: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(lines):
            line()
        best = min(best, (time.perf_counter_ns() - t0) / lines)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=50_000, help="lines per timed run")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs; the best counts")
    parser.add_argument("--short", action="store_true", help="2,000 lines, 3 runs: proves it runs")
    args = parser.parse_args()
    lines, repeat = (2_000, 3) if args.short else (args.lines, args.repeat)
    # The scrubber's cost grows with the secrets it knows; an exporter holds a few.
    (
        Secret("AKIDEXAMPLEACCESSKEY00"),
        Secret("sk-example-secret-key-0123456789"),
        Secret("MIIE-token-body-xyz"),
    )

    print(f"{lines} lines per run, best of {repeat}; Python {sys.version.split()[0]}")
    print("| candidate | logfmt ns/line | JSON ns/line | logfmt escapes control characters |")
    print("|---|---|---|---|")
    samples: list[str] = []
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        for name, (package, build) in CANDIDATES.items():
            if package is not None and importlib.util.find_spec(package) is None:
                print(f"| {name} | skipped: {package} is not installed | | |")
                continue
            cells = []
            for fmt in ("logfmt", "json"):
                line, hostile = build(fmt, devnull)
                cells.append(f"{ns_per_line(line, lines, repeat):,.0f}")
                buffer = io.StringIO()
                line, hostile = build(fmt, buffer)
                line()
                if fmt == "logfmt":
                    hostile(HOSTILE)
                    written = buffer.getvalue().splitlines(keepends=True)[-1]
                    escaped = not any(c in written for c in "\r\x1b")
                samples.append(f"{name} {fmt}: {buffer.getvalue().splitlines()[0]}")
            print(f"| {name} | {cells[0]} | {cells[1]} | {'yes' if escaped else 'no'} |")
    print()
    for sample in samples:
        print(sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
