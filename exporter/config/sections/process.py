"""Sections ``web``, ``log`` and ``shard``: where the process listens, how it logs, which
shard of the desktops it keeps; and the listen-address syntax and the shard environment
override."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.config.schema import meta as _meta
from exporter.config.yamlfile import excerpt

DEFAULT_PORT = 10187
# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
_ASCII_NUMBER = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class WebConfig:
    listen_address: str = field(
        default=f":{DEFAULT_PORT}",
        metadata=_meta("HOST:PORT to serve on; `--web.listen-address` overrides it"),
    )
    config_file: str = field(
        default="",
        metadata=_meta("TLS / basic auth file (see [TLS and basic auth](#tls-and-basic-auth))"),
    )
    ready_timeout: float = field(
        default=120.0,
        metadata=_meta(
            "see `/-/ready` under [Command line](#command-line)", duration=True, minimum=0, maximum=3600
        ),
    )


@dataclass(frozen=True)
class LogConfig:
    level: str = field(
        default="info", metadata=_meta("log level", choices=("debug", "info", "warn", "error"))
    )
    format: str = field(default="logfmt", metadata=_meta("log line format", choices=("logfmt", "json")))


@dataclass(frozen=True)
class ShardConfig:
    """Split one project's desktops over ``count`` processes by a stable hash of desktop_id."""

    index: int = field(
        default=0,
        metadata=_meta(
            "keep only desktops with `crc32(desktop_id) mod count == index`; env "
            "`WORKSPACE_EXPORTER_SHARD_INDEX` overrides it",
            minimum=0,
            maximum=1023,
        ),
    )
    count: int = field(
        default=1,
        metadata=_meta(
            "number of shards; env `WORKSPACE_EXPORTER_SHARD_COUNT` overrides it", minimum=1, maximum=1024
        ),
    )


def parse_listen_address(addr: str) -> tuple[str, int]:
    """``":10187"`` → ("0.0.0.0", 10187); ``"127.0.0.1:0"``; ``"[::1]:9"``. Raises ValueError."""
    host, sep, port_s = addr.rpartition(":")
    if not sep or not _ASCII_NUMBER.fullmatch(port_s):
        raise ValueError(
            f"must be HOST:PORT such as :{DEFAULT_PORT} or 127.0.0.1:{DEFAULT_PORT} (got {excerpt(addr)})"
        )
    port = int(port_s)
    if port > 65535:
        raise ValueError(f"port must be 0-65535 (got {port})")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - binding all interfaces is the documented default
    return host, port


def apply_shard_env(raw: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    """``WORKSPACE_EXPORTER_SHARD_INDEX``/``_COUNT`` override ``shard.*`` (one chart Deployment per shard)."""
    for key in ("index", "count"):
        name = f"WORKSPACE_EXPORTER_SHARD_{key.upper()}"
        value = env.get(name)
        if value is None:
            continue
        if not _ASCII_NUMBER.fullmatch(value.strip()):
            problems.append(f"{name}: must be a whole number written in digits 0-9 (got {excerpt(value)})")
            continue
        shard = raw.get("shard")
        shard = dict(shard) if isinstance(shard, dict) else {}
        shard[key] = int(value)
        raw["shard"] = shard
