"""Families of the desktop sources: the inventory's info family and the monitoring
gauges (per-desktop calls or Cloud Eye: the same families), rendered by
:mod:`exporter.exposition.desktop_lines`."""

from __future__ import annotations

from exporter.exposition.catalogue.family import Family

_MON = "(newest 5-minute datapoint; cached, refreshed every monitoring.interval)"
_MON_API = "desktop_monitor"

DESKTOP_INFO = Family(
    "desktop",
    "info",
    "Desktop metadata from the inventory (cached, refreshed every inventory.interval). Always 1.",
    (
        "desktop_id",
        "computer_name",
        "user_name",
        "status",
        "login_status",
        "availability_zone",
        "os_type",
        "product_id",
        "desktop_type",
        "pool_id",
    ),
    api="desktops_detail",
)

# Keyed by the metric keys of exporter.sources.monitoring.FIELDS.
MONITORING: dict[str, Family] = {
    f.name.removeprefix("desktop_"): f
    for f in (
        Family(
            "desktop_cpu_usage_ratio",
            "gauge",
            f"CPU usage of the desktop, 0-1 {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_memory_usage_ratio",
            "gauge",
            f"Memory usage, 0-1; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_usage_ratio",
            "gauge",
            f"Disk usage, 0-1; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_read_bytes_per_second",
            "gauge",
            f"Disk read throughput in bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_write_bytes_per_second",
            "gauge",
            f"Disk write throughput in bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_read_requests_per_second",
            "gauge",
            f"Disk read operations per second {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_disk_write_requests_per_second",
            "gauge",
            f"Disk write operations per second {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_inband_receive_bytes_per_second",
            "gauge",
            f"Network receive rate measured inside the guest (in-band), bytes/s; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_inband_transmit_bytes_per_second",
            "gauge",
            f"Network transmit rate measured inside the guest (in-band), bytes/s; Windows only {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_outband_receive_bytes_per_second",
            "gauge",
            f"Network receive rate measured by the host (out-band), bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_outband_transmit_bytes_per_second",
            "gauge",
            f"Network transmit rate measured by the host (out-band), bytes/s {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
        Family(
            "desktop_network_connections",
            "gauge",
            f"Network connections of the desktop {_MON}.",
            ("desktop_id",),
            _MON_API,
        ),
    )
}

DESKTOP_MONITORING_TIMESTAMP = Family(
    "desktop_monitoring_timestamp_seconds",
    "gauge",
    "Time of the newest monitoring datapoint of the desktop, epoch seconds (cached).",
    ("desktop_id",),
    _MON_API,
)
DESKTOP_ONLINE_STATUS = Family(
    "desktop_online_status",
    "gauge",
    "Login state of the desktop: 1 for the current state, 0 for the others (cached).",
    ("desktop_id", "state"),
    _MON_API,
)
DESKTOP_SESSION_START = Family(
    "desktop_session_start_timestamp_seconds",
    "gauge",
    "Start of the desktop's latest user session, epoch seconds (cached; absent without a session).",
    ("desktop_id",),
    _MON_API,
)
DESKTOP_SESSION_END = Family(
    "desktop_session_end_timestamp_seconds",
    "gauge",
    "End of the desktop's latest user session, epoch seconds (cached; absent while it is open).",
    ("desktop_id",),
    _MON_API,
)

# The monitoring families in exposition order; both desktop renderers follow this tuple.
MONITORING_FAMILIES: tuple[Family, ...] = (
    *MONITORING.values(),
    DESKTOP_MONITORING_TIMESTAMP,
    DESKTOP_ONLINE_STATUS,
    DESKTOP_SESSION_START,
    DESKTOP_SESSION_END,
)
DESKTOP_FAMILIES: tuple[Family, ...] = (DESKTOP_INFO, *MONITORING_FAMILIES)
