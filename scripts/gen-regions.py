#!/usr/bin/env python3
"""Write ``exporter/config/regions.py`` from the region tables of the installed Huawei Cloud SDK.

The exporter must not import the SDK at run time, so the hosts the SDK knows for Workspace,
Cloud Eye and IAM (``huaweicloudsdk<service>/v*/region/*_region.py``) and the STS endpoints of
``huaweicloudsdkcore/auth/endpoint.py`` are copied into our code as data. Run this after
bumping the SDK in the ``test`` extra; ``tests/contract/test_regions.py`` fails until the
copy matches the SDK again.

    .venv/bin/python scripts/gen-regions.py           # rewrite the module
    .venv/bin/python scripts/gen-regions.py --check   # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "exporter" / "config" / "regions.py"


def _sts_table() -> dict[str, str]:
    from huaweicloudsdkcore.auth import endpoint

    table = vars(endpoint)["__STS_ENDPOINT_DICT"]
    return dict(table)


def render() -> str:
    from huaweicloudsdkces.v1.region.ces_region import CesRegion
    from huaweicloudsdkiam.v3.region.iam_region import IamRegion
    from huaweicloudsdkworkspace.v2.region.workspace_region import WorkspaceRegion

    tables: dict[str, dict[str, str]] = {}
    for name, cls in (("WORKSPACE", WorkspaceRegion), ("CES", CesRegion), ("IAM", IamRegion)):
        hosts: dict[str, str] = {}
        for region_id, region in cls.static_fields.items():
            if len(region.endpoints) != 1:
                raise SystemExit(
                    f"{name} {region_id}: {len(region.endpoints)} endpoints; extend the generator"
                )
            hosts[region_id] = region.endpoints[0]
        tables[name] = hosts
    tables["STS"] = _sts_table()
    lines = [
        '"""The region tables of the official Huawei Cloud SDK, as data (generated: do not edit).',
        "",
        f"Copied by ``scripts/gen-regions.py`` from huaweicloudsdk* {version('huaweicloudsdkcore')}:",
        "Workspace (``huaweicloudsdkworkspace/v2/region``), Cloud Eye",
        "(``huaweicloudsdkces/v1/region``; the v2 and v3 tables are the same), IAM",
        "(``huaweicloudsdkiam/v3/region``) and STS (``huaweicloudsdkcore/auth/endpoint.py``).",
        "``tests/contract/test_regions.py`` compares them with the installed SDK;",
        ":mod:`exporter.config.endpoints` applies them.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    docs = {
        "WORKSPACE": "Workspace API host per region.",
        "CES": "Cloud Eye API host per region.",
        "IAM": "Regional IAM host per region; a region missing here uses the global IAM host.",
        "STS": "STS host per region (the SDK's OIDC exchange uses only the default, see endpoints.py).",
    }
    for name, hosts in tables.items():
        lines.append(f"#: {docs[name]}")
        lines.append(f"{name}: dict[str, str] = {{")
        for region_id in sorted(hosts):
            lines.append(f'    "{region_id}": "{hosts[region_id]}",')
        lines.append("}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/gen-regions.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
