"""Per-desktop rows: the one definition of what each desktop family holds.

The prometheus_client path in :func:`exporter.exposition.desktops.desktop_families`
calls ``add_metric`` per row; the fast text path in :mod:`exporter.exposition.lines` reads
:func:`info_row` and follows :func:`monitoring_rows` in an unrolled form, and tests compare
the two paths byte for byte on random fleets, so they cannot drift apart unnoticed.

Every label value passes :func:`~exporter.sources.labels.clean_text` on its way out, as it
did where it was parsed: a value that reached a snapshot some other way still encodes to
UTF-8 instead of failing the whole exposition.
"""

from __future__ import annotations

from collections.abc import Iterator

from exporter.config.settings import InventoryConfig, tag_label_name
from exporter.exposition import catalogue as m
from exporter.sources.inventory import Desktop
from exporter.sources.labels import clean_text
from exporter.sources.monitoring import ONLINE_STATES, DesktopMetrics


def info_label_names(config: InventoryConfig) -> list[str]:
    """Label names of the desktop info family (tag labels last, in config order)."""
    base = [lbl for lbl in m.DESKTOP_INFO.labels if config.user_name_label or lbl != "user_name"]
    return base + [tag_label_name(k) for k in dict.fromkeys(config.tag_labels)]


def info_row(d: Desktop, config: InventoryConfig) -> list[str]:
    """Label values of one desktop's info sample, matching :func:`info_label_names`."""
    values = _info_values(d, config.user_name_label) + [d.tag(k) for k in dict.fromkeys(config.tag_labels)]
    return [clean_text(v) for v in values]


def monitoring_rows(desktop_id: str, dm: DesktopMetrics) -> Iterator[tuple[m.Family, list[str], float]]:
    """One desktop's monitoring samples as (family, label values, value), family by family."""
    did = [clean_text(desktop_id)]  # one list for every desktop_id-only row: consumers copy it
    for key, value in dm.values:
        yield m.MONITORING[key], did, value
    if dm.sample_time is not None:
        yield m.DESKTOP_MONITORING_TIMESTAMP, did, dm.sample_time
    if dm.online_state is not None:
        for state in ONLINE_STATES:
            yield m.DESKTOP_ONLINE_STATUS, [did[0], state], 1.0 if state == dm.online_state else 0.0
    if dm.session_start is not None:
        yield m.DESKTOP_SESSION_START, did, dm.session_start
    if dm.session_end is not None:
        yield m.DESKTOP_SESSION_END, did, dm.session_end


def _info_values(d: Desktop, with_user: bool) -> list[str]:
    values = [d.desktop_id, d.computer_name]
    if with_user:
        values.append(d.user_name)
    values += [
        d.status,
        d.login_status,
        d.availability_zone,
        d.os_type,
        d.product_id,
        d.desktop_type,
        d.pool_id,
    ]
    return values
