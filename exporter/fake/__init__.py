"""A fake Huawei Cloud Workspace API (plus the IAM and Cloud Eye calls the exporter makes).

A real threaded HTTP server on 127.0.0.1, stdlib only, deterministic from a seed::

    state = FakeWorkspace(desktops=20)
    with FakeServer(state) as url:
        ...  # point the exporter at ``url``; steer ``state`` (faults, records, switches)
        assert state.calls("desktops_detail") == 1

``python -m exporter.fake --desktops 50 --port 0`` runs one standalone; steer it through
the ``/_fake/`` control endpoints (see :mod:`exporter.fake.control`).

Every answer has the shape of the official SDK's response model (tests/contract holds
it there). Switches for what the upstream leaves open (``state.configure(name=value)``
or ``POST /_fake/config {"name": value}``; all in :data:`SWITCHES`):

* ``operations_order``: os-operations ``oldest_first`` (default), ``newest_first`` or
  ``unordered`` (a shuffle seeded per operation id);
* ``recording_path``: the statuses ``state.advance_recording(id)`` (``POST
  /_fake/screen-records {"advance": [id]}``) walks: ``rec_completed`` (``RECORDING ->
  REC_COMPLETED``, final) or ``upload`` (``... -> UPLOADING -> UPLOAD_COMPLETED``, each
  step after ``REC_COMPLETED`` adding an operation: late events);
* ``ces_v2``: the region's Cloud Eye v2 batch query is ``available``, or answers ``404``
  (APIGW.0101, not published) or ``400``; the v1 batch query is always served;
* ``failure_reason_format``: v2 connection failures as ``coded`` (``400200:text``) or
  ``text`` (no numeric prefix); v1.0 login records stay coded.
* ``login_records_page_cap``: the v1.0 login records answer at most this many a page,
  whatever ``limit`` asks (0, the default: as asked); no maximum is published for it.

``state.deny(api)`` (``POST /_fake/deny {"api": name}``) answers that API with the 403 of
a missing IAM permission, naming the API's action (:data:`exporter.apis.IAM_ACTIONS`)
until ``reset_faults``.

The fake is strict, always: every request is held to every row of the constraint table
(:mod:`exporter.constraints`: page sizes, formats, windows, counts, body shapes) and one
that breaks a row gets the refusal the real service gives; ``state.violations`` lists
every such request (:mod:`exporter.fake.strict`).
"""

from exporter.fake.faults import CallRecord
from exporter.fake.records import FAILURE_EXAMPLE
from exporter.fake.server import FakeServer
from exporter.fake.state import SWITCHES, FakeWorkspace

__all__ = ["FAILURE_EXAMPLE", "SWITCHES", "CallRecord", "FakeServer", "FakeWorkspace"]
