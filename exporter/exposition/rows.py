"""The desktop info family's labels: which label names it has and each desktop's values.

The per-desktop renderer (:mod:`exporter.exposition.desktop_lines`) writes one info line per
desktop from them; the tests' reference (``tests/oracle.py``) builds the same family with
prometheus_client's objects from them, and the byte-identity tests compare the two on
random fleets, so they cannot drift apart unnoticed.

Every label value passes :func:`~exporter.sources.labels.clean_text` on its way out, as it
did where it was parsed: a value that reached a snapshot some other way still encodes to
UTF-8 instead of failing the whole exposition.
"""

from __future__ import annotations

from exporter.config.settings import InventoryConfig, tag_label_name
from exporter.exposition import catalogue as m
from exporter.sources.inventory import Desktop
from exporter.sources.labels import clean_text


def info_label_names(config: InventoryConfig) -> list[str]:
    """Label names of the desktop info family (tag labels last, in config order)."""
    base = [lbl for lbl in m.DESKTOP_INFO.labels if config.user_name_label or lbl != "user_name"]
    return base + [tag_label_name(k) for k in dict.fromkeys(config.tag_labels)]


def info_row(d: Desktop, config: InventoryConfig) -> list[str]:
    """Label values of one desktop's info sample, matching :func:`info_label_names`."""
    values = _info_values(d, config.user_name_label) + [d.tag(k) for k in dict.fromkeys(config.tag_labels)]
    return [clean_text(v) for v in values]


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
