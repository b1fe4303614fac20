"""The constraint table's rows for Cloud Eye and IAM.

Each row cites every source that states the constraint; where they disagree, ``choice``
says which one the row follows and why. The limits themselves live in
:mod:`exporter.constraints.ces_windows`.
"""

from __future__ import annotations

from dataclasses import replace

from exporter.constraints.ces_windows import (
    EPOCH_MS_RANGE,
    V1_MAX_BODY,
    V1_MAX_METRICS,
    V2_MAX_SPAN_MS,
    PeriodWindow,
    PointBudget,
)
from exporter.constraints.kinds import BodySize, Count, IntRange, OneOf, Pattern, Required
from exporter.constraints.rules import EPOCH_MS, Cite, Rule
from exporter.constraints.windows import Span, Stamps


def sdk(where: str, says: str) -> Cite:
    return Cite("sdk", f"huaweicloudsdkces {where}", says)


def en(page: str, says: str) -> Cite:
    return Cite("ref-en", f"intl/en-us/api-ces/{page}.html", says)


NAMESPACE = r"(?=.{3,32}$)[A-Za-z][0-9A-Za-z_]*\.[A-Za-z][0-9A-Za-z_]*"
DIMENSION_NAME = r"[A-Za-z][0-9A-Za-z_-]{0,31}"
_NS_WORDS = "service.item, each starting with a letter, 3–32 characters"
_V1 = "v1.BatchListMetricDataRequestBody"
_V2 = "v2.BatchListSpecifiedMetricDataRequestBody"


def _stamps(api: str, model: str) -> list[Rule]:
    lo, hi = EPOCH_MS_RANGE
    says = "ms timestamps within [1111111111111, 9999999999999]"
    return [
        Stamps(
            api=api,
            name="timestamps",
            params=("from", "to"),
            lo=lo,
            hi=hi,
            cites=(sdk(f"{model}.from/to", says),),
        )
    ]


def _names(api: str, model: str, prefix: str, metric_len: int) -> list[Rule]:
    return [
        Pattern(
            api=api,
            name="namespace",
            params=(f"{prefix}namespace",),
            regex=NAMESPACE,
            what=_NS_WORDS,
            bad_example="SYS",
            where="body",
            cites=(sdk(f"{model} namespace", "service.item, letters first, [3, 32] characters"),),
        ),
        Pattern(
            api=api,
            name="metric_name",
            params=(f"{prefix}metric_name",),
            regex=rf"[A-Za-z][0-9A-Za-z_-]{{0,{metric_len - 1}}}",
            what=f"a letter, then letters, digits, _ or -, 1–{metric_len} characters",
            bad_example="1cpu",
            where="body",
            cites=(sdk(f"{model} metric_name", f"starts with a letter, [1, {metric_len}] characters"),),
        ),
    ]


def coded(rows: list[Rule], code: str) -> list[Rule]:
    """``rows`` with ``code`` as the error code of a rejection, where a row names none itself."""
    return [r if r.code else replace(r, code=code) for r in rows]


_V1_ROWS: list[Rule] = [
    BodySize(
        api="ces_batch_v1",
        name="body_size",
        limit=V1_MAX_BODY,
        status=413,
        code="APIGW.0201",
        cites=(en("ces_03_0034", "The size of a POST request cannot exceed 512 KB"),),
        choice="'Denied' with no code named: 413 with the gateway's request-error code.",
    ),
    Required(
        api="ces_batch_v1",
        name="required",
        params=("metrics", "period", "filter", "from", "to"),
        where="body",
        cites=(sdk(_V1, "metrics, period, filter, from, to"),),
    ),
    Count(
        api="ces_batch_v1",
        name="metrics",
        param="metrics",
        lo=1,
        hi=V1_MAX_METRICS,
        where="body",
        cites=(
            sdk(f"{_V1}.metrics", "[1, 500] metric objects"),
            en("ces_03_0034", "up to 500 metrics in one batch"),
            Cite(
                "ref-en",
                "en-us/api-ces/ces_03_0034.html (older) and the Ankara edition",
                "up to 10 metrics in one batch: 1–10",
            ),
        ),
        choice=(
            "Not the strictest: the SDK and the current reference say 500; the 10 of an older page "
            "and one regional edition would make the v1 path unusable past a few dozen desktops."
        ),
    ),
    Count(
        api="ces_batch_v1",
        name="dimensions",
        param="metrics[].dimensions",
        lo=1,
        hi=4,
        where="body",
        cites=(sdk("v1.MetricInfo.dimensions", "[1, 4] dimension objects"),),
    ),
    *_names("ces_batch_v1", "v1.MetricInfo", "metrics[].", 96),
    Pattern(
        api="ces_batch_v1",
        name="dimension_name",
        params=("metrics[].dimensions[].name",),
        regex=DIMENSION_NAME,
        what="a letter, then letters, digits, _ or -, 1–32 characters",
        bad_example="-id",
        where="body",
        cites=(sdk("v1.MetricsDimension.name", "starts with a letter, [1, 32] characters"),),
    ),
    Pattern(
        api="ces_batch_v1",
        name="dimension_value",
        params=("metrics[].dimensions[].value",),
        regex=r"(?s).{1,256}",
        what="1–256 characters",
        bad_example="v" * 257,
        where="body",
        cites=(sdk("v1.MetricsDimension.value", "[1, 256] characters"),),
    ),
    OneOf(
        api="ces_batch_v1",
        name="period",
        param="period",
        allowed=("1", "60", "300", "1200", "3600", "14400", "86400"),
        where="body",
        cites=(sdk("v1.BatchPeriod", "1, 60, 300, 1200, 3600, 14400, 86400"),),
    ),
    OneOf(
        api="ces_batch_v1",
        name="filter",
        param="filter",
        allowed=("average", "variance", "min", "max", "sum"),
        where="body",
        cites=(sdk("v1.Filter", "average, variance, min, max, sum"),),
    ),
    *_stamps("ces_batch_v1", _V1),
    Span(
        api="ces_batch_v1",
        name="order",
        start="from",
        end="to",
        fmt=EPOCH_MS,
        lo_open=True,
        where="body",
        cites=(sdk(f"{_V1}.to", "from must be less than to"),),
    ),
    PeriodWindow(
        api="ces_batch_v1",
        name="period_window",
        adjusts=True,
        cites=(sdk(f"{_V1}.from", "per period, a longer window moves from to to − span"),),
    ),
    PointBudget(
        api="ces_batch_v1",
        name="datapoints",
        adjusts=True,
        cites=(
            en("ces_03_0034", "Number of metrics x (to - from)/Monitoring interval ≤ 3000"),
            Cite("shared", "workspace-api.md G3", "at most 3000 datapoints in total per response"),
        ),
    ),
]

_V2_ROWS: list[Rule] = [
    Required(
        api="ces_batch_v2",
        name="required",
        params=("namespace", "metric_name", "metric_dimension", "from", "to"),
        where="body",
        cites=(sdk(_V2, "namespace, metric_name, metric_dimension, from, to"),),
    ),
    *_names("ces_batch_v2", _V2, "", 64),
    Pattern(
        api="ces_batch_v2",
        name="metric_dimension",
        params=("metric_dimension",),
        regex=rf"{DIMENSION_NAME}(,{DIMENSION_NAME})*",
        what="dimension names, comma-separated, each a letter first and 1–32 characters",
        bad_example="instance_id,",
        where="body",
        cites=(sdk(f"{_V2}.metric_dimension", "names, comma-separated, each [1, 32], letter first"),),
    ),
    Count(
        api="ces_batch_v2",
        name="dimension_count",
        param="metric_dimension",
        lo=1,
        hi=4,
        where="body",
        sep=",",
        item="dim",
        cites=(sdk("v1.ListMetricsRequest.dim_0", "at most 4 dimensions (Cloud Eye-wide)"),),
        choice="v2 states no count; Cloud Eye metrics have at most 4 dimensions.",
    ),
    *_stamps("ces_batch_v2", _V2),
    Span(
        api="ces_batch_v2",
        name="window",
        start="from",
        end="to",
        fmt=EPOCH_MS,
        lo_open=True,
        hi=V2_MAX_SPAN_MS / 1000,
        hi_open=True,
        where="body",
        cites=(
            sdk(f"{_V2}.from", "from < to, and the interval must be within 5 minutes"),
            Cite("shared", "workspace-api.md J", "whether 300,000 ms itself is accepted is not documented"),
        ),
        choice="'Within 5 minutes' may or may not include 300,000 ms: the strict reading, < 300,000.",
    ),
    IntRange(
        api="ces_batch_v2",
        name="limit",
        param="limit",
        lo=1,
        hi=1000,
        default=100,
        where="body",
        cites=(sdk(f"{_V2}.limit", "1–1000, default 100"),),
    ),
    IntRange(
        api="ces_batch_v2",
        name="offset",
        param="offset",
        lo=0,
        hi=9_999_999,
        default=0,
        where="body",
        cites=(sdk(f"{_V2}.offset", "0–9999999, default 0"),),
    ),
]

_LIST_ROWS: list[Rule] = [
    IntRange(
        api="ces_metrics",
        name="limit",
        param="limit",
        lo=1,
        hi=1000,
        default=1000,
        cites=(sdk("v1.ListMetricsRequest.limit", "[1, 1000], default 1000"),),
    ),
    Pattern(
        api="ces_metrics",
        name="namespace",
        params=("namespace",),
        regex=NAMESPACE,
        what=_NS_WORDS,
        bad_example="SYS",
        cites=(sdk("v1.ListMetricsRequest.namespace", "service.item, [3, 32] characters"),),
    ),
    Pattern(
        api="ces_metrics",
        name="dimensions",
        params=("dim.0", "dim.1", "dim.2", "dim.3"),
        regex=rf"{DIMENSION_NAME},\*?[0-9A-Za-z_./#()][0-9A-Za-z_./#()-]{{0,255}}",
        what="key,value: a dimension name, then a value of letters, digits and _-./#() (1–256)",
        bad_example="instance_id",
        cites=(sdk("v1.ListMetricsRequest.dim_0", "key,value; up to 4 dimensions (dim.0–dim.3)"),),
    ),
    OneOf(
        api="ces_metrics",
        name="order",
        param="order",
        allowed=("asc", "desc"),
        cites=(sdk("v1.ListMetricsRequest.order", "asc or desc, default asc"),),
    ),
]

IAM_ROWS: list[Rule] = [
    Required(
        api="iam_tokens",
        name="identity",
        params=("auth.identity.methods",),
        where="body",
        cites=(
            Cite("sdk", "huaweicloudsdkiam v3.KeystoneCreateUserTokenByPasswordRequestBody", "auth.identity"),
        ),
    ),
]

CES: list[Rule] = [
    *coded(_V1_ROWS, "ces.0014"),
    *coded(_V2_ROWS, "ces.0014"),
    *coded(_LIST_ROWS, "ces.0013"),
]
