"""Logging setup: ``--log.level`` and ``--log.format logfmt|json`` on stderr.

Every line passes through :func:`exporter.secret.scrub` last, so no known secret reaches
stderr whichever module logged it or whatever exception text it carried.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from exporter.secret import scrub

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error"}


def _ts(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _logfmt_value(value: str) -> str:
    if value and all(c.isalnum() or c in "-._/:@" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelno, record.levelname.lower())
        line = f"ts={_ts(record)} level={level} logger={record.name} msg={_logfmt_value(record.getMessage())}"
        if record.exc_info:
            line += " exc=" + _logfmt_value(self.formatException(record.exc_info))
        return scrub(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": _ts(record),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(doc, ensure_ascii=False))


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
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
