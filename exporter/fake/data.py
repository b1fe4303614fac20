"""Deterministic data for the fake Workspace API: time formats, desktops and metric values.

Everything here is a pure function of its arguments (a seed, an index, a timestamp), so a
test can predict exactly what the fake will serve. No ``random`` is used: values come
from SHA-256 of their inputs.
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]

PERIOD_S = 300  # raw period of every Workspace monitor metric (5 minutes)

#: Datapoint keys of the desktop-monitor response, in the SDK's order.
MONITOR_KEYS: tuple[str, ...] = (
    "cpu_info",
    "memory_info",
    "disk_util_inband",
    "disk_read_bytes_rate",
    "disk_write_bytes_rate",
    "disk_read_requests_rate",
    "disk_write_requests_rate",
    "network_incoming_bytes_rate_inband",
    "network_outgoing_bytes_rate_inband",
    "network_incoming_bytes_aggregate_rate",
    "network_outgoing_bytes_aggregate_rate",
    "network_vm_connections",
)
#: Keys the doc marks "Windows only": Linux desktops do not have them.
WINDOWS_ONLY_KEYS = frozenset(
    {
        "memory_info",
        "disk_util_inband",
        "network_incoming_bytes_rate_inband",
        "network_outgoing_bytes_rate_inband",
    }
)
PERCENT_KEYS = frozenset({"cpu_info", "memory_info", "disk_util_inband"})

#: Cloud Eye (SYS.Workspace) metric name -> desktop-monitor key carrying the same series.
CES_METRICS: dict[str, str] = {
    "cpu_util": "cpu_info",
    "mem_util": "memory_info",
    **{k: k for k in MONITOR_KEYS if k not in ("cpu_info", "memory_info")},
}
CES_UNITS: dict[str, str] = {
    "cpu_util": "%",
    "mem_util": "%",
    "disk_util_inband": "%",
    "disk_read_bytes_rate": "byte/s",
    "disk_write_bytes_rate": "byte/s",
    "disk_read_requests_rate": "request/s",
    "disk_write_requests_rate": "request/s",
    "network_incoming_bytes_rate_inband": "byte/s",
    "network_outgoing_bytes_rate_inband": "byte/s",
    "network_incoming_bytes_aggregate_rate": "byte/s",
    "network_outgoing_bytes_aggregate_rate": "byte/s",
    "network_vm_connections": "count",
}
CES_NAMESPACE = "SYS.Workspace"

FMT_MINUTE = "%Y-%m-%dT%H:%MZ"
FMT_SECOND = "%Y-%m-%dT%H:%M:%SZ"
FMT_FRACTION = "%Y-%m-%dT%H:%M:%S.%fZ"
FMT_SCREEN = "%Y-%m-%d %H:%M:%S"


# --------------------------------------------------------------------------- time formats


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def iso_seconds(t: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``."""
    return _utc(math.floor(t)).strftime(FMT_SECOND)


def iso_millis(t: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (screen records, operations)."""
    ms = math.floor(t * 1000 + 0.5)
    return _utc(ms // 1000).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def iso_micros(t: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (IAM token times)."""
    return _utc(t).strftime(FMT_FRACTION)


def parse_time(value: str, *formats: str) -> float | None:
    """Epoch seconds for ``value`` in one of ``formats`` (UTC), or None when none matches."""
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def parse_iso(value: object) -> float | None:
    """Epoch seconds for any ISO-ish UTC string this fake produces (or a number), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    return parse_time(value, FMT_SECOND, FMT_FRACTION, FMT_MINUTE, FMT_SCREEN)


# --------------------------------------------------------------------------- determinism


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def unit(*parts: object) -> float:
    """A deterministic float in [0, 1) derived from ``parts``."""
    return int.from_bytes(_digest(*parts)[:8], "big") / 2.0**64


def det_uuid(*parts: object) -> str:
    """A deterministic UUID-shaped string derived from ``parts``."""
    return str(uuid.UUID(bytes=_digest(*parts)[:16], version=4))


def det_hex(length: int, *parts: object) -> str:
    """A deterministic lowercase hex string of ``length`` characters."""
    return _digest(*parts).hex()[:length]


# --------------------------------------------------------------------------- desktops

_LOGIN_CYCLE = ("CONNECTED", "REGISTERED", "CONNECTED", "DISCONNECTED")
_TEAMS = ("finance", "design", "support")
#: The office's two desktop pools: half the desktops in a dynamic pool, a fifth in a static
#: one, by index (``index % 10``); Linux desktops (every fifth) are dedicated.
DYNAMIC_POOL, STATIC_POOL = "sales-dynamic", "dev-static"
_POOL_SLOTS = {1: DYNAMIC_POOL, 2: DYNAMIC_POOL, 3: DYNAMIC_POOL, 4: DYNAMIC_POOL, 6: DYNAMIC_POOL}
_POOL_SLOTS |= {7: STATIC_POOL, 8: STATIC_POOL}
#: The current agent (HDA) version; a few early desktops were never upgraded.
AGENT_VERSION = "24.6.0.1"
_OLD_AGENTS = {4: "24.3.0.2", 13: "23.12.0.5"}


def pool_id(seed: int, name: str) -> str:
    """The id of the office pool called ``name``."""
    return det_uuid(seed, "pool", name)


def pool_of(index: int) -> str:
    """The office pool desktop number ``index`` belongs to ("" for a dedicated desktop)."""
    return _POOL_SLOTS.get(index % 10, "")


def make_desktop(seed: int, index: int, project_id: str, region: str) -> JsonDict:
    """A ``DesktopDetailInfo``-shaped dict for desktop number ``index`` (1-based), plus the
    :data:`LIST_ONLY_KEYS` the light list adds."""
    linux = index % 5 == 0
    status = "SHUTOFF" if index % 7 == 0 else "ACTIVE"
    login_status = "UNREGISTER" if status == "SHUTOFF" else _LOGIN_CYCLE[index % 4]
    big = index % 3 == 0
    cpu, memory = ("4", "8") if big else ("2", "4")
    flavor_id = "s6.xlarge.2" if big else "s6.large.2"
    product_id = "workspace.x86.ultimate." + ("xlarge2" if big else "large2")
    name = f"ws-{index:04d}"
    user = f"user{index:04d}"
    desktop_id = det_uuid(seed, "desktop", index)
    ip = f"172.16.{index // 250}.{index % 250 + 2}"
    mac = "fa:16:3e:" + ":".join(det_hex(6, seed, "mac", index)[i : i + 2] for i in (0, 2, 4))
    net_id = det_uuid(seed, "network")
    os_type = "Linux" if linux else "Windows"
    os_version = "UOS 20" if linux else "Windows Server 2019"
    image = "UOS_20_x86" if linux else "Windows_Server_2019_DataCenter"
    created = iso_millis(1_704_067_200 + index * 3600)  # 2024-01-01 + index hours
    return {
        "desktop_id": desktop_id,
        "computer_name": name,
        "os_host_name": name,
        "created": created,
        "sid": f"S-1-5-21-{int(unit(seed, 'sid') * 1e9)}-{1000 + index}",
        "ou_name": "",
        "availability_zone": f"{region}{'abc'[index % 3]}",
        "site_type": "CENTER",
        "os_version": os_version,
        "agent_version": _OLD_AGENTS.get(index, AGENT_VERSION),
        "addresses": {
            net_id: [{"addr": ip, "version": "4", "OS-EXT-IPS-MAC:mac_addr": mac, "OS-EXT-IPS:type": "fixed"}]
        },
        "ip_addresses": [ip],
        "ipv4": ip,
        "ipv6": "",
        "user_name": user,
        "user_group": "users",
        "attach_user_infos": [
            {
                "user_id": det_hex(32, seed, "user", index),
                "user_name": user,
                "user_group": "users",
                "type": "USER",
            }
        ],
        "attach_state": "ATTACHED",
        "status": status,
        "task_status": "",
        "login_status": login_status,
        "in_maintenance_mode": False,
        "process": None,
        "flavor": {"id": flavor_id, "links": []},
        "product_id": product_id,
        "product": {
            "product_id": product_id,
            "flavor_id": flavor_id,
            "type": "BASE",
            "cpu": cpu,
            "memory": memory,
            "architecture": "x86",
            "is_gpu": False,
            "package_type": "ultimate",
            "charge_mode": "1",
        },
        "root_volume": {
            "type": "SAS",
            "size": 80,
            "device": "/dev/vda",
            "id": det_uuid(seed, "rootvol", index),
            "volume_id": det_uuid(seed, "rootvol", index),
            "display_name": f"{name}-root",
        },
        "data_volumes": [],
        "metadata": {
            "os_type": os_type,
            "os_bit": "64",
            "image_name": image,
            "desktop_os_version": os_version,
        },
        "tags": [
            {"key": "env", "value": "prod" if index % 2 else "test"},
            {"key": "team", "value": _TEAMS[index % 3]},
        ],
        "security_groups": [],
        "enterprise_project_id": "0",
        "subnet_id": det_uuid(seed, "subnet"),
        "is_support_internet": False,
        "desktop_type": "POOLED" if pool_of(index) else "DEDICATED",
        "pool_id": pool_id(seed, pool_of(index)) if pool_of(index) else "",
    }


#: Keys the fake keeps per desktop that only the light list (``SimpleDesktopInfo``) carries:
#: the ``desktops/detail`` model (``DesktopDetailInfo``) has no pool field.
LIST_ONLY_KEYS = frozenset({"pool_id"})


def detail_view(desktop: JsonDict) -> JsonDict:
    """A desktop as ``desktops/detail`` serves it (``DesktopDetailInfo`` keys only)."""
    return {k: v for k, v in desktop.items() if k not in LIST_ONLY_KEYS}


#: ``SimpleDesktopInfo`` keys (the light list) and the stored key each one is read from.
_LIST_VIEW: dict[str, str] = {
    k: k
    for k in (
        "desktop_id",
        "computer_name",
        "os_host_name",
        "created",
        "user_name",
        "attach_user_infos",
        "user_group",
        "sid",
        "ou_name",
        "enterprise_project_id",
        "tags",
        "in_maintenance_mode",
        "desktop_type",
        "subnet_id",
        "status",
        "task_status",
        "availability_zone",
        "pool_id",
    )
} | {"ip_address": "ipv4"}


def list_view(desktop: JsonDict, project_id: str, domain_id: str) -> JsonDict:
    """A desktop as the light ``GET /v2/{project_id}/desktops`` list serves it."""
    out = {key: desktop[src] for key, src in _LIST_VIEW.items() if src in desktop}
    return {"domain_id": domain_id, "project_id": project_id, **out}


def is_linux(desktop: JsonDict) -> bool:
    meta = desktop.get("metadata")
    return isinstance(meta, dict) and str(meta.get("os_type", "")).lower() == "linux"


def monitor_keys_for(desktop: JsonDict) -> tuple[str, ...]:
    """The datapoint keys a desktop reports (Linux lacks the Windows-only ones)."""
    if is_linux(desktop):
        return tuple(k for k in MONITOR_KEYS if k not in WINDOWS_ONLY_KEYS)
    return MONITOR_KEYS


# --------------------------------------------------------------------------- metric values


@functools.lru_cache(maxsize=200_000)
def _base(seed: int, index: int, key: str) -> float:
    return unit(seed, index, key, "base")


def metric_value(seed: int, index: int, key: str, t: int) -> float:
    """The ``average`` of monitor ``key`` for desktop ``index`` at epoch second ``t``."""
    base = _base(seed, index, key)
    u = unit(seed, index, key, t)
    if key in PERCENT_KEYS:
        value = 5.0 + 60.0 * base + 30.0 * u  # always within 5..95
    elif key.endswith("bytes_rate") or key.endswith("bytes_rate_inband"):
        value = 1000.0 + 4_000_000.0 * base + 1_000_000.0 * u
    elif key.endswith("requests_rate"):
        value = 1.0 + 150.0 * base + 50.0 * u
    else:  # network_vm_connections
        value = float(int(1 + 20 * base + 5 * u))
    return round(value, 2)


def aligned_points(start: float, end: float) -> list[int]:
    """Epoch seconds of every ``PERIOD_S`` boundary inside [start, end]."""
    first = math.ceil(start / PERIOD_S) * PERIOD_S
    last = math.floor(end / PERIOD_S) * PERIOD_S
    return list(range(first, last + 1, PERIOD_S)) if first <= last else []
