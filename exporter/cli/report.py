"""How every command reports an invalid configuration: one line per problem, exit code 2."""

from __future__ import annotations

import sys

from exporter.errors import ConfigError

EXIT_CONFIG = 2


def config_error(e: ConfigError) -> int:
    """Print each problem (it names the key path and the fix) and return the exit code."""
    for problem in e.problems:
        print(f"workspace-exporter: invalid configuration: {problem}", file=sys.stderr)
    return EXIT_CONFIG
