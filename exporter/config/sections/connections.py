"""Section ``connections``: login/connection-record counters and latency histograms."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.config.schema import meta as _meta

CONNECTION_LABELS = ("user_name", "computer_name", "desktop_id", "terminal_type")


@dataclass(frozen=True)
class ConnectionsConfig:
    """Login/connection records: counters and latency histograms."""

    enabled: bool = field(
        default=True,
        metadata=_meta(
            "connection-record counters and histograms (a reload switches them, but "
            "if they were off at start-up, turning them on needs a restart)"
        ),
    )
    api: str = field(
        default="v2",
        metadata=_meta(
            "`v2` = `GET /v2/{project_id}/connections/desktops`; `v1.0` = legacy "
            "`GET /v1.0/{project_id}/desktop-users/login-records` (no rtt, no transaction_id)",
            choices=("v2", "v1.0"),
        ),
    )
    interval: float = field(
        default=60.0, metadata=_meta("poll interval", duration=True, minimum=30, maximum=3600)
    )
    overlap: float = field(
        default=300.0,
        metadata=_meta(
            "each poll re-reads this much before the previous poll's end, so late-arriving records "
            "are still counted (once); keep ≥ `1m`",
            duration=True,
            minimum=0,
            maximum=86400,
        ),
    )
    lookback: float = field(
        default=0.0,
        metadata=_meta(
            "at start-up also count records up to this long before the start (read at start-up)",
            duration=True,
            minimum=0,
            maximum=30 * 86400,
        ),
    )
    extra_labels: list[str] = field(
        default_factory=list,
        metadata=_meta(
            "extra counter labels from `user_name`, `computer_name`, `desktop_id`, `terminal_type` — "
            "**cardinality warning**: every combination is a series for ever"
        ),
    )
    max_label_sets: int = field(
        default=1000,
        metadata=_meta(
            "hard cap on distinct extra-label combinations; more are counted under `other` and in "
            "`connection_label_overflow_total`",
            minimum=1,
            maximum=100000,
        ),
    )
    # Bound of the set of record keys remembered to count each record once (see README).
    dedupe_max_keys: int = field(
        default=200_000,
        metadata=_meta(
            "bound of the de-duplication key set (~400 bytes per key, so 200000 ≈ 80 MB; normally only "
            "the last ~7 minutes of records are held; read at start-up)",
            minimum=1000,
            maximum=10_000_000,
        ),
    )

    # 300 pages of 1,000: a 30-day lookback of 10,000 logins a day in 5 minutes at 60 calls/min.
    max_records_per_window: int = field(
        default=300_000,
        metadata=_meta(
            "records one poll window reads at most; a larger window is split (halved, then "
            "advanced), and a one-minute window past it is cut and counted",
            minimum=1000,
            maximum=10_000_000,
        ),
    )
