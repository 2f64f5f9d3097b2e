"""The A/B gate on synthetic paired measurements: verdicts, table, new-in-head rows, marker rules."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_openwhisk.ab import gate
from pytest_openwhisk.measure import Measurement, measurement_from_samples
from pytest_openwhisk.regress.gate import FEW, REGRESSION, SAME, SLOWER, GateReport
from pytest_openwhisk.regress.html import render
from pytest_openwhisk.regress.spec import parse_gate
from pytest_openwhisk.regress.table import format_report
from pytest_openwhisk.samples import Sample

from .test_paired import drifting_pairs


def measurement(name: str, latencies: np.ndarray, errors: int = 0) -> Measurement:
    """A warm measurement of these latencies; the last ``errors`` samples failed."""
    samples = []
    for index, value in enumerate(latencies):
        failed = index >= len(latencies) - errors
        samples.append(
            Sample(
                action=name,
                sent=float(index),
                received=float(index) + value / 1000,
                latency_ms=float(value),
                http_status=502 if failed else 200,
                status="application error" if failed else "success",
                duration_ms=float(value) - 1.0,
            )
        )
    return measurement_from_samples(name, "warm", name, samples)


def ab(
    shift: float, seed: int = 1, spec: str = "p50:3%,p95:5%,error_rate:1%", errors: int = 0, n: int = 200
) -> gate.AbComparison:
    """One A/B of drifting pairs with ``shift`` on head."""
    base, head = drifting_pairs(np.random.default_rng(seed), n=n, shift=shift)
    return gate.AbComparison(
        "tests/test_x.py::test_a[warm]",
        head=measurement("head", head, errors),
        base=measurement("base", base),
        rules=parse_gate(spec),
    )


def verdicts(report: GateReport) -> dict[str, str]:
    return {c.rule.metric if c.rule else "-": c.verdict for c in report.comparisons}


def test_slowdown_beyond_threshold_is_a_regression_with_the_usual_table() -> None:
    report = gate.evaluate([ab(0.08, seed=3)])
    assert verdicts(report)["p50"] == REGRESSION
    assert not report.passed
    text = "\n".join(format_report(report))
    assert "FAILED tests/test_x.py::test_a[warm] p50: +" in text
    assert "paired randomization p=" in text
    assert "weighted median of 200 per-pair ratios" in text  # p50 rows weight quiet pairs more
    assert "regression gate FAILED" in text


def test_aa_passes_and_small_slowdown_only_warns() -> None:
    assert gate.evaluate([ab(0.0)]).passed
    small = gate.evaluate([ab(0.015, spec="p50:3%")])
    assert verdicts(small)["p50"] in (SLOWER, SAME)
    assert small.passed


def test_error_rate_rise_is_gated_on_pairs() -> None:
    report = gate.evaluate([ab(0.0, errors=12)])
    assert verdicts(report)["error_rate"] == REGRESSION
    assert verdicts(report)["p50"] != REGRESSION  # failed pairs are left out of latency rows


def test_too_few_pairs_and_new_in_head() -> None:
    short = ab(0.5, n=15)
    new = gate.AbComparison(
        "tests/test_x.py::test_new[warm]", head=short.head, note="functions/n.py is new in head"
    )
    report = gate.evaluate([short, new])
    rows = {(c.benchmark, c.rule.metric if c.rule else "-"): c for c in report.comparisons}
    assert rows[("tests/test_x.py::test_a[warm]", "p50")].verdict == FEW
    assert rows[("tests/test_x.py::test_new[warm]", "-")].verdict == gate.NEW_IN_HEAD
    assert "new in head" in rows[("tests/test_x.py::test_new[warm]", "-")].reason
    assert report.passed


def test_correction_adds_adjusted_p_and_html_shows_both_sides() -> None:
    report = gate.evaluate([ab(0.08), ab(0.0, seed=2)], correction="holm", base_label="base (v1)")
    assert all(c.p_adjusted is not None for c in report.comparisons if c.rule and c.verdict != FEW)
    page = render(report)
    assert "base (v1) (n=200)" in page
    assert "head (n=200)" in page
    with pytest.raises(ValueError, match="unknown multiple-comparison correction 'x'"):
        gate.evaluate([ab(0.0)], correction="x")


def test_same_data_same_verdicts() -> None:
    first, second = gate.evaluate([ab(0.03)]), gate.evaluate([ab(0.03)])
    assert [c.p_value for c in first.comparisons] == [c.p_value for c in second.comparisons]


def test_marker_rules() -> None:
    rules = gate.marker_rules({"p50": "3%", "p95": "5ms"}, "t")
    assert [str(r) for r in rules] == ["p50:3%", "p95:5ms"]
    with pytest.raises(ValueError, match="give the threshold as a string"):
        gate.marker_rules({"p50": 3}, "t")
    with pytest.raises(ValueError, match="needs at least one metric"):
        gate.marker_rules({}, "t")
    with pytest.raises(ValueError, match="invalid gate metric 'p5x'"):
        gate.marker_rules({"p5x": "3%"}, "t")


def test_a_b_spread_over_containers_is_randomized_per_container() -> None:
    comparison = ab(0.08, seed=3, spec="p50:3%")
    assert comparison.base is not None
    comparison.base.extra["blocks"] = list(range(0, 200, 20))  # run_ab(containers=10)
    report = gate.evaluate([comparison])
    assert verdicts(report)["p50"] == REGRESSION
    assert "randomized per container (10 per side)" in report.comparisons[0].reason
    comparison.base.extra["blocks"] = [0, 50, 100, 150]  # 2**4 label patterns: p >= 1/16
    few = gate.evaluate([comparison])
    assert verdicts(few)["p50"] == FEW
    assert "4 containers per side: the container-level test needs at least 7 for alpha 0.01" in (
        few.comparisons[0].reason
    )
