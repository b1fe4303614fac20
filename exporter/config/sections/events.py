"""Section ``events``: key desktop events counted from screen recordings."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.config.schema import meta as _meta

EVENT_LEVELS = ("info", "alarm", "error")


@dataclass(frozen=True)
class EventsConfig:
    """Key desktop events from screen recordings."""

    enabled: bool = field(
        default=True,
        metadata=_meta(
            "key desktop events from screen recordings (a reload switches them, but "
            "if they were off at start-up, turning them on needs a restart)"
        ),
    )
    interval: float = field(
        default=60.0,
        metadata=_meta(
            "how often recordings are listed and live ones re-read", duration=True, minimum=30, maximum=3600
        ),
    )
    recordings_window: float = field(
        default=86400.0,
        metadata=_meta(
            "recordings that started this long ago are listed; a recording running longer drops out",
            duration=True,
            minimum=3600,
            maximum=15 * 86400,
        ),
    )
    lookback: float = field(
        default=0.0,
        metadata=_meta(
            "at start-up, also count events up to this long before the start (at most "
            "`events.recordings_window`)",
            duration=True,
            minimum=0,
            maximum=15 * 86400,
        ),
    )
    event_types: list[str] = field(
        default_factory=list, metadata=_meta("only count these types (APP, FILE, REG, HDP); empty: all")
    )
    event_levels: list[str] = field(
        default_factory=list, metadata=_meta("only count these levels (info, alarm, error); empty: all")
    )
    desktop_id_label: bool = field(
        default=True,
        metadata=_meta("`false`: counts aggregate per type/id/level (very large fleets)"),
    )
    # os-operations calls per refresh; 0 = 80% of what the os_operations budget allows per interval.
    max_calls_per_cycle: int = field(
        default=0,
        metadata=_meta(
            "os-operations calls per refresh (0: 80% of the os_operations budget per interval); a "
            "backlog takes several refreshes, newest first",
            minimum=0,
            maximum=100000,
        ),
    )
    # Newest recordings considered per refresh (bounds the screen-records listing and memory).
    max_recordings: int = field(
        default=10000,
        metadata=_meta(
            "newest recordings considered per refresh; past it the older ones wait and "
            "`api_listings_truncated_total` counts it",
            minimum=1,
            maximum=100000,
        ),
    )
    # Operations read per recording per visit, and operation keys kept per recording: about 80
    # bytes a key, so 10,000 keys are under 1 MB per recording in progress.
    max_operations_per_recording: int = field(
        default=10_000,
        metadata=_meta(
            "operations read (and remembered, to count each once) per recording; past it the rest "
            "is not counted and `api_listings_truncated_total` counts the cut",
            minimum=100,
            maximum=1_000_000,
        ),
    )
