"""The end of a process that cannot go on: one line on stderr, then exit 1, allocating next to nothing.

A half-alive exporter is worse than a dead one: a Deployment restarts a dead pod, but a
process whose HTTP loop or refresh thread has died keeps its port and answers nothing, or
serves data that never changes. So the death of a thread the exporter needs, a
``MemoryError`` and a thread that cannot start are fatal. Under memory exhaustion the
logging module itself fails (it prints ``--- Logging error ---`` and swallows the record)
and a graceful shutdown can wait on a thread that never ends, so :func:`die` formats one
short line, writes it with ``os.write`` and leaves with ``os._exit``; if even formatting
fails it writes a line built at import time.

:class:`Lifeline` knows the threads the process needs; ``/-/healthy`` fails as soon as one
of them has stopped, and the ``run`` command's main loop then calls :func:`die`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

EXIT_FATAL = 1
_FALLBACK = b'level=error logger=exporter msg="fatal error, exiting" reason=unknown\n'
_json = False
# Replaced by tests; nothing else may call it.
_exit: Callable[[int], NoReturn] = os._exit
_lifeline: Lifeline | None = None
# Several threads can meet the same exhaustion at once: see die().
_dying = threading.Lock()


def set_format(fmt: str) -> None:
    """Write the fatal line as the log lines are written (``logfmt`` or ``json``)."""
    global _json
    _json = fmt == "json"


def _quote(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")[:300]
    return '"' + text + '"'


def _logfmt(value: str) -> str:
    plain = value and all(c.isalnum() or c in "-._/:@+,%*()[]" for c in value)
    return value if plain else _quote(value)


def line(reason: str, fields: dict[str, str]) -> bytes:
    """The fatal log line (logfmt or JSON, as the log is), with a newline."""
    now = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    pairs = [("ts", ts), ("level", "error"), ("logger", "exporter"), ("msg", "fatal error, exiting")]
    pairs += [("reason", reason), *fields.items()]
    if _json:
        text = "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in pairs) + "}"
    else:
        text = " ".join(f"{k}={_logfmt(v)}" for k, v in pairs)
    return text.encode("utf-8", "replace") + b"\n"


def die(reason: str, **fields: str) -> NoReturn:
    """Write one fatal line to stderr and end the process with exit code 1, at once."""
    # One writer at a time: the first thread's exit ends the process, so a thread that met
    # the same exhaustion a moment later never writes a second line (nor exits before the
    # first line is out). The timeout only guards against a writer that never returns.
    held = _dying.acquire(timeout=5)
    try:
        data = line(reason, fields)
    except BaseException:  # noqa: BLE001 - out of memory while formatting: the prebuilt line
        data = _FALLBACK
    try:
        os.write(2, data)
    finally:
        try:
            _exit(EXIT_FATAL)
        finally:
            if held:  # reached only where _exit returns or raises (tests)
                _dying.release()


def fatal_exception(exc: BaseException | None) -> str | None:
    """Why ``exc`` must end the process (out of memory, no thread can start), else None."""
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return "cannot start a thread"
    return None


class Lifeline:
    """The threads the process needs, from callables asked each time (runners come and go)."""

    def __init__(self) -> None:
        self._sources: list[Callable[[], Iterable[threading.Thread]]] = []

    def watch(self, threads: Callable[[], Iterable[threading.Thread]]) -> None:
        self._sources.append(threads)

    def is_vital(self, thread: threading.Thread | None) -> bool:
        return thread is not None and any(thread is t for src in self._sources for t in src())

    def dead(self) -> str | None:
        """The name of a started thread that is no longer running, or None while all run."""
        for src in self._sources:
            for t in src():
                if t.ident is not None and not t.is_alive():
                    return t.name
        return None

    def healthy(self) -> bool:
        return self.dead() is None


def install(lifeline: Lifeline | None) -> None:
    """From now on an exception that ends a thread of ``lifeline`` is fatal (see thread_exception)."""
    global _lifeline
    _lifeline = lifeline


def thread_exception(args: threading.ExceptHookArgs) -> bool:
    """Called for every exception that ends a thread; dies (and so never returns True) when it
    is fatal: out of memory, a thread that cannot start, or any exception ending a thread
    the installed :class:`Lifeline` watches. False: log it as usual."""
    if _lifeline is None:
        return False
    name = args.thread.name if args.thread is not None else "?"
    reason = fatal_exception(args.exc_value)
    if reason is not None:
        die(reason, thread=name)
    if _lifeline.is_vital(args.thread):
        exc = args.exc_value
        where = ""
        tb = args.exc_traceback
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
        die("a thread the exporter needs stopped", thread=name, error=type(exc).__name__, where=where)
    return False


# Formatting the line the first time loads the time-zone data and the codecs it uses: done
# here, while memory is plentiful, so that under exhaustion the line still has its time.
line("startup", {"thread": "main"})
