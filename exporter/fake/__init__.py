"""A fake Huawei Cloud Workspace API (plus the IAM and Cloud Eye calls the exporter makes).

A real threaded HTTP server on 127.0.0.1, stdlib only, deterministic from a seed::

    state = FakeWorkspace(desktops=20)
    with FakeServer(state) as url:
        ...  # point the exporter at ``url``; steer ``state`` (faults, records, switches)
        assert state.calls("desktops_detail") == 1

``python -m exporter.fake --desktops 50 --port 0`` runs one standalone; steer it through
the ``/_fake/`` control endpoints (see :mod:`exporter.fake.control`).
"""

from exporter.fake.faults import CallRecord
from exporter.fake.records import FAILURE_EXAMPLE
from exporter.fake.server import FakeServer
from exporter.fake.state import SWITCHES, FakeWorkspace

__all__ = ["FAILURE_EXAMPLE", "SWITCHES", "CallRecord", "FakeServer", "FakeWorkspace"]
