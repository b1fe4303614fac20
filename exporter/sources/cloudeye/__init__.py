"""Desktop monitoring from Cloud Eye (the ``cloudeye`` path of ``monitoring.source``).

The per-desktop path costs one desktop-monitor call per desktop per interval, which does
not scale past a few hundred desktops. This source reads the same metrics from Cloud Eye
(namespace ``monitoring.cloudeye_namespace``, default ``SYS.Workspace``) with one of two
batch queries, whichever the region has: v2 (:mod:`.v2`, one metric for every desktop
per paged call) or v1 (:mod:`.v1`, metric/dimension pairs in batches). :mod:`.source`
holds :class:`CloudEyeSource`, which chooses between them on every refresh.

Every refresh queries a window ending ``monitoring.cloudeye_delay`` before now (skipping
datapoints still being ingested). It keeps the newest point per desktop, and publishes
one immutable :class:`~exporter.sources.monitoring.MonitoringSnapshot` with the metric
keys and units of the ``workspace`` source, so the exposition is the same. Only desktops
of the current inventory are kept: datapoints for other dimension values, and garbage
datapoints, are counted as invalid responses and skipped. Cloud Eye has no login data,
so the online state comes from the inventory's ``login_status`` and session times stay
absent. Each value expires ``monitoring.max_age`` after it was last refreshed
(:mod:`.ledger`).

The dimension carrying the desktop id is configured or discovered (:mod:`.dimension`);
:mod:`.query` holds what both batch queries share.
"""

from exporter.sources.cloudeye.dimension import FALLBACK_DIMENSION, most_common_dimension
from exporter.sources.cloudeye.source import CloudEyeSource
from exporter.sources.cloudeye.v2 import WINDOW_MS

__all__ = ["FALLBACK_DIMENSION", "WINDOW_MS", "CloudEyeSource", "most_common_dimension"]
