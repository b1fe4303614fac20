"""The render benchmark runs, and its renders agree with generate_latest (it raises otherwise).

Only that it works is checked here; its figures are the benchmark's business.
"""

from __future__ import annotations

from benchmarks.render import render_case, render_lines
from benchmarks.steady import targets


def test_render_case_runs_and_its_renders_match_generate_latest() -> None:
    r = render_case(120, repeat=1, seed=3)
    assert r["desktops"] == 120
    # Per desktop: info, 12 values, the sample time, 3 online states, the session start.
    assert r["series"] == 120 * 18
    assert set(r["gzip_levels"]) == {"1", "3", "6", "9"}
    assert all(v["bytes"] < r["body_bytes"] for v in r["gzip_levels"].values())
    assert any("20 % of desktops changed" in line for line in render_lines(r))
    names = [t["target"] for t in targets(r, None)]
    assert "full render >= 5x faster than generate_latest" in names
