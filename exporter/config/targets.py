"""Several projects/regions in one config: the ``targets`` list.

Each item (region, project_id, endpoints, auth) is merged over the top level, so
shared keys (budget, monitoring, web, ...) are written once; each merged document
is then validated like a single-project config.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from exporter.config.settings import Settings, parse_config, read_yaml
from exporter.config.yamlfile import excerpt, key_name
from exporter.errors import ConfigError

TARGET_KEYS = ("region", "project_id", "endpoints", "auth")
# One chart Deployment per target: the pod watches only targets[index] of the shared config.
TARGET_INDEX_ENV = "WORKSPACE_EXPORTER_TARGET_INDEX"
# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
_ASCII_INDEX = re.compile(r"[0-9]{1,6}")


def _selected(env: Mapping[str, str], count: int) -> int | None:
    value = env.get(TARGET_INDEX_ENV)
    if value is None or value.strip() == "":
        return None
    if not _ASCII_INDEX.fullmatch(value.strip()) or int(value) >= count:
        raise ConfigError(
            [f"{TARGET_INDEX_ENV}: must be an index into targets, below {count}, got {excerpt(value)}"]
        )
    return int(value)


def parse_targets(raw: object, env: Mapping[str, str] | None = None) -> list[Settings]:
    """One :class:`Settings` per watched project.

    Without ``targets`` the top level is the only target. With ``targets`` (a list of
    mappings of region, project_id, endpoints and auth) each item is merged over the
    top level, so shared keys (budget, monitoring, …) are written once. With
    ``WORKSPACE_EXPORTER_TARGET_INDEX=i`` in ``env`` only ``targets[i]`` is watched (and,
    under ``target_labels: auto``, labelled, since other pods watch the others).
    """
    env = os.environ if env is None else env
    if not isinstance(raw, dict) or "targets" not in raw:
        _selected(env, 1)
        return [parse_config(raw, env)]
    targets = raw["targets"]
    base = {k: v for k, v in raw.items() if k != "targets"}
    if not isinstance(targets, list) or not targets:
        raise ConfigError(
            [f"targets: must be a non-empty list of mappings with keys {', '.join(TARGET_KEYS)}"]
        )
    only = _selected(env, len(targets))
    if only is not None and len(targets) > 1 and base.get("target_labels", "auto") == "auto":
        # Series from several pods meet in one Prometheus: keep them apart by project.
        base["target_labels"] = "always"
    problems: list[str] = []
    out: list[Settings] = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(targets):
        if only is not None and i != only:
            continue  # another pod's target: its credentials need not be present here
        if not isinstance(item, dict):
            problems.append(f"targets[{i}]: must be a mapping with keys {', '.join(TARGET_KEYS)}")
            continue
        for key in item:
            if key not in TARGET_KEYS:
                problems.append(
                    f"targets[{i}].{key_name(key)}: unknown key (allowed here: {', '.join(TARGET_KEYS)})"
                )
        merged = dict(base)
        for key in TARGET_KEYS:
            if key in item:
                inherited = base.get(key)
                value = item[key]
                both = isinstance(inherited, dict) and isinstance(value, dict)
                merged[key] = {**inherited, **value} if both else value  # type: ignore[dict-item]
        try:
            settings = parse_config(merged, env)
        except ConfigError as e:
            for p in e.problems:
                local = p.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0] in TARGET_KEYS
                line = f"targets[{i}].{p}" if local else p
                if line not in problems:
                    problems.append(line)
            continue
        key2 = (settings.config.region, settings.config.project_id)
        if key2 in seen:
            problems.append(f"targets[{i}]: same region and project_id as targets[{seen[key2]}]")
        seen[key2] = i
        out.append(settings)
    if problems:
        raise ConfigError(problems)
    return out


def load_targets(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> list[Settings]:
    """Read, validate and resolve every target of the YAML config at ``path``."""
    return [dataclasses.replace(s, source=str(path)) for s in parse_targets(read_yaml(path), env)]


def select_target(targets: list[Settings], selector: str | None, flag: str = "--target") -> Settings:
    """The one target a single-project command (``export-connections``) works on.

    The only target when there is one; otherwise ``selector`` must name one, as
    ``PROJECT_ID/REGION`` or as a ``REGION`` that only one target has. Raises ConfigError.
    """
    names = [f"{s.config.project_id}/{s.config.region}" for s in targets]
    if selector is None or not selector.strip():
        if len(targets) == 1:
            return targets[0]
        raise ConfigError(
            [
                f"{flag}: the config watches {len(targets)} targets; choose one with "
                f"{flag} PROJECT_ID/REGION (one of: {', '.join(names)})"
            ]
        )
    wanted = selector.strip()
    exact = [s for s, name in zip(targets, names, strict=True) if name == wanted]
    by_region = [s for s in targets if s.config.region == wanted]
    if len(exact) == 1:
        return exact[0]
    if "/" not in wanted and len(by_region) == 1:
        return by_region[0]
    why = "matches several targets" if len(by_region) > 1 else "matches no target"
    raise ConfigError([f"{flag}: {excerpt(wanted)} {why}; use PROJECT_ID/REGION, one of: {', '.join(names)}"])
