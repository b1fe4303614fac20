"""Structured log lines: the ``"text key=%s"`` convention, both formats, and every call site.

The formatters are fed real ``LogRecord`` objects (made by a real logger) and their output
is parsed back: JSON with :mod:`json`, logfmt with the strict parser below, which the
integration test shares. The last test walks the AST of every logging call in
``exporter/`` so a call that breaks the convention fails here, not in someone's log
pipeline.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.errors import UpstreamError, UpstreamUnavailableError
from exporter.logs import (
    MAX_VALUE_CHARS,
    RESERVED,
    JsonFormatter,
    LogfmtFormatter,
    setup_logging,
    split_format,
)
from exporter.secret import register

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "exporter"
LEVEL_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
# Names a module binds its logger to; a call on anything else is not a log call.
LOGGER_NAMES = {"log", "logger", "_log", "LOG", "logging"}

_LOGFMT_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|[^\s="]+)')
# Python reprs that must never reach a log line.
REPR_PATTERNS = (
    re.compile(r"(?<![A-Za-z_])(True|False|None)(?![A-Za-z_])"),
    re.compile(r"=\s*'[^']*'"),
    re.compile(r"\b[A-Za-z]+Error\('"),
    re.compile(r"<[A-Za-z_.]+ object at 0x"),
)


def parse_logfmt(line: str) -> dict[str, str]:
    """Strict logfmt: ``key=value`` pairs split by one space; a quoted value is a JSON string.

    Fails (AssertionError) on anything else: a stray word, a double space, a duplicate
    key, an unbalanced quote, a newline.
    """
    assert "\n" not in line and line == line.strip(), line
    out: dict[str, str] = {}
    pos = 0
    while pos < len(line):
        m = _LOGFMT_PAIR.match(line, pos)
        assert m is not None, f"not logfmt at {pos}: {line[pos : pos + 60]!r} in {line!r}"
        key, raw = m[1], m[2]
        assert key not in out, f"duplicate key {key} in {line!r}"
        out[key] = json.loads(raw) if raw.startswith('"') else raw
        pos = m.end()
        if pos < len(line):
            assert line[pos] == " " and line[pos + 1 : pos + 2] not in ("", " "), line
            pos += 1
    return out


def reprs_in(text: str) -> list[str]:
    return [m[0] for p in REPR_PATTERNS for m in p.finditer(text)]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture() -> tuple[logging.Logger, _Capture]:
    # A logger outside the logging tree: its records reach only this handler, not pytest's
    # capture (which would format, and fail on, the deliberately broken calls below).
    logger = logging.Logger("exporter.test_logs", logging.DEBUG)
    handler = _Capture()
    logger.addHandler(handler)
    return logger, handler


def both(record: logging.LogRecord) -> tuple[dict[str, str], dict[str, Any]]:
    return parse_logfmt(LogfmtFormatter().format(record)), json.loads(JsonFormatter().format(record))


def test_split_format_pairs_keys_with_placeholders_after_the_event_text() -> None:
    assert split_format("source refresh failed source=%s error=%s") == (
        "source refresh failed",
        (("source", "%s"), ("error", "%s")),
    )
    assert split_format("retrying attempt=%d delay_seconds=%.2f") == (
        "retrying",
        (("attempt", "%d"), ("delay_seconds", "%.2f")),
    )
    assert split_format("stopped") == ("stopped", ())
    assert split_format("100%% done key=%s") == ("100%% done", (("key", "%s"),))
    assert split_format("cannot listen on %s: %s") is None
    assert split_format("received %s, shutting down") is None
    assert split_format("weird key=%s trailing text") is None


def test_fields_become_separate_keys_in_both_formats(capture: tuple[logging.Logger, _Capture]) -> None:
    log, got = capture
    log.warning("source refresh failed source=%s reason=%s", "monitoring", 'it\'s "bad" = yes')
    lf, js = both(got.records[0])
    for doc in (lf, js):
        assert doc["level"] == "warn"
        assert doc["logger"] == "exporter.test_logs"
        assert doc["msg"] == "source refresh failed"
        assert doc["source"] == "monitoring"
        assert doc["reason"] == 'it\'s "bad" = yes'
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["ts"])
    assert list(js) == ["ts", "level", "logger", "msg", "source", "reason"]
    assert list(lf) == list(js)


def test_values_render_for_people_not_as_python_reprs(capture: tuple[logging.Logger, _Capture]) -> None:
    log, got = capture
    log.info(
        "listening tls=%s auth=%s missing=%s ratio=%s big=%s labels=%s error=%s",
        False,
        True,
        None,
        0.1 + 0.2,
        1.7e9 + 0.25,
        ("user_name", "desktop_id"),
        ValueError("no such thing"),
    )
    line = LogfmtFormatter().format(got.records[0])
    assert reprs_in(line) == [], line
    lf, js = both(got.records[0])
    assert lf["tls"] == "false" and lf["auth"] == "true"
    assert "missing" not in lf and "missing" not in js
    assert lf["ratio"] == "0.3" and js["ratio"] == 0.3
    assert lf["big"] == "1700000000.25" and js["big"] == 1700000000.25
    assert lf["labels"] == js["labels"] == "user_name,desktop_id"
    assert lf["error"] == js["error"] == "no such thing"
    assert js["tls"] is False and js["auth"] is True


def test_numeric_placeholders_keep_their_formatting(capture: tuple[logging.Logger, _Capture]) -> None:
    log, got = capture
    log.debug("retrying attempt=%d delay_seconds=%.2f rate=%g", 3, 1.5, 90.0)
    lf, js = both(got.records[0])
    assert (lf["attempt"], lf["delay_seconds"], lf["rate"]) == ("3", "1.50", "90")
    assert (js["attempt"], js["delay_seconds"], js["rate"]) == (3, 1.5, 90)


def test_a_wrong_type_for_a_numeric_placeholder_still_logs_the_value(
    capture: tuple[logging.Logger, _Capture],
) -> None:
    log, got = capture
    log.info("polled records=%d", "many")
    lf, js = both(got.records[0])
    assert lf["records"] == js["records"] == "many"


def test_an_upstream_error_spreads_into_where_and_why_fields(
    capture: tuple[logging.Logger, _Capture],
) -> None:
    log, got = capture
    error = UpstreamUnavailableError(
        "desktops_detail",
        503,
        "WKS.0001",
        "it's down",
        "req-42",
        host="workspace.example.com",
        cause="timeout",
        context="project discovery",
    )
    log.warning("source refresh failed source=%s error=%s", "inventory", error)
    lf, js = both(got.records[0])
    assert js == js | {
        "msg": "source refresh failed",
        "source": "inventory",
        "error": "upstreamunavailable",
        "api": "desktops_detail",
        "during": "project discovery",
        "host": "workspace.example.com",
        "cause": "timeout",
        "status": 503,
        "error_code": "WKS.0001",
        "error_msg": "it's down",
        "request_id": "req-42",
    }
    assert lf["status"] == "503" and lf["error_msg"] == "it's down" and lf["during"] == "project discovery"
    assert reprs_in(LogfmtFormatter().format(got.records[0])) == []


def test_reserved_keys_and_explicit_fields_never_overwrite_the_line(
    capture: tuple[logging.Logger, _Capture],
) -> None:
    log, got = capture
    fields = {"msg": "spoof", "level": "x", "count": 3, "odd key": "v"}
    log.info("event count=%s", 2, extra={"fields": fields})
    lf, js = both(got.records[0])
    for doc in (lf, js):
        assert doc["msg"] == "event" and doc["level"] == "info"
        assert doc["field_msg"] == "spoof" and doc["field_level"] == "x"
        assert doc["odd_key"] == "v"
    assert (js["count"], js["count_2"]) == (2, 3)


def test_a_record_outside_the_convention_keeps_its_whole_message_in_msg(
    capture: tuple[logging.Logger, _Capture],
) -> None:
    log, got = capture
    log.info("Starting new HTTPS connection (%d): %s:%s", 1, "example.com", 443)
    log.info("%s items", "three", "extra")  # arguments that do not fit: no traceback, both kept
    log.info("100% literal, no arguments")
    lf, js = both(got.records[0])
    assert lf["msg"] == js["msg"] == "Starting new HTTPS connection (1): example.com:443"
    assert set(js) == {"ts", "level", "logger", "msg"}
    lf, js = both(got.records[1])
    assert js["msg"] == "%s items" and js["args"] == "three,extra"
    assert both(got.records[2])[1]["msg"] == "100% literal, no arguments"


def test_a_traceback_goes_into_one_exc_field(capture: tuple[logging.Logger, _Capture]) -> None:
    log, got = capture
    try:
        raise RuntimeError("broken")
    except RuntimeError:
        log.exception("unexpected error refreshing source=%s", "events")
    line = LogfmtFormatter().format(got.records[0])
    assert "\n" not in line
    lf, js = both(got.records[0])
    assert lf["exc"] == js["exc"]
    assert js["exc"].startswith("Traceback (most recent call last):\n")
    assert js["exc"].endswith("RuntimeError: broken")
    assert js["source"] == "events" and js["level"] == "error"


def test_secrets_are_scrubbed_from_every_field_the_message_and_the_traceback(
    capture: tuple[logging.Logger, _Capture],
) -> None:
    secret = "S3cr3t-Key-For-Logs"
    register(secret)
    log, got = capture
    try:
        raise ValueError(f"bad key {secret}")
    except ValueError:
        log.exception(
            "token refused key=%s why=%s",
            secret,
            f'echo "{secret}"',
            extra={"fields": {"header": f"X-Auth: {secret}"}},
        )
    log.info(f"third party says {secret}")  # noqa: G004 - a foreign logger's message
    for record in got.records:
        for line in (LogfmtFormatter().format(record), JsonFormatter().format(record)):
            assert secret not in line
            assert "***" in line


def test_a_runaway_value_is_cut(capture: tuple[logging.Logger, _Capture]) -> None:
    log, got = capture
    log.info("upstream echo body=%s", "x" * 100_000)
    lf, js = both(got.records[0])
    assert len(js["body"]) < MAX_VALUE_CHARS + 20 and js["body"].endswith("...(truncated)")
    assert lf["body"] == js["body"]


def test_non_finite_numbers_keep_the_json_line_valid(capture: tuple[logging.Logger, _Capture]) -> None:
    log, got = capture
    log.info("odd values nan=%s inf=%.1f", float("nan"), float("inf"))
    lf, js = both(got.records[0])
    assert (js["nan"], js["inf"]) == ("nan", "inf")
    assert (lf["nan"], lf["inf"]) == ("nan", "inf")


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_setup_routes_warnings_and_thread_crashes_through_the_chosen_format(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    old_level = root.level
    try:
        # pytest resets warnings.showwarning for each test: forget an earlier test's capture.
        logging.captureWarnings(False)
        setup_logging("info", fmt)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)

        def boom() -> None:
            raise RuntimeError("thread broke")

        t = threading.Thread(target=boom, name="worker-7")
        t.start()
        t.join(10)
        logging.getLogger("exporter.test_logs").info("plain event key=%s", "v")
    finally:
        for h in list(root.handlers):
            if getattr(h, "_workspace_exporter", False):
                root.removeHandler(h)
        root.setLevel(old_level)
        logging.captureWarnings(False)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    docs = [json.loads(line) if fmt == "json" else parse_logfmt(line) for line in lines]
    assert docs[0]["logger"] == "py.warnings" and "deprecated thing" in docs[0]["msg"]
    assert docs[1]["msg"] == "uncaught exception in a thread" and docs[1]["thread"] == "worker-7"
    assert docs[1]["exc"].endswith("RuntimeError: thread broke")
    assert docs[2]["msg"] == "plain event" and docs[2]["key"] == "v"


# ----------------------------------------------------------------- every call site


def _log_calls() -> Iterator[tuple[str, ast.Call]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LEVEL_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in LOGGER_NAMES
            ):
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node


def conforming(fmt: str, nargs: int) -> str | None:
    """Why ``fmt`` with ``nargs`` arguments breaks the convention, or ``None`` if it follows it."""
    parsed = split_format(fmt)
    if parsed is None:
        return "placeholders must all come last, each as ' key=%s' with a snake_case key"
    text, keys = parsed
    if not text.strip():
        return "the event text before the fields is empty"
    if text != text.strip():
        return "the event text has leading or trailing spaces"
    names = [k for k, _ in keys]
    if len(set(names)) != len(names):
        return "a key appears twice"
    if any(k in RESERVED for k in names):
        return f"a key is one of the reserved {', '.join(RESERVED)}"
    if any(spec.endswith("r") for _, spec in keys):
        return "%r writes a Python repr; use %s"
    if len(keys) != nargs:
        return f"{len(keys)} placeholders but {nargs} arguments"
    return None


def call_problem(call: ast.Call) -> str | None:
    """Why this logging call breaks the convention, or ``None``."""
    if not call.args:
        return "no format string"
    fmt = call.args[0]
    if not (isinstance(fmt, ast.Constant) and isinstance(fmt.value, str)):
        return "the format string must be a literal (values go in key=%s fields, not into the text)"
    if any(isinstance(a, ast.Starred) for a in call.args):
        return "*args hides how many values the placeholders get"
    return conforming(fmt.value, len(call.args) - 1)


def test_the_ast_check_tells_a_conforming_call_from_a_broken_one() -> None:
    def problem(source: str) -> str | None:
        call = ast.parse(source).body[0]
        assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
        return call_problem(call.value)

    assert problem('log.info("source first refresh ok source=%s", name)') is None
    assert problem('log.info("stopped")') is None
    assert problem('log.debug("retrying attempt=%d delay_seconds=%.2f", a, d)') is None
    assert problem('log.info(f"serving {url}")') is not None
    assert problem('log.info("cannot listen on %s: %s", a, e)') is not None
    assert problem('log.info("polled records=%d", a, b)') == "1 placeholders but 2 arguments"
    assert problem('log.info("polled records=%d records=%d", a, b)') == "a key appears twice"
    assert problem('log.info("polled Records=%d", a)') is not None
    assert problem('log.info("polled msg=%s", a)') is not None
    assert problem('log.info("polled value=%r", a)') is not None
    assert problem('log.info("key=%s", a)') is not None
    assert problem('log.info("polled key=%s", *a)') is not None


def test_every_logging_call_in_the_exporter_follows_the_convention() -> None:
    calls = list(_log_calls())
    assert len(calls) > 30  # the walk finds the exporter's calls, not nothing
    broken = [f"{where}: {problem}" for where, call in calls if (problem := call_problem(call))]
    assert broken == [], (
        'log calls must read log.<level>("event text key=%s key2=%d", v1, v2) '
        "(see exporter/logs.py):\n" + "\n".join(broken)
    )


def test_readme_names_every_upstream_error_class_the_logs_write() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Logs") :]
    section = section[: section.index("\n### ", 1)]
    classes = {cls.__name__: cls("api").reason for cls in _subclasses(UpstreamError)}
    missing = {name: reason for name, reason in classes.items() if f"`{reason}`" not in section}
    assert missing == {}, "README's Logs section should list these error classes"


def test_readme_examples_parse_and_show_the_fields_of_an_upstream_failure(
    capture: tuple[logging.Logger, _Capture],
) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Logs") :]
    section = section[: section.index("\n### ", 1)]
    blocks = re.findall(r"```\n(.*?)\n```", section, re.S)
    logfmt_example, json_example = parse_logfmt(blocks[0]), json.loads(blocks[1])
    log, got = capture
    error = UpstreamUnavailableError("desktops_detail", 500, "WKS.00211401", "down", "rid", host="h:1")
    log.warning("source refresh failed source=%s error=%s", "inventory", error)
    lf, js = both(got.records[0])
    assert list(logfmt_example) == list(lf)
    assert list(json_example) == list(js)
    assert json_example["msg"].startswith("source refresh failed")


def _subclasses(cls: type[UpstreamError]) -> list[type[UpstreamError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out
