"""Gate verdicts on synthetic runs: what fails, what only warns, and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_openwhisk.regress import gate
from pytest_openwhisk.regress.load import Run, run_from_json
from pytest_openwhisk.regress.spec import parse_gate
from pytest_openwhisk.regress.table import format_report

BuildRun = Callable[..., dict[str, Any]]
Latency = Callable[..., list[float]]


def _runs(build_run: BuildRun, base: dict[str, Any], cur: dict[str, Any]) -> tuple[Run, Run]:
    return run_from_json(build_run(**base), "0001_base"), run_from_json(build_run(**cur), "0002_head")


def _verdicts(report: gate.GateReport) -> dict[tuple[str, str], str]:
    return {
        (c.benchmark.split("::")[-1], c.rule.metric if c.rule else "-"): c.verdict for c in report.comparisons
    }


def test_regression_beyond_threshold_fails_with_reason(build_run: BuildRun, latency: Latency) -> None:
    base, cur = _runs(
        build_run,
        {"latency": {"test_a": latency(), "test_b": latency()}},
        {"latency": {"test_a": latency(extra_ms=5.0), "test_b": latency()}},
    )
    report = gate.evaluate(base, cur, parse_gate("p50:5%,p95:5%"))
    verdicts = _verdicts(report)
    assert verdicts[("test_a", "p50")] == gate.REGRESSION
    assert verdicts[("test_b", "p50")] == gate.SAME
    assert not report.passed
    failure = report.failures[0]
    assert failure.effect is not None
    assert failure.low is not None
    assert failure.low > 1.05
    assert "is significant (p=" in failure.reason
    assert "over +5%" in failure.reason
    lines = "\n".join(format_report(report))
    assert "FAILED benchmarks/test_x.py::test_a p50" in lines
    assert "regression gate FAILED (2 regression(s))" in lines


def test_significant_but_small_slowdown_only_warns(build_run: BuildRun, latency: Latency) -> None:
    base, cur = _runs(
        build_run, {"latency": {"t": latency(n=2000)}}, {"latency": {"t": latency(n=2000, extra_ms=0.6)}}
    )  # ~ +2.5%
    report = gate.evaluate(base, cur, parse_gate("p50:5%"))
    assert _verdicts(report)[("t", "p50")] == gate.SLOWER
    assert report.passed


def test_improvement_is_reported_as_faster(build_run: BuildRun, latency: Latency) -> None:
    base, cur = _runs(build_run, {"latency": {"t": latency(extra_ms=5.0)}}, {"latency": {"t": latency()}})
    report = gate.evaluate(base, cur, parse_gate("p50:5%"))
    assert _verdicts(report)[("t", "p50")] == gate.FASTER
    assert report.passed


def test_absolute_threshold_in_ms(build_run: BuildRun, latency: Latency) -> None:
    base, cur = _runs(build_run, {"latency": {"t": latency()}}, {"latency": {"t": latency(extra_ms=3.0)}})
    assert not gate.evaluate(base, cur, parse_gate("p50:2ms")).passed
    assert gate.evaluate(base, cur, parse_gate("p50:5ms")).passed


def test_error_samples_are_left_out_of_latency_and_gate_error_rate(
    build_run: BuildRun, latency: Latency
) -> None:
    values = latency()
    slow_failures = [v + (500.0 if i % 10 == 0 else 0.0) for i, v in enumerate(values)]
    error = [1 if i % 10 == 0 else 0 for i in range(len(values))]
    base, cur = _runs(
        build_run, {"latency": {"t": latency()}}, {"latency": {"t": slow_failures}, "error": {"t": error}}
    )
    report = gate.evaluate(base, cur, parse_gate("p95:5%,error_rate:1%"))
    verdicts = _verdicts(report)
    assert verdicts[("t", "p95")] == gate.SAME  # the 500 ms failures are not latency
    assert verdicts[("t", "error_rate")] == gate.REGRESSION
    row = next(c for c in report.comparisons if c.rule and c.rule.metric == "error_rate")
    assert row.n_base == 200
    assert row.current == 0.1


def test_cold_ratio_within_threshold_is_not_a_failure(build_run: BuildRun, latency: Latency) -> None:
    cold = [1 if i < 4 else 0 for i in range(200)]  # 2% cold starts: not significant vs 0
    base, cur = _runs(
        build_run, {"latency": {"t": latency()}}, {"latency": {"t": latency()}, "cold": {"t": cold}}
    )
    report = gate.evaluate(base, cur, parse_gate("cold_ratio:1%"))
    assert _verdicts(report)[("t", "cold_ratio")] == gate.SAME


def test_small_samples_are_not_gated(build_run: BuildRun, latency: Latency) -> None:
    base, cur = _runs(
        build_run, {"latency": {"t": latency(n=10)}}, {"latency": {"t": latency(n=10, extra_ms=50)}}
    )
    report = gate.evaluate(base, cur, parse_gate("p50:5%"))
    assert _verdicts(report)[("t", "p50")] == gate.FEW
    assert "needs >= 20" in report.comparisons[0].reason
    base, cur = _runs(build_run, {"latency": {"t": latency(n=50)}}, {"latency": {"t": latency(n=50)}})
    rows = gate.evaluate(base, cur, parse_gate("p95:5%,p99:5%")).comparisons
    assert [r.verdict for r in rows] == [gate.SAME, gate.FEW]  # p99 needs >= 100 samples


def test_benchmarks_in_one_run_only(build_run: BuildRun, latency: Latency) -> None:
    base, cur = _runs(
        build_run,
        {"latency": {"old": latency(), "both": latency()}},
        {"latency": {"new": latency(), "both": latency()}},
    )
    verdicts = _verdicts(gate.evaluate(base, cur, parse_gate("p50:5%")))
    assert verdicts[("old", "-")] == gate.ONLY_BASE
    assert verdicts[("new", "-")] == gate.ONLY_CURRENT


def test_verdicts_do_not_depend_on_benchmark_order(build_run: BuildRun, latency: Latency) -> None:
    a, b, a2, b2 = latency(), latency(), latency(extra_ms=1.0), latency(extra_ms=1.0)
    base1, cur1 = _runs(build_run, {"latency": {"a": a, "b": b}}, {"latency": {"a": a2, "b": b2}})
    base2, cur2 = _runs(build_run, {"latency": {"b": b, "a": a}}, {"latency": {"b": b2, "a": a2}})
    rules = parse_gate("p95:1%")
    assert gate.evaluate(base1, cur1, rules).comparisons == gate.evaluate(base2, cur2, rules).comparisons
