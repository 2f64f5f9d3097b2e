"""HTML/SVG building blocks: ticks, CDF points, escaping of benchmark names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_openwhisk.regress import gate
from pytest_openwhisk.regress.html import cdf_points, render
from pytest_openwhisk.regress.load import run_from_json
from pytest_openwhisk.regress.spec import parse_gate
from pytest_openwhisk.regress.svg import nice_ticks


def test_ticks_cover_the_range_with_round_steps() -> None:
    assert nice_ticks(11, 39.5) == [10, 20, 30, 40]
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(5, 5)[0] == 5


def test_cdf_points_are_thinned_and_end_at_one() -> None:
    xs, ys = cdf_points(np.arange(10_000, dtype=np.float64))
    assert len(xs) <= 300
    assert (xs[0], xs[-1], ys[-1]) == (0.0, 9999.0, 1.0)
    assert ys == sorted(ys)
    assert cdf_points(np.array([np.nan])) == ([], [])


def test_names_are_escaped(
    build_run: Callable[..., dict[str, Any]], latency: Callable[..., list[float]]
) -> None:
    evil = "test_x[<script>alert(1)</script>]"
    base = run_from_json(build_run({evil: latency()}), "a<b")
    page = render(gate.evaluate(base, base, parse_gate("p50:5%")))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
