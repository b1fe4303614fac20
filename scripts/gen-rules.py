#!/usr/bin/env python3
"""Generate the plain Prometheus rules file from the chart's rule source and default values.

``helm/workspace-exporter/rules/alerts.src.yaml`` holds the rules with ``${...}`` placeholders;
the chart fills them from the release's ``prometheusRule`` values (templates/prometheusrule.yaml)
and this script fills them from the defaults in values.yaml (exporter/cli/rules.py does the
work), into ``rules/alerts.yaml``: the file plain Prometheus loads with ``rule_files:`` and the
promtool tests exercise. tests/rules/test_rules.py fails when the committed file is stale.

    .venv/bin/python scripts/gen-rules.py               # rewrite rules/alerts.yaml
    .venv/bin/python scripts/gen-rules.py --check       # exit 1 if it is stale
    .venv/bin/python scripts/gen-rules.py --demo FILE   # the demo's rules (short for:) into FILE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporter.cli.rules import demo_rules, plain_rules

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "workspace-exporter"
OUTPUT = CHART / "rules" / "alerts.yaml"


def generate() -> str:
    return plain_rules(CHART)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    parser.add_argument(
        "--demo", metavar="FILE", help="write the demo's rules (rules/demo-values.yaml) to FILE"
    )
    args = parser.parse_args()
    try:
        text = demo_rules(CHART) if args.demo else generate()
    except KeyError as exc:
        print(f"rules/alerts.src.yaml: no value for placeholder ${{{exc.args[0]}}}", file=sys.stderr)
        return 2
    if args.demo:
        Path(args.demo).write_text(text, "utf-8")
        return 0
    if args.check:
        if OUTPUT.read_text("utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run scripts/gen-rules.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
