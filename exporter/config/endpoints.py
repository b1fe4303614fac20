"""Where each upstream service lives: the SDK's region rules, applied without the SDK.

For Workspace, Cloud Eye and IAM the first of these that gives an answer wins:

1. the config key ``endpoints.<service>``;
2. IAM only: ``HUAWEICLOUD_SDK_IAM_ENDPOINT`` (the variable the SDK's credential code reads);
3. ``HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION>`` (region upper-case, ``-`` → ``_``), as
   ``huaweicloudsdkcore/region/provider.py`` reads it;
4. the regions file: ``HUAWEICLOUD_SDK_REGIONS_FILE``, else ``~/.huaweicloud/regions.yaml``
   (``{SERVICE: [{id, endpoint | endpoints}]}``, as ``huaweicloudsdkcore/region/cache.py``);
5. the SDK's region table (:mod:`exporter.config.regions`);
6. no table entry: ``https://<service>.<region>.myhuaweicloud.com`` for Workspace and Cloud Eye
   (the documented pattern; the SDK itself refuses such a region), the global
   ``https://iam.myhuaweicloud.com`` for IAM (what the SDK falls back to).

Each of 1–4 may be a comma-separated list, as the SDK allows: the first endpoint is used,
the others are fall-backs when it cannot be reached (see
:class:`exporter.upstream.hosts.HostSelector`). An entry without a scheme gets ``https://``,
as the SDK's client builder does.

STS (OIDC → STS credentials): ``endpoints.sts``, else ``HUAWEICLOUD_SDK_STS_ENDPOINT``, else the
SDK's default ``https://sts.cn-north-4.myhuaweicloud.com``: the SDK's OIDC exchange does
not look the region up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.config import regions
from exporter.config.yamlfile import excerpt, excerpt_path, load_yaml_file
from exporter.errors import ConfigError

SERVICES = ("workspace", "iam", "ces")
GLOBAL_IAM = "https://iam.myhuaweicloud.com"
DEFAULT_STS = "https://sts.cn-north-4.myhuaweicloud.com"
IAM_ENDPOINT_ENV = "HUAWEICLOUD_SDK_IAM_ENDPOINT"
STS_ENDPOINT_ENV = "HUAWEICLOUD_SDK_STS_ENDPOINT"
REGIONS_FILE_ENV = "HUAWEICLOUD_SDK_REGIONS_FILE"
# A fall-back list is a handful of hosts; more is a mistake, not a configuration.
MAX_ENDPOINTS = 8

_TABLES: dict[str, dict[str, str]] = {"workspace": regions.WORKSPACE, "ces": regions.CES, "iam": regions.IAM}
_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")


@dataclass(frozen=True)
class Endpoints:
    """The resolved base URLs of each service, first choice first; ``origin`` says where each
    list came from (a config key, a variable name, the regions file or the SDK table)."""

    workspace: tuple[str, ...]
    iam: tuple[str, ...]
    ces: tuple[str, ...]
    sts: tuple[str, ...] = (DEFAULT_STS,)
    origin: Mapping[str, str] = field(default_factory=dict)

    def of(self, service: str) -> tuple[str, ...]:
        urls: tuple[str, ...] = getattr(self, service)
        return urls


def region_env_name(service: str, region: str) -> str:
    """``HUAWEICLOUD_SDK_REGION_WORKSPACE_AP_SOUTHEAST_1`` for ``("workspace", "ap-southeast-1")``."""
    return f"HUAWEICLOUD_SDK_REGION_{service.upper()}_{region.replace('-', '_').upper()}"


def sdk_host(service: str, region: str) -> str:
    """The base URL the SDK's table gives ``service`` in ``region``, or the fall-back of rule 6."""
    found = _TABLES[service].get(region)
    if found:
        return found
    return GLOBAL_IAM if service == "iam" else f"https://{service}.{region}.myhuaweicloud.com"


def split_endpoints(raw: str, where: str, problems: list[str], add_scheme: bool = True) -> tuple[str, ...]:
    """``raw`` as the SDK reads it: comma-separated, ``https://`` added where no scheme is given
    (``add_scheme``; our own config keys must say ``http://`` or ``https://``).

    Blank entries are skipped; an entry that is not a base URL is a problem naming ``where``.
    """
    out: list[str] = []
    for part in raw.split(","):
        entry = part.strip()
        if not entry:
            continue
        if add_scheme and "://" not in entry:
            entry = "https://" + entry
        if not _URL.match(entry):
            problems.append(f"{where}: must be an http:// or https:// URL (got {excerpt(part.strip())})")
            continue
        out.append(entry.rstrip("/"))
    if len(out) > MAX_ENDPOINTS:
        problems.append(f"{where}: at most {MAX_ENDPOINTS} comma-separated endpoints (got {len(out)})")
        return tuple(out[:MAX_ENDPOINTS])
    return tuple(out)


def regions_file_path(env: Mapping[str, str]) -> tuple[str, bool]:
    """The regions file to read and whether a variable named it (then it must exist)."""
    named = env.get(REGIONS_FILE_ENV, "")
    if named:
        return named, True
    home = env.get("HOME", "")
    return (str(Path(home) / ".huaweicloud" / "regions.yaml"), False) if home else ("", False)


def load_regions_file(env: Mapping[str, str], problems: list[str]) -> dict[str, tuple[str, ...]]:
    """``{"WORKSPACEap-southeast-1": (url, ...)}`` from the regions file (empty when there is none)."""
    path, named = regions_file_path(env)
    if not path or (not named and not Path(path).is_file()):
        return {}
    where = f"{REGIONS_FILE_ENV} {excerpt_path(path)}" if named else f"regions file {excerpt_path(path)}"
    try:
        doc = load_yaml_file(path, where)
    except ConfigError as e:
        problems.extend(e.problems)
        return {}
    return _parse_regions(doc, where, problems)


def _parse_regions(doc: object, where: str, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        problems.append(f"{where}: must map service names to lists of regions")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for service, entries in doc.items():
        if not isinstance(service, str) or not isinstance(entries, list):
            problems.append(f"{where}: {excerpt(service)} must be a list of regions")
            continue
        for i, entry in enumerate(entries):
            key = f"{where}: {service}[{i}]"
            if not isinstance(entry, dict):
                problems.append(f"{key}: must be a mapping with id and endpoint(s)")
                continue
            region_id = entry.get("id")
            if not region_id or not isinstance(region_id, str):
                continue  # as the SDK: an entry without an id is skipped
            listed: object = entry.get("endpoints") or []
            single = entry.get("endpoint")
            if not isinstance(listed, list):
                problems.append(f"{key}.endpoints: must be a list of URLs")
                continue
            raw = [*listed, *([single] if single else [])]
            if not all(isinstance(u, str) for u in raw):
                problems.append(f"{key}: endpoints must be strings")
                continue
            urls = split_endpoints(",".join(raw), key, problems)
            if urls:
                out[service.upper() + region_id] = urls
    return out


def resolve_endpoints(
    region: str,
    configured: Mapping[str, str],
    env: Mapping[str, str],
    problems: list[str],
) -> Endpoints:
    """Apply the rules of the module docstring; problems name the key or variable to fix."""
    from_file: dict[str, tuple[str, ...]] | None = None
    chosen: dict[str, tuple[str, ...]] = {}
    origin: dict[str, str] = {}
    for service in SERVICES:
        candidates = [(f"endpoints.{service}", configured.get(service, ""))]
        if service == "iam":
            candidates.append((IAM_ENDPOINT_ENV, env.get(IAM_ENDPOINT_ENV, "")))
        name = region_env_name(service, region)
        candidates.append((name, env.get(name, "")))
        urls: tuple[str, ...] = ()
        for where, raw in candidates:
            if raw.strip():
                urls = split_endpoints(raw, where, problems, add_scheme=not where.startswith("endpoints."))
                origin[service] = where
                break
        if not urls and service not in origin:
            if from_file is None:
                from_file = load_regions_file(env, problems)
            urls = from_file.get(service.upper() + region, ())
            origin[service] = "regions file" if urls else "SDK region table"
        chosen[service] = urls or (sdk_host(service, region),)
    sts_raw = configured.get("sts", "") or env.get(STS_ENDPOINT_ENV, "")
    sts_where = "endpoints.sts" if configured.get("sts") else STS_ENDPOINT_ENV
    sts = split_endpoints(sts_raw, sts_where, problems, add_scheme=sts_where == STS_ENDPOINT_ENV)
    origin["sts"] = sts_where if sts else "SDK default"
    return Endpoints(
        workspace=chosen["workspace"],
        iam=chosen["iam"],
        ces=chosen["ces"],
        sts=sts or (DEFAULT_STS,),
        origin=origin,
    )
