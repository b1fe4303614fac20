"""Logging setup and structured log lines: ``--log.level`` and ``--log.format logfmt|json``.

The exporter's log calls follow one convention, which is also the structured API:

    log.warning("source refresh failed source=%s error=%s", name, error)

The format string (``record.msg``, written by us, so trusted) is the event text followed
only by `` key=%s`` placeholders. The formatters split it: the text becomes ``msg`` and
each key is paired with its argument, so the line above becomes, in logfmt,

    ts=... level=warn logger=exporter.sources.base msg="source refresh failed" source=monitoring ...

and in JSON one key per field. Values are rendered for people, never as Python reprs
(booleans ``true``/``false``, ``None`` omitted, floats compact, exceptions by their text;
an :class:`~exporter.errors.UpstreamError` spreads into ``api``, ``host``, ``cause``,
``status`` ... fields). ``%d`` or ``%.1f`` placeholders keep their formatting. A call can
add fields with ``extra={"fields": {...}}``. A record that does not follow the convention
(a third-party logger) is still one line in the chosen format, its whole message in
``msg``. A traceback goes, escaped onto the same line, into an ``exc`` field.

Every field value and the message pass through :func:`exporter.secret.scrub`, so no known
secret reaches stderr whichever module logged it or whatever exception text it carried.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from types import TracebackType

from exporter import fatal
from exporter.errors import UpstreamError
from exporter.secret import scrub

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}

# Keys every line carries; a field of the same name is written as ``field_<key>``.
RESERVED = ("ts", "level", "logger", "msg", "exc", "stack")
KEY = r"[a-z][a-z0-9_]*"
# A printf conversion the formatters can pair with an argument: flags, width, precision, type.
SPEC = r"%[#0 +-]*\d*(?:\.\d+)?[sdifFeEgGxXor]"
# The convention: text without placeholders (a literal ``%%`` is fine), then only `` key=SPEC``.
CONVENTION = re.compile(rf"(?P<text>(?:[^%]|%%)*?)(?P<pairs>(?: {KEY}={SPEC})*)")
_PAIR = re.compile(rf" ({KEY})=({SPEC})")
_SAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]")
# A logfmt value written bare: letters and digits of any script (``\w`` is ``str.isalnum``
# plus ``_``) and these marks; anything else is quoted. A regex, because a test of each
# character in Python would be the costliest step of a logfmt line (benchmarks/logging_cost.py).
_BARE = re.compile(r"[\w\-./:@+,%*()\[\]]+")
# Strings are cut here: one runaway value (an upstream echo) must not make a megabyte line.
MAX_VALUE_CHARS = 4000

Scalar = str | int | float | bool


@lru_cache(maxsize=1024)
def split_format(fmt: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """``(text, ((key, spec), ...))`` when ``fmt`` follows the convention, else ``None``."""
    m = CONVENTION.fullmatch(fmt)
    if m is None:
        return None
    return m["text"], tuple((k, s) for k, s in _PAIR.findall(m["pairs"]))


def _compact_float(v: float) -> float | str:
    if math.isnan(v) or math.isinf(v):
        return str(v)  # JSON has no NaN: a string keeps the line valid
    if v == int(v) and abs(v) < 1e15:
        return int(v)
    # Six significant decimals hide binary noise (0.30000000000000004) but keep timestamps.
    return float(f"{v:.6f}") if 1e-4 <= abs(v) < 1e15 else float(f"{v:.6g}")


def _scalar(value: object) -> Scalar | None:
    """``value`` as a JSON scalar a person can read; ``None`` means leave the field out."""
    if value is None:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**18 else str(value)[:40] + "..."
    if isinstance(value, float):
        return _compact_float(value)
    if isinstance(value, Enum):
        return _scalar(value.value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, BaseException):
        return str(value) or type(value).__name__
    if isinstance(value, Mapping):
        return ",".join(f"{k}={_text(_scalar(v))}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_text(_scalar(v)) for v in value)
    return str(value)


def _text(value: Scalar | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _clean(value: Scalar) -> Scalar:
    """Scrub secrets and bound the length; a number that scrubs to something else becomes text."""
    if isinstance(value, bool | Formatted):
        return value
    text = str(value)
    clean = scrub(text)
    if isinstance(value, int | float) and clean == text:
        return value
    if len(clean) > MAX_VALUE_CHARS:
        clean = clean[:MAX_VALUE_CHARS] + "...(truncated)"
    return clean


def _upstream_fields(e: UpstreamError) -> list[tuple[str, object]]:
    """An upstream failure as separate fields: where (api, host), why (cause, status, codes)."""
    return [
        ("error", e.reason),
        ("api", e.api),
        ("during", e.context or None),
        ("host", e.host or None),
        ("cause", e.cause or None),
        ("status", e.status or None),
        ("error_code", e.error_code or None),
        ("error_msg", e.error_msg[:200] or None),
        ("request_id", e.request_id or None),
    ]


class Formatted(str):
    """A number as its ``%d``/``%.2f`` conversion wrote it; JSON writes it as a number."""

    number: int | float

    def __new__(cls, text: str, number: int | float) -> Formatted:
        self = super().__new__(cls, text)
        self.number = number
        return self


def _formatted(spec: str, arg: object) -> object:
    """``arg`` through a numeric conversion (``%d``, ``%.2f``); ``%s``/``%r`` render by type."""
    if spec[-1] in "sr":
        return arg
    try:
        text = spec % (arg,)
    except (TypeError, ValueError, OverflowError):
        return arg  # a wrong type for the spec: show the value rather than lose the line
    if spec[-1] in "diu":
        return Formatted(text, int(text))
    if spec[-1] in "fFeEgG":
        number = _compact_float(float(text))
        return Formatted(text, number) if isinstance(number, int | float) else text
    return text


def record_fields(record: logging.LogRecord) -> tuple[str, list[tuple[str, Scalar]]]:
    """The event text and the ordered, scrubbed fields of ``record``."""
    pairs: list[tuple[str, object]] = []
    parsed = split_format(record.msg) if isinstance(record.msg, str) else None
    args = record.args if isinstance(record.args, tuple) else None
    if parsed is not None and args is not None and len(parsed[1]) == len(args):
        text, keys = parsed
        msg = text.replace("%%", "%") if args else text
        for (key, spec), arg in zip(keys, args, strict=True):
            if isinstance(arg, UpstreamError) and spec[-1] in "sr":
                spread = _upstream_fields(arg)
                pairs.append((key, spread[0][1]))
                pairs.extend(spread[1:])
            else:
                pairs.append((key, _formatted(spec, arg)))
    else:
        try:
            msg = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both
            msg = str(record.msg)
            pairs.append(("args", record.args))
    extra = getattr(record, "fields", None)
    if isinstance(extra, Mapping):
        pairs.extend((str(k), v) for k, v in extra.items())
    fields: list[tuple[str, Scalar]] = []
    seen = set(RESERVED)
    for key, value in pairs:
        scalar = _scalar(value)
        if scalar is None:
            continue
        key = _SAFE_KEY.sub("_", key) or "field"
        if key in RESERVED:
            key = "field_" + key
        base, n = key, 2
        while key in seen:
            key, n = f"{base}_{n}", n + 1
        seen.add(key)
        fields.append((key, _clean(scalar)))
    return scrub(msg.strip()), fields


def _ts(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _level(record: logging.LogRecord) -> str:
    return _LEVEL_NAMES.get(record.levelno, record.levelname.lower())


def _logfmt_value(value: Scalar) -> str:
    text = _text(value)
    if _BARE.fullmatch(text):
        return text
    # A JSON string literal: quotes, backslashes and control characters escaped, one line.
    return json.dumps(text, ensure_ascii=False)


class _Formatter(logging.Formatter):
    def _all(self, record: logging.LogRecord) -> list[tuple[str, Scalar]]:
        msg, fields = record_fields(record)
        out: list[tuple[str, Scalar]] = [
            ("ts", _ts(record)),
            ("level", _level(record)),
            ("logger", record.name),
            ("msg", msg),
            *fields,
        ]
        if record.exc_info:
            out.append(("exc", scrub(self.formatException(record.exc_info))))
        if record.stack_info:
            out.append(("stack", scrub(self.formatStack(record.stack_info))))
        return out


class LogfmtFormatter(_Formatter):
    """``key=value`` pairs on one line; values with spaces or quotes are JSON-quoted."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in self._all(record))


class JsonFormatter(_Formatter):
    """One JSON object per line, one key per field; numbers and booleans keep their type."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {k: v.number if isinstance(v, Formatted) else v for k, v in self._all(record)}
        return json.dumps(doc, ensure_ascii=False)


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or fatal.thread_exception(args):
        return
    exc: tuple[type[BaseException], BaseException, TracebackType | None] | None = None
    if args.exc_value is not None:
        exc = (args.exc_type, args.exc_value, args.exc_traceback)
    thread = args.thread.name if args.thread is not None else None
    logging.getLogger("exporter").error("uncaught exception in a thread thread=%s", thread, exc_info=exc)


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    """Send every log record to stderr, one line each in ``fmt`` (``logfmt`` or ``json``).

    Python warnings and exceptions that escape a thread go through the same handler, so no
    stray plain-text line or multi-line traceback breaks a log pipeline's parser.
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_workspace_exporter", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._workspace_exporter = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
    # urllib3 logs every retry/connection at debug/warning; our client reports those itself.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.captureWarnings(True)
    threading.excepthook = _thread_exception
    fatal.set_format(fmt)
