"""What the fleet sources (pools, quotas, tasks, agents, alarms, user events) share.

The base every fleet source extends (:class:`FleetSource`), the client surface they call
(:class:`FleetClient`: one call, or a paged listing), the
parsing of upstream counts and enums into bounded values, and :class:`Notes`, conditions
of a refresh logged once per change.

These sources read slowly changing, project-wide data (scope ``project``). A refresh is
all or nothing: if any call fails, the refresh fails (``up`` 0) and the last good snapshot
stays, so a family never mixes two refreshes. A call refused for want of an IAM
permission fails the refresh like any other; the source's health names the API and the
action to grant (:attr:`exporter.sources.base.SourceStatus.denied_api`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from exporter.clock import Clock
from exporter.config.settings import Config
from exporter.sources.labels import OTHER, bounded_text
from exporter.upstream.paging import Page, Params

log = logging.getLogger(__name__)

MAX_STATE_VALUES = 20  # distinct unknown enum values kept per label; past it they read "other"
_NOT_LABEL = re.compile(r"[^a-z0-9_]+")


class Pages(Protocol):
    truncated: bool
    cap: str

    def __iter__(self) -> Iterator[Page]: ...


class FleetClient(Protocol):
    """The calls a fleet source makes (a :class:`~exporter.upstream.client.WorkspaceClient`)."""

    def request(
        self,
        api: str,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]: ...

    def listing(
        self,
        api: str,
        items_key: str,
        params: Params | None = None,
        path_params: Mapping[str, str] | None = None,
        *,
        limit: int | None = None,
        total_key: str = "total_count",
        max_items: int | None = None,
        cap_key: str = "",
    ) -> Pages: ...

    def host(self, api: str) -> str: ...


class FleetSink(Protocol):
    """Where malformed items and caps are counted (the API self-metrics)."""

    def invalid_response(self, api: str) -> None: ...
    def truncated(self, api: str, key: str) -> None: ...


def count(value: object) -> int | None:
    """A count from upstream: a non-negative integer (never a bool, a float or text), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return value
    return None


def flag(value: object) -> bool | None:
    """A JSON boolean, else None."""
    return value if isinstance(value, bool) else None


class Enum:
    """Label values of one upstream enum: the known values as they are (or as mapped), an
    unknown one lower-cased and reduced to ``[a-z0-9_]``, at most :data:`MAX_STATE_VALUES`
    unknown ones per process, then ``other``. Thread-safe."""

    def __init__(self, known: Mapping[str, str] | tuple[str, ...]) -> None:
        self._known = dict(known) if isinstance(known, Mapping) else {k: k for k in known}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = bounded_text(value, 64)
        if text in self._known:
            return self._known[text]
        label = _NOT_LABEL.sub("_", text.lower()).strip("_")[:32] or "unknown"
        with self._lock:
            if label in self._seen or len(self._seen) < MAX_STATE_VALUES:
                self._seen.add(label)
                return label
        return OTHER


class Notes:
    """Conditions of a refresh that are not its outcome (a missing breakdown, a value that
    cannot be read), each logged once when it appears and once when it clears."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._now: dict[str, str] = {}
        self._before: dict[str, str] = {}

    def begin(self) -> None:
        self._now = {}

    def note(self, key: str, detail: str) -> None:
        """Condition ``key`` holds in this refresh (``detail`` is logged when it appears)."""
        self._now.setdefault(key, detail)

    def end(self) -> None:
        for key in sorted(set(self._now) - set(self._before)):
            log.warning(
                "upstream answer incomplete, exporting the rest source=%s what=%s detail=%s",
                self._source,
                key,
                self._now[key],
            )
        for key in sorted(set(self._before) - set(self._now)):
            log.info("upstream answer complete again source=%s what=%s", self._source, key)
        self._before = self._now


class FleetConfig(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def interval(self) -> float: ...


C = TypeVar("C", bound=FleetConfig)


class FleetSource(Generic[C]):
    """What every fleet source shares: its client, config section (named like the source),
    clock and sink, the notes of a refresh and the lock that serialises refreshes."""

    name: str

    def __init__(self, client: FleetClient, config: C, clock: Clock, sink: FleetSink) -> None:
        self._client = client
        self.config = config
        self._clock = clock
        self._sink = sink
        self.notes = Notes(self.name)
        self._lock = threading.Lock()

    def interval(self) -> float:
        return self.config.interval

    def reconfigure(self, config: Config) -> None:
        self.config = getattr(config, self.name)
