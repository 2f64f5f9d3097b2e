"""Gate rows on what an invocation costs: ``cpu_p50:5%``, ``memory_max:10%`` (issue 14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pytest_openwhisk.regress import gate
from pytest_openwhisk.regress.load import run_from_json
from pytest_openwhisk.regress.spec import GateSpecError, parse_gate
from pytest_openwhisk.regress.table import format_report

BuildRun = Callable[..., dict[str, Any]]
Latency = Callable[..., list[float]]


def test_cost_rules_parse_with_their_series_and_units() -> None:
    cpu, memory, energy = parse_gate("cpu_p50:5%,memory_max:10%,energy_mean:0.5j")
    assert (cpu.metric, cpu.series, cpu.quantile, cpu.threshold) == ("cpu_p50", "cpu_ms", 0.5, 0.05)
    assert (memory.series, memory.quantile, memory.unit) == ("memory_mb", 1.0, "MB")
    assert (energy.series, energy.quantile, energy.absolute, str(energy)) == (
        "energy_j",
        None,
        True,
        "energy_mean:0.5j",
    )
    assert str(parse_gate("memory_p95:20mb")[0]) == "memory_p95:20mb"
    assert parse_gate("memory_p95:20mb")[0].describe() == "+20MB"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("memory_max:3ms", r"memory_max is measured in mb; give e\.g\. memory_max:5% or memory_max:2mb"),
        ("cpu_p50:1j", r"cpu_p50 is measured in ms"),
        ("gpu_p50:5%", r"invalid gate metric 'gpu_p50'.*cpu_, memory_ or energy_"),
    ],
)
def test_bad_cost_rules_name_the_unit(spec: str, message: str) -> None:
    with pytest.raises(GateSpecError, match=message):
        parse_gate(spec)


def _with_cost(
    run: dict[str, Any], cpu: dict[str, list[float]], memory: dict[str, list[float]]
) -> dict[str, Any]:
    for entry in run["benchmarks"]:
        entry["extra_info"]["ow_samples"]["cpu_ms"] = cpu[entry["name"]]
        entry["extra_info"]["ow_samples"]["memory_mb"] = memory[entry["name"]]
    return run


def test_a_cpu_regression_fails_the_gate_while_latency_and_memory_hold(
    build_run: BuildRun, latency: Latency
) -> None:
    rng = np.random.default_rng(7)
    same = latency()
    cpu_base = list(10.0 + rng.gamma(2.0, 0.5, 200))
    cpu_head = [v * 1.5 for v in list(10.0 + rng.gamma(2.0, 0.5, 200))]  # 50 % more CPU per invocation
    memory = list(40.0 + rng.uniform(0, 2, 200))
    base = run_from_json(
        _with_cost(build_run({"test_a": same}), {"test_a": cpu_base}, {"test_a": memory}), "b"
    )
    head = run_from_json(
        _with_cost(build_run({"test_a": same}), {"test_a": cpu_head}, {"test_a": memory}), "h"
    )
    report = gate.evaluate(base, head, parse_gate("p50:5%,cpu_p50:5%,memory_max:10%"))
    verdicts = {c.rule.metric: c.verdict for c in report.comparisons if c.rule}
    assert verdicts == {"p50": gate.SAME, "cpu_p50": gate.REGRESSION, "memory_max": gate.SAME}
    assert not report.passed
    lines = "\n".join(format_report(report))
    assert "FAILED benchmarks/test_x.py::test_a cpu_p50" in lines


def test_runs_without_cost_say_so_instead_of_passing(build_run: BuildRun, latency: Latency) -> None:
    base = run_from_json(build_run({"test_a": latency()}), "b")
    head = run_from_json(build_run({"test_a": latency()}), "h")
    report = gate.evaluate(base, head, parse_gate("cpu_p50:5%"))
    [row] = report.comparisons
    assert row.verdict != gate.REGRESSION
    assert "cpu_ms" in row.reason


def test_table_and_html_say_why_energy_is_unavailable(
    build_run: BuildRun, latency: Latency, tmp_path: Any
) -> None:
    from pytest_openwhisk.regress.html import write_report

    fingerprint = {"backend": "local", "energy": {"source": "none", "available": False, "why": "no powercap"}}
    base = run_from_json(build_run({"test_a": latency()}, fingerprint=fingerprint), "b")
    head = run_from_json(build_run({"test_a": latency()}, fingerprint=fingerprint), "h")
    report = gate.evaluate(base, head, parse_gate("p50:5%"))
    assert "energy: unavailable (no powercap)" in format_report(report)
    path = tmp_path / "r.html"
    write_report(report, path)
    assert "energy: unavailable (no powercap)" in path.read_text()
