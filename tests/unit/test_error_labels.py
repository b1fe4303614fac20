"""The error-response counter: bounded status and error_code labels, nothing pre-declared."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from exporter.exposition.selfmetrics import MAX_ERROR_CODES, ApiMetrics, status_label

NAME = "huaweicloud_workspace_api_error_responses_total"


def _value(reg: CollectorRegistry, api: str, status: str, code: str) -> float | None:
    return reg.get_sample_value(NAME, {"api": api, "status": status, "error_code": code})


def test_real_looking_codes_are_kept_and_anything_else_is_other_or_none() -> None:
    reg = CollectorRegistry()
    metrics = ApiMetrics(reg, ["desktops_detail"])
    assert (
        reg.get_sample_value(NAME, {"api": "desktops_detail", "status": "500", "error_code": "none"}) is None
    )
    metrics.error_response("desktops_detail", 403, "WKS.00081102")
    metrics.error_response("desktops_detail", 401, "APIGW.0301")
    metrics.error_response("desktops_detail", 404, "ces.0014")
    metrics.error_response("desktops_detail", 500, "")
    metrics.error_response("desktops_detail", 400, "Some free text from a user: alice")
    metrics.error_response("desktops_detail", 400, "WKS.0001\n")
    metrics.error_response("desktops_detail", 400, "403")
    metrics.error_response("desktops_detail", 200, "invalid_body")
    assert _value(reg, "desktops_detail", "403", "WKS.00081102") == 1
    assert _value(reg, "desktops_detail", "401", "APIGW.0301") == 1
    assert _value(reg, "desktops_detail", "404", "ces.0014") == 1
    assert _value(reg, "desktops_detail", "500", "none") == 1
    assert _value(reg, "desktops_detail", "400", "other") == 3
    assert _value(reg, "desktops_detail", "200", "invalid_body") == 1


def test_error_codes_are_capped_so_an_upstream_cannot_explode_the_series() -> None:
    reg = CollectorRegistry()
    metrics = ApiMetrics(reg)
    for i in range(MAX_ERROR_CODES + 30):
        metrics.error_response("connections", 400, f"WKS.{i:08d}")
    series = [
        s
        for fam in reg.collect()
        if fam.name == NAME.removesuffix("_total")
        for s in fam.samples
        if s.name == NAME
    ]
    assert len(series) == MAX_ERROR_CODES + 1
    assert _value(reg, "connections", "400", "other") == 30
    metrics.error_response("connections", 400, "WKS.00000001")  # an admitted code stays itself
    assert _value(reg, "connections", "400", "WKS.00000001") == 2


def test_statuses_outside_http_are_other() -> None:
    assert [status_label(s) for s in (100, 404, 599, 0, 600, -1, 10**6)] == [
        "100",
        "404",
        "599",
        "other",
        "other",
        "other",
        "other",
    ]
