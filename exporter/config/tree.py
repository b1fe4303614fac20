"""The root of the config tree: :class:`Config` (every section, plus the top-level keys) and
:class:`Settings` (the config with effective values filled in, as :mod:`exporter.config.settings`
builds it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.config.credentials import Credentials
from exporter.config.endpoints import Endpoints
from exporter.config.schema import meta as _meta
from exporter.config.sections.access import AuthConfig, EndpointsConfig
from exporter.config.sections.connections import ConnectionsConfig
from exporter.config.sections.events import EventsConfig
from exporter.config.sections.fleet import (
    AgentsConfig,
    AlarmsConfig,
    PoolsConfig,
    QuotasConfig,
    TasksConfig,
    UserEventsConfig,
)
from exporter.config.sections.http import BudgetConfig, HTTPConfig
from exporter.config.sections.inventory import InventoryConfig
from exporter.config.sections.monitoring import MonitoringConfig
from exporter.config.sections.process import LogConfig, ShardConfig, WebConfig


@dataclass(frozen=True)
class Config:
    region: str = field(default="", metadata=_meta("region id, e.g. `ap-southeast-1` (required)"))
    project_id: str = field(
        default="",
        metadata=_meta(
            "project the desktops belong to. Empty: env `HUAWEICLOUD_SDK_PROJECT_ID`, else discovered "
            "from IAM by region name (AK/SK auth only)"
        ),
    )
    endpoints: EndpointsConfig = field(default_factory=EndpointsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    http: HTTPConfig = field(default_factory=HTTPConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    connections: ConnectionsConfig = field(default_factory=ConnectionsConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    pools: PoolsConfig = field(default_factory=PoolsConfig)
    quotas: QuotasConfig = field(default_factory=QuotasConfig)
    tasks: TasksConfig = field(default_factory=TasksConfig)
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)
    user_events: UserEventsConfig = field(default_factory=UserEventsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # Add project_id/region labels: "auto" = only when more than one target is configured.
    target_labels: str = field(
        default="auto",
        metadata=_meta(
            "add `project_id`/`region` labels: `auto` = only with more than one target, `always`",
            choices=("auto", "always"),
        ),
    )
    shard: ShardConfig = field(default_factory=ShardConfig)


# Top-level keys read before the dataclasses see the document (exporter.config.targets).
TOP_LEVEL_ONLY_KEYS = ("targets",)


@dataclass(frozen=True)
class Settings:
    """Everything the running exporter needs: the config with effective values filled in."""

    config: Config
    credentials: Credentials
    source: str = ""  # file the config came from, for logs
    # Every endpoint of each service, fall-backs included; ``config.endpoints`` holds the
    # first of each. None: only those (settings built by hand, in tests).
    endpoints: Endpoints | None = None
