"""End to end on the embedded backend: ``ow_workload`` runs a FaaSProfiler file and records measurements."""

from __future__ import annotations

import csv
import json

import pytest

INNER = """
import json
from pathlib import Path

from pytest_openwhisk.workload.spec import Instance, Workload

CODE = "def main(args):\\n    return {'n': args.get('n', 0) * 2}\\n"


def test_faasprofiler_file(ow_action, ow_workload, tmp_path):
    ow_action("base64-python", code=CODE, kind="python:default")
    (tmp_path / "p.json").write_text(json.dumps({"n": 21}))
    cfg = {"test_name": "fp-smoke", "test_duration_in_seconds": 2, "random_seed": 100, "blocking_cli": False,
           "instances": {
               "pois": {"application": "base64-python", "distribution": "Poisson", "rate": 15,
                        "param_file": "p.json"},
               "trace": {"application": "base64-python", "interarrivals_list": [0.2, 0.3, 0.5]}},
           "perf_monitoring": {"runtime_script": None}}
    path = tmp_path / "workload_configs.json"
    path.write_text(json.dumps(cfg))
    analysis = ow_workload.run(path, settle_s=20)
    [stats] = analysis.functions.values()
    assert stats["count"] == len(analysis.records) >= 10
    assert stats["errors"] == 0, stats["errors_by_class"]
    assert stats["cold_count"] >= 1
    assert analysis.join["missing"] == 0
    assert all(s.duration_ms is not None and s.start_ms for s in analysis.samples())
    assert stats["completion_ms"]["all"]["p50"] > 0
    Path("results.txt").write_text(str(ow_workload.results_for("fp-smoke")))


def test_blocking_mix(ow_action, ow_workload, ow_bench):
    ow_action("hello", code=CODE, kind="python:default")
    w = Workload("mix", 1.5, seed=4, instances=(
        Instance("u", "hello", distribution="uniform", rate=10.0, blocking=True, params={"n": 1}),
        Instance("p", "hello", rate=10.0, window=(0.5, 1.5))))
    analysis = ow_workload.run(w, plots=False)
    assert analysis.instances["u"]["count"] == 15
    assert analysis.functions[analysis.workload.actions[0]]["ok"] == len(analysis.records)
    [measurement] = ow_bench.measurements
    assert measurement.mode == "open-loop"
    assert len(measurement.samples) == len(analysis.records)
"""


def test_ow_workload_end_to_end_on_local_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    results = pytester.path / "res"
    result = pytester.runpytest(
        "--ow-cluster=local",
        "--ow-local-mode=thread",
        f"--ow-results-dir={results}",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_openwhisk.workload.fixture",
    )
    result.assert_outcomes(passed=2)
    folder = pytester.path / (pytester.path / "results.txt").read_text()
    with (folder / "invocations.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    assert all(row["status"] == "success" and row["activation_id"] for row in rows)
    assert {row["instance"] for row in rows} == {"pois", "trace"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["workload"]["seed"] == 100
    for name in ("latency_over_time.png", "latency_cdf.png", "report.html", "schedule.json"):
        assert (folder / name).is_file(), name
