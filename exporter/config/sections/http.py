"""Sections ``http`` and ``budget``: how each upstream call is made and bounded (timeouts,
retries, body and page caps), and how many are made (rate per API, concurrency)."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.config.schema import meta as _meta


@dataclass(frozen=True)
class HTTPConfig:
    connect_timeout: float = field(
        default=5.0,
        metadata=_meta("TCP/TLS connect timeout per upstream call", duration=True, minimum=0.1, maximum=300),
    )
    read_timeout: float = field(
        default=30.0,
        metadata=_meta("time to wait for each read of the answer", duration=True, minimum=0.1, maximum=600),
    )
    tls_verify: bool = field(default=True, metadata=_meta("verify upstream TLS certificates"))
    ca_file: str = field(
        default="", metadata=_meta("extra CA bundle (PEM), e.g. for a TLS-intercepting proxy")
    )
    max_retries: int = field(
        default=3,
        metadata=_meta("retries after 429, 5xx or network errors", minimum=0, maximum=10),
    )
    retry_max_elapsed: float = field(
        default=60.0,
        metadata=_meta(
            "stop retrying once a call has taken this long", duration=True, minimum=0, maximum=900
        ),
    )
    backoff_initial: float = field(
        default=1.0,
        metadata=_meta(
            "first backoff; doubles per retry, with full jitter", duration=True, minimum=0.01, maximum=60
        ),
    )
    backoff_max: float = field(
        default=30.0,
        metadata=_meta("largest single backoff", duration=True, minimum=0.01, maximum=600),
    )
    throttle_backoff: float = field(
        default=3.0,
        metadata=_meta(
            "minimum wait after a 429 (Huawei advises 2–5 s); `Retry-After` is honoured",
            duration=True,
            minimum=0,
            maximum=60,
        ),
    )
    # Total time for one exchange (connect, headers and whole body), whatever the socket timeouts.
    call_deadline: float = field(
        default=60.0,
        metadata=_meta(
            "total time of one exchange, headers and whole body (see [Upstream](#upstream))",
            duration=True,
            minimum=1,
            maximum=900,
        ),
    )
    # Largest decoded (decompressed) answer body: 500 desktops of detail at up to ~6 kB each
    # (about 3 MB) is the largest documented page; 8 MiB leaves room without risking the pod limit.
    max_body_bytes: int = field(
        default=8 * 1024 * 1024,
        metadata=_meta(
            "largest answer body in bytes, counted decompressed; a page past it is asked again at "
            "half the size (down to 10)",
            minimum=65536,
            maximum=1 << 30,
        ),
    )
    # 300 pages: 150,000 desktops of desktops/detail, or 300,000 records (a 30-day lookback of
    # 10,000 logins a day) in 5 minutes at the default 60 calls a minute.
    max_pages_per_listing: int = field(
        default=300,
        metadata=_meta(
            "pages one listing reads at most; past it the listing stops, what was read is used and "
            "`api_listings_truncated_total` counts it",
            minimum=1,
            maximum=100000,
        ),
    )
    # Export files are not pages: one may hold a month of connection records.
    max_file_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata=_meta(
            "largest export file `export-connections` downloads, in bytes, counted decompressed",
            minimum=1 << 20,
            maximum=1 << 32,
        ),
    )


@dataclass(frozen=True)
class BudgetConfig:
    per_api: dict[str, float] = field(
        default_factory=dict,
        metadata=_meta(
            "requests per minute per API, e.g. `{desktop_monitor: 100}`; unlisted APIs keep the "
            "defaults of [Request budget](#request-budget)",
            maximum=1_000_000,
        ),
    )
    burst: int = field(
        default=5, metadata=_meta("requests an idle API may send back to back", minimum=1, maximum=1000)
    )
    max_concurrency: int = field(
        default=4, metadata=_meta("upstream calls in flight at once, across all APIs", minimum=1, maximum=64)
    )
    throttle_recovery: float = field(
        default=120.0,
        metadata=_meta(
            "after a 429 an API's rate is halved, then climbs back linearly over this time",
            duration=True,
            minimum=1,
            maximum=3600,
        ),
    )
