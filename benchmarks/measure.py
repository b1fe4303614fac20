"""Client-side timing: sequential GETs over http.client, nearest-rank percentiles."""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IDLE_REUSE_S = 30.0


@dataclass
class Reply:
    seconds: float
    status: int
    body: bytes
    headers: dict[str, str]


class Client:
    """One client per server; reconnects when the server closes (HTTP/1.0 servers do every time)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        u = urlsplit(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Reply:
        # The exporter closes keep-alive connections idle for 75 s: a connection left idle
        # longer than this (the /stats one, across a 10-minute window) is reopened first.
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_REUSE_S:
            self._conn.close()
            self._conn = None
        self._last_used = time.monotonic()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn = self._conn
        t0 = time.perf_counter()
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._conn = None
            raise
        seconds = time.perf_counter() - t0
        if resp.will_close:
            conn.close()
            self._conn = None
        return Reply(seconds, resp.status, body, {k.lower(): v for k, v in resp.getheaders()})

    def get(self, path: str, gzip: bool = False) -> Reply:
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        reply = self.request("GET", path, headers)
        if reply.status != 200:
            raise RuntimeError(f"GET {path} on port {self.port}: HTTP {reply.status}")
        if gzip and reply.headers.get("content-encoding") != "gzip":
            raise RuntimeError(f"GET {path} on port {self.port}: asked for gzip, got none")
        return reply

    def json(self, path: str) -> Any:
        return json.loads(self.get(path).body)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summary(seconds: list[float]) -> dict[str, Any]:
    """n, median, p95, min, max in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def distribution(seconds: list[float]) -> dict[str, Any]:
    """n, p50, p90, p99 and max in milliseconds (nearest rank), and the count over 1 s."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "over_1s": sum(1 for x in ms if x > 1000),
    }
