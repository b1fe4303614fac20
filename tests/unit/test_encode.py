"""Our encoder writes exactly what prometheus_client's encoders write, for random families of
every kind the exporter emits, in both formats; negotiation picks the same formats."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

import exporter.exposition.selfmetrics  # noqa: F401 - turns prometheus_client's _created series off
from exporter.exposition.encode import (
    OPENMETRICS,
    TEXT,
    Format,
    encode_family,
    negotiate,
    sample_names,
)
from exporter.exposition.lines import render_pieces
from exporter.exposition.text import go_float, sample_value
from tests.oracle import content_type, encoded, fixed

ACCEPTS = {
    TEXT: ["", "text/plain; version=0.0.4", "text/plain;version=1.0.0;escaping=allow-utf-8", "*/*"],
    OPENMETRICS: [
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0",
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;q=0.2",
    ],
}
NASTY = [
    "",
    "a\\b",
    'say "hi"',
    "two\nlines",
    "ünïcødé",
    "桌面",
    "emoji 🖥",
    "\\\\n",
    "tab\tx",
    "{x=1}",
    "%s%d",
]
VALUES = [0, 1, -1, 0.5, 1e-9, 123456789.0, 1e22, 2**53, math.nan, math.inf, -math.inf, -0.0, 0.1 + 0.2]
VALUES += [999999.9999999999, 1e6, -1e6, -1234567.5, 1e15 + 0.5, 1e16, 5e-324, 1.7976931348623157e308, True]

names = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,15}\Z").filter(
    lambda n: not n.startswith("__") and not n.endswith(("_total", "_info", "_created"))
)
label_names = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,10}\Z").filter(
    lambda n: not n.startswith("__") and n != "le"
)
texts = st.one_of(st.sampled_from(NASTY), st.text(st.characters(exclude_categories=["Cs"]), max_size=12))
values = st.one_of(st.sampled_from(VALUES), st.floats(), st.integers(-(10**20), 10**20))


@st.composite
def families(draw: st.DrawFn) -> Metric:
    kind = draw(st.sampled_from(["gauge", "counter", "histogram", "info"]))
    name = "huaweicloud_workspace_" + draw(names)
    doc = draw(texts)
    labels = draw(st.lists(label_names, unique=True, max_size=4))
    rows = draw(st.lists(st.tuples(*(texts for _ in labels)), max_size=5, unique=True))
    if kind == "gauge":
        unit = draw(st.sampled_from(["", "seconds"]))
        g = GaugeMetricFamily(name + ("_seconds" if unit else ""), doc, labels=labels, unit=unit)
        for row in rows:
            g.add_metric(list(row), draw(values))
        return g
    if kind == "counter":
        c = CounterMetricFamily(name, doc, labels=labels)
        for row in rows:
            c.add_metric(list(row), abs(draw(st.floats(allow_nan=False))))
        return c
    if kind == "info":
        i = InfoMetricFamily(name, doc, labels=labels)
        for row in rows:
            i.add_metric(list(row), {})
        return i
    h = HistogramMetricFamily(name, doc, labels=labels)
    bounds = sorted(set(draw(st.lists(st.floats(-1e9, 1e9), max_size=4))))
    for row in rows:
        counts = sorted(
            draw(st.lists(st.integers(0, 10**6), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
        )
        buckets = [(go_float(b), float(c)) for b, c in zip(bounds, counts, strict=False)]
        h.add_metric(list(row), [*buckets, ("+Inf", float(counts[-1]))], draw(st.floats(allow_nan=False)))
    return h


FUZZ = settings(max_examples=300, deadline=None, derandomize=True)


@FUZZ
@given(st.lists(families(), max_size=4), st.sampled_from([TEXT, OPENMETRICS]))
def test_random_families_encode_as_prometheus_client_encodes_them(fams: list[Metric], kind: str) -> None:
    for accept in ACCEPTS[kind]:
        fmt = negotiate(accept)
        assert fmt.kind == kind
        ours = b"".join(render_pieces(fams, fmt.kind))
        assert ours == encoded(fixed(*fams), accept)


@pytest.mark.parametrize("kind", [TEXT, OPENMETRICS])
@pytest.mark.parametrize("seed", range(20))
def test_seeded_random_families_encode_as_prometheus_client_encodes_them(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    fams: list[Metric] = []
    for i in range(rng.randint(1, 6)):
        labels = rng.sample(["desktop_id", "state", "api", "code", "user"], rng.randint(0, 3))
        doc = rng.choice(NASTY) + f" family {i}"
        name = f"huaweicloud_workspace_f{i}"
        f: Metric = rng.choice([GaugeMetricFamily, CounterMetricFamily, InfoMetricFamily])(
            name, doc, labels=labels
        )
        for _ in range(rng.randint(0, 8)):
            row = [rng.choice(NASTY) + str(rng.randint(0, 9)) for _ in labels]
            if isinstance(f, InfoMetricFamily):
                f.add_metric(row, {})
            else:
                f.add_metric(
                    row, rng.choice(VALUES) if rng.random() < 0.5 else rng.random() * 10 ** rng.randint(0, 12)
                )
        fams.append(f)
    for accept in ACCEPTS[kind]:
        assert b"".join(render_pieces(fams, kind)) == encoded(fixed(*fams), accept)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [TEXT, OPENMETRICS])
def test_instrumented_counters_and_histograms_encode_without_created_series(kind: str) -> None:
    reg = CollectorRegistry()
    c = Counter("huaweicloud_workspace_calls", "Calls.", ["api", "code"], registry=reg)
    c.labels("a", "200").inc(3)
    c.labels('b"\n', "500").inc()
    h = Histogram("huaweicloud_workspace_call_seconds", "Time.", ["api"], registry=reg, buckets=(0.1, 1, 10))
    h.labels("a").observe(0.05)
    h.labels("a").observe(7)
    fams = list(reg.collect())
    ours = b"".join(render_pieces(fams, kind))  # type: ignore[arg-type]
    assert ours == encoded(reg, ACCEPTS[kind][1])
    assert b"_created" not in ours


@pytest.mark.parametrize("kind", [TEXT, OPENMETRICS])
def test_created_samples_are_never_written(kind: str) -> None:
    c = CounterMetricFamily("huaweicloud_workspace_x", "X.", value=1, created=1_700_000_000.0)
    assert b"_created" not in encode_family(c, kind)  # type: ignore[arg-type]


def test_a_kind_the_exporter_never_writes_is_refused() -> None:
    with pytest.raises(ValueError, match="type summary"):
        encode_family(Metric("huaweicloud_workspace_x", "X.", "summary"), TEXT)


@pytest.mark.parametrize("value", [*VALUES, 1e6 + 0.5, 12345678901.0, 1.5e300, 3e-300, 100.0])
def test_go_float_and_sample_value_match_prometheus_client(value: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert go_float(value) == floatToGoString(value)
    assert sample_value(value) == floatToGoString(value)


@FUZZ
@given(st.floats())
def test_go_float_matches_prometheus_client_on_any_float(value: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert go_float(value) == floatToGoString(value)


STANDARD_ACCEPTS = [
    "",
    "*/*",
    "text/plain",
    "text/plain; version=0.0.4",
    "text/plain;version=1.0.0",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "text/plain;version=1.0.0;escaping=values",
    "application/openmetrics-text",
    "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text; version=0.0.1",
    "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1",  # Prometheus 3's default scrape protocols
    "application/openmetrics-text;version=1.0.0;escaping=bogus",
    "application/json, text/html",
]


@pytest.mark.parametrize("accept", STANDARD_ACCEPTS)
def test_negotiation_answers_as_prometheus_client(accept: str) -> None:
    fmt = negotiate(accept)
    assert fmt.content_type == content_type(accept)
    assert fmt.kind == (OPENMETRICS if fmt.content_type.startswith("application/openmetrics") else TEXT)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # Said as what the body is: OpenMetrics 1.0, with names that need no escaping.
        ("application/openmetrics-text; version=2.0.0", "version=1.0.0; charset=utf-8; escaping=underscores"),
        ("application/openmetrics-text; version=1.0.0; escaping=dots", "escaping=underscores"),
        ("text/plain; version=1.0.0; escaping=dots", "escaping=underscores"),
    ],
)
def test_negotiation_names_only_what_the_body_is(accept: str, expected: str) -> None:
    assert negotiate(accept).content_type.endswith(expected)


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text; version=1.x",
        "text/plain; version=abc",
        "text/plain; version=",
        ",,,;;;=",
    ],
)
def test_negotiation_never_raises_on_garbage(accept: str) -> None:
    assert negotiate(accept) == Format(TEXT, "text/plain; version=0.0.4; charset=utf-8")


@FUZZ
@given(st.text(max_size=300))
def test_negotiation_of_any_header_is_one_of_the_two_formats(accept: str) -> None:
    assert negotiate(accept).kind in (TEXT, OPENMETRICS)


def test_sample_names_per_kind() -> None:
    assert sample_names("x", "gauge") == ("x",)
    assert sample_names("x", "counter") == ("x_total",)
    assert sample_names("x", "info") == ("x_info",)
    assert sample_names("x", "histogram") == ("x_bucket", "x_count", "x_sum")
