"""``pytest-openwhisk matrix`` end to end: a tiny suite under two profiles on the embedded OpenWhisk.

Two real pytest processes (one round per profile), each starting its own embedded server with the
profile's pool; the fingerprint of each run names its profile and the comparison table, the HTML report
and ``matrix.json`` come out. About 10 s.
"""

from __future__ import annotations

import json
import sys

import pytest

SUITE = """
CODE = "def main(args):\\n    return {'ok': True}\\n"


def test_cold(ow_action, ow_bench):
    action = ow_action("tiny", code=CODE, kind="python:3.11")
    measurement = ow_bench.cold(action, {}, rounds=4)
    assert measurement.extra["not_cold"] == 0
"""


def test_matrix_runs_each_profile_and_compares(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE)
    mine = pytester.path / "py-cell.yaml"
    mine.write_text("name: py-cell\ndescription: one python stem cell\nknobs:\n  prewarm: {python:3.11: 1}\n")
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest_openwhisk.profiles.matrix",
        "--profile",
        "no-prewarm",
        "--profile",
        str(mine),
        "--rounds",
        "1",
        "--metrics",
        "p50:5%,cold_ratio:2%",
        "--min-samples",
        "4",
        "--html",
        "report.html",
        "--out",
        "out",
        "--",
        "test_tiny.py",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        timeout=240,
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "matrix: 2 profiles x 1 rounds = 2 pytest runs on local, *",
            "matrix: round 1/1 no-prewarm: pytest exit 0 in *",
            "matrix: round 1/1 py-cell: pytest exit 0 in *",
            "profiles * benchmark * metric *",
            "no-prewarm -> py-cell * test_cold* p50 (+5%) * 4/4 *",
            "no-prewarm -> py-cell * test_cold* cold_ratio (+2 pp) * 100.0% * 100.0% *",
            '*setup differs (expected): profile.name: "no-prewarm" -> "py-cell"',
        ]
    )
    out = pytester.path / "out"
    summary = json.loads((out / "matrix.json").read_text())
    assert [(r["profile"], r["exit_code"]) for r in summary["runs"]] == [("no-prewarm", 0), ("py-cell", 0)]
    for name in ("no-prewarm", "py-cell"):
        run = json.loads((out / f"r1-{name}.json").read_text())
        assert run["machine_info"]["ow_fingerprint"]["profile"]["name"] == name
    cells = json.loads((out / "r1-py-cell.json").read_text())["machine_info"]["ow_fingerprint"]["pool"]
    assert cells["prewarm"] == [{"kind": "python:3.11", "count": 1, "memory_mb": 256}]
    assert "latency CDF" in (pytester.path / "report.html").read_text()
    assert "--ow-profile=" in (out / "r1-py-cell.log").read_text().splitlines()[0]


def test_a_knob_the_backend_lacks_stops_matrix_before_running(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE)
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest_openwhisk.profiles.matrix",
        "--profile",
        "default",
        "--profile",
        "new-scheduler",
        "--",
        "test_tiny.py",
        timeout=60,
    )
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        [
            "*`scheduler: new` cannot apply to the embedded OpenWhisk*backends that have "
            "it: kind, existing. Fix: run with --ow-cluster=kind*"
        ]
    )
    assert not (pytester.path / ".ow-results").exists() or not any(
        (pytester.path / ".ow-results").rglob("*.json")
    )


def test_pytest_refuses_a_cluster_only_profile_on_local(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=SUITE)
    result = pytester.runpytest_subprocess("--ow-profile=docker-factory", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--ow-profile*: profile 'docker-factory' *`container_factory: docker` cannot "
            "apply to the embedded OpenWhisk*"
        ]
    )
