"""The SDK referees the constraint table's ranges: each one the SDK documents is read from
its docstring and compared with the row.

Where they agree the row says nothing more. Where they differ the row took another
source's range; :data:`TOOK` states which one and why, the row cites the SDK's range
(so docs/api-constraints.md shows both), and the range it took is the stricter one, the
fake refusing what the SDK would allow. The fake's answers stay refereed by the SDK
models in test_responses.py.
"""

from __future__ import annotations

import re

import pytest
from huaweicloudsdkces.v1 import BatchListMetricDataRequestBody, MetricInfo
from huaweicloudsdkces.v2 import BatchListSpecifiedMetricDataRequestBody

from exporter.constraints import TABLE, Rule
from exporter.constraints.kinds import Count, IntRange
from tests.contract.cases import SDK_CASES

# Body parameters live in the body models, not the request models.
BODY_MODELS: dict[tuple[str, str], type] = {
    ("ces_batch_v1", "metrics"): BatchListMetricDataRequestBody,
    ("ces_batch_v1", "metrics[].dimensions"): MetricInfo,
    ("ces_batch_v2", "limit"): BatchListSpecifiedMetricDataRequestBody,
    ("ces_batch_v2", "offset"): BatchListSpecifiedMetricDataRequestBody,
}
_PATTERNS = (
    re.compile(r"范围\s*(\d+)\s*[~\-]\s*(\d+)"),  # 范围0~1000, 取值范围0-500
    re.compile(r"\[(\d+)\s*,\s*(\d+)\]"),  # [1,1000]
    re.compile(r"最小值为(\d+)，最大值为(\d+)"),  # 最小值为1，最大值为1000
)
_AT_MOST = re.compile(r"最多(?:支持|不超过)?(\d+)个")  # 最多支持100个: at most 100

#: Rows whose range differs from the SDK's: the source taken, and why.
TOOK: dict[str, str] = {
    "os_operations.limit": "the seed page's 0–100: the stricter; the SDK repeats the screen-records text",
    "screen_records.limit": "the English API reference's 0–100: the stricter of two editions",
}


def sdk_docstring(rule: Rule) -> str | None:
    """The SDK's description of the row's parameter, or None where the SDK models none."""
    param = rule.param if isinstance(rule, IntRange | Count) else ""
    model = BODY_MODELS.get((rule.api, param))
    if model is None and rule.api in SDK_CASES:
        model = SDK_CASES[rule.api].request
    if model is None:
        return None
    name = param.rsplit(".", 1)[-1].removesuffix("[]")
    doc = model.__init__.__doc__ or ""
    found = re.search(rf":param {re.escape(name)}: (.*)", doc)
    return found.group(1) if found else None


def sdk_range(rule: Rule) -> tuple[int, int] | None:
    text = sdk_docstring(rule)
    if text is None:
        return None
    for pattern in _PATTERNS:
        found = pattern.search(text)
        if found:
            return int(found.group(1)), int(found.group(2))
    most = _AT_MOST.search(text)
    return (0, int(most.group(1))) if most else None


RANGED = [r for r in TABLE if isinstance(r, IntRange | Count) and sdk_range(r) is not None]


def test_the_sdk_documents_the_ranges_of_the_paged_apis() -> None:
    ids = {r.id for r in RANGED}
    assert {
        "os_operations.limit",
        "screen_records.limit",
        "desktops_detail.limit",
        "connections.limit",
    } <= ids
    assert {
        "ces_batch_v1.metrics",
        "ces_batch_v1.dimensions",
        "ces_batch_v2.limit",
        "ces_metrics.limit",
    } <= ids
    assert len(RANGED) >= 12


@pytest.mark.parametrize("rule", RANGED, ids=lambda r: r.id)
def test_each_range_equals_the_sdks_or_the_row_says_which_it_took_and_why(rule: Rule) -> None:
    assert isinstance(rule, IntRange | Count)
    theirs = sdk_range(rule)
    assert theirs is not None
    ours = (rule.lo, rule.hi)
    if rule.id not in TOOK:
        assert ours == theirs, f"{rule.id}: the SDK says {theirs}; take it, or say in TOOK what and why"
        return
    lo, hi = theirs
    assert ours != theirs, f"{rule.id} now equals the SDK: drop it from TOOK"
    assert rule.lo is not None and rule.hi is not None
    assert lo <= rule.lo and rule.hi <= hi, "the row must be the stricter range"
    assert rule.choice, f"the row says why in its choice (rendered in docs): {TOOK[rule.id]}"
    sdk_cites = [c for c in rule.cites if c.source == "sdk"]
    assert any(f"{lo}–{hi}" in c.says for c in sdk_cites), "the row cites the SDK's range too"
