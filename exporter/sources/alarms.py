"""Workspace's own alarms (kept by Cloud Eye) by level, and which alarm rules are active now.

A refresh makes ``GET /v2/{project_id}/statistics/alarms`` (alarm records per level, the
console's numbers; what exactly they count is not documented, so no shipped alert reads
them) and, for each level of ``alarms.levels``, the paged ``GET /v2/{project_id}/alarms?level=N``
(100 a page, at most ``alarms.max_records`` records). Records in ``status`` ``alarm`` are
active; ``ok`` and ``invalid`` are history and are skipped. Active records are counted per
alarm rule (``alarm_id``, at most ``alarms.max_rules``, then ``other``) and level.

The level is exported as ``level`` (critical, major, minor, info), never ``severity``: a
series label ``severity`` would clash with the alert rules' own. The refresh is all or
nothing (:mod:`exporter.sources.fleet_common`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exporter.config.sections.fleet import ALARM_LEVELS
from exporter.config.settings import AlarmsConfig
from exporter.sources.base import next_version
from exporter.sources.fleet_common import FleetSource, count
from exporter.sources.labels import OTHER, bounded_id, bounded_text

STATS_API = "alarm_statistics"
LIST_API = "alarms"
CAP_KEY = "alarms.max_records"
LEVEL_NUMBER = {name: i + 1 for i, name in enumerate(ALARM_LEVELS)}  # critical=1 ... info=4
STATISTICS_FIELDS = {
    "critical": "critical_count",
    "major": "major_count",
    "minor": "minor_count",
    "info": "info_count",
}


@dataclass(frozen=True)
class Rule:
    alarm_id: str
    name: str
    type: str
    namespace: str
    metric_name: str


@dataclass(frozen=True)
class AlarmsSnapshot:
    records: tuple[tuple[str, int], ...]  # (level, alarm records as the statistics say)
    active: tuple[tuple[tuple[str, str], int], ...]  # ((alarm_id, level), active records)
    rules: tuple[Rule, ...]  # the rules of the active records
    version: int = field(default_factory=next_version, compare=False)


def level_name(value: object) -> str:
    n = count(value)
    return ALARM_LEVELS[n - 1] if n is not None and 1 <= n <= len(ALARM_LEVELS) else OTHER


def parse_rule(raw: dict[str, Any], alarm_id: str) -> Rule:
    metric = raw.get("metric")
    metric = metric if isinstance(metric, dict) else {}
    return Rule(
        alarm_id=alarm_id,
        name=bounded_text(raw.get("name")),
        type=bounded_text(raw.get("type"), 64),
        namespace=bounded_text(metric.get("namespace"), 64),
        metric_name=bounded_text(metric.get("metric_name"), 64),
    )


class AlarmsSource(FleetSource[AlarmsConfig]):
    """Keeps the latest :class:`AlarmsSnapshot`; a failed refresh keeps the old one."""

    name = "alarms"
    apis: tuple[str, ...] = (STATS_API, LIST_API)
    snapshot: AlarmsSnapshot | None = None

    def refresh(self) -> None:
        cfg = self.config
        if not cfg.enabled:
            return
        with self._lock:
            self.notes.begin()
            body = self._client.request(STATS_API)
            records = tuple(
                (level, n)
                for level, key in STATISTICS_FIELDS.items()
                if (n := count(body.get(key))) is not None
            )
            active: Counter[tuple[str, str]] = Counter()
            rules: dict[str, Rule] = {}
            for level in cfg.levels:
                self._active(level, cfg, active, rules)
            self.notes.end()
            fresh = AlarmsSnapshot(
                records,
                tuple(sorted(active.items())),
                tuple(sorted(rules.values(), key=lambda r: r.alarm_id)),
            )
            if fresh != self.snapshot:
                self.snapshot = fresh

    def _active(
        self, level: str, cfg: AlarmsConfig, active: Counter[tuple[str, str]], rules: dict[str, Rule]
    ) -> None:
        listing = self._client.listing(
            LIST_API,
            "alarm_histories",
            {"level": LEVEL_NUMBER[level]},
            total_key="count",
            max_items=cfg.max_records,
            cap_key=CAP_KEY,
        )
        for page in listing:
            for raw in page.items:
                alarm_id = bounded_id(raw.get("alarm_id"))
                status = raw.get("status")
                if not alarm_id or not isinstance(status, str):
                    self._sink.invalid_response(LIST_API)
                    continue
                if status != "alarm":
                    continue
                if alarm_id not in rules:
                    if len(rules) >= cfg.max_rules:
                        self.notes.note(
                            "too many active alarm rules", f"past alarms.max_rules={cfg.max_rules}"
                        )
                        alarm_id = OTHER
                    else:
                        rules[alarm_id] = parse_rule(raw, alarm_id)
                # The record's own level: the query asked for one, but the answer says which.
                active[(alarm_id, level_name(raw.get("level")) if "level" in raw else level)] += 1
        if listing.truncated:
            self.notes.note(f"alarm records cut at {listing.cap}", f"level {level}")
