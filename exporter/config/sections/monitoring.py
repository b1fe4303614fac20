"""Section ``monitoring``: per-desktop monitoring data, by desktop-monitor calls or Cloud Eye."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.config.schema import meta as _meta


@dataclass(frozen=True)
class MonitoringConfig:
    enabled: bool = field(default=True, metadata=_meta("per-desktop monitoring data"))
    interval: float = field(
        default=300.0,
        metadata=_meta(
            "how often each desktop is refreshed; Cloud Eye aggregates every 5 minutes",
            duration=True,
            minimum=60,
            maximum=86400,
        ),
    )
    window: float = field(
        default=3600.0,
        metadata=_meta(
            "query window per call (the API requires at least 1 hour)",
            duration=True,
            minimum=3600,
            maximum=30 * 86400,
        ),
    )
    max_age: float = field(
        default=1800.0,
        metadata=_meta(
            "values not refreshed for this long are dropped (at least `monitoring.interval`)",
            duration=True,
            minimum=60,
            maximum=7 * 86400,
        ),
    )
    # Where the per-desktop metrics come from: one desktop-monitor call per desktop, Cloud Eye
    # batch queries (see sources/cloudeye.py), or auto: whichever fits the fleet and the budget
    # (see sources/monitoring_paths.py).
    source: str = field(
        default="auto",
        metadata=_meta(
            "`auto` (per-desktop calls while the fleet fits the budget, Cloud Eye when not), "
            "`workspace` (one desktop-monitor call per desktop) or `cloudeye` (batch queries); "
            "see [Monitoring source](#monitoring-source-auto-per-desktop-calls-cloud-eye); "
            "a reload switches at once",
            choices=("auto", "workspace", "cloudeye"),
        ),
    )
    cloudeye_namespace: str = field(
        default="SYS.Workspace", metadata=_meta("Cloud Eye namespace of the desktop metrics")
    )
    # Cloud Eye dimension whose value is the desktop id; "" = discover from the metric list at start-up.
    cloudeye_dimension: str = field(
        default="",
        metadata=_meta("Cloud Eye dimension holding the desktop id. Empty: discovered at start-up"),
    )
    # Cloud Eye queries end this long before now, so datapoints still being ingested are not missed.
    cloudeye_delay: float = field(
        default=60.0,
        metadata=_meta(
            "Cloud Eye queries end this long before now (ingestion lag)",
            duration=True,
            minimum=0,
            maximum=3600,
        ),
    )
