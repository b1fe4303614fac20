"""Section ``inventory``: the desktop list, and the label names its tags become."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.config.schema import meta as _meta


@dataclass(frozen=True)
class InventoryConfig:
    interval: float = field(
        default=300.0,
        metadata=_meta("desktop list refresh", duration=True, minimum=30, maximum=86400),
    )
    tag_labels: list[str] = field(
        default_factory=list,
        metadata=_meta("desktop tag keys to add to `desktop_info` as `tag_<key>`"),
    )
    user_name_label: bool = field(default=True, metadata=_meta("keep `user_name` on `desktop_info`"))
    # Twice the largest fleet README sizes for (10,000 desktops); per shard, so sharding raises it.
    max_desktops: int = field(
        default=20_000,
        metadata=_meta(
            "desktops this process keeps (after sharding); past it the listing stops, the first ones "
            "are exported and `api_listings_truncated_total` counts it",
            minimum=1,
            maximum=1_000_000,
        ),
    )
    max_lookups: int = field(
        default=50,
        metadata=_meta(
            "lookups by id per refresh of desktops a listing missed (a desktop leaves when one says "
            "it is gone, or after two listings miss it); 0: only the second listing decides",
            minimum=0,
            maximum=10_000,
        ),
    )


_TAG_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


def tag_label_name(key: str) -> str:
    """``"cost-center"`` → ``"tag_cost_center"`` (a valid, prefixed label name)."""
    return "tag_" + _TAG_LABEL_BAD.sub("_", key)
