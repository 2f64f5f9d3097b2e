"""The gate as a pytest plugin (pytester): saved baseline + current run -> pass / fail / refuse."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.regress.load import default_machine_id

BuildRun = Callable[..., dict[str, Any]]
Latency = Callable[..., list[float]]

#: load the plugin by module until the openwhisk-regress entry point is installed; hypothesis's plugin
#: (installed here, unused by these tests) re-imports hypothesis on every in-process run: ~2 s each
PLUGIN_ARGS = (
    []
    if any(ep.value == "pytest_openwhisk.regress.plugin" for ep in entry_points(group="pytest11"))
    else ["-p", "pytest_openwhisk.regress.plugin"]
) + ["-p", "no:hypothesispytest"]

CONFTEST = """
import json, pytest

FINGERPRINT = json.loads({fingerprint!r})

@pytest.hookimpl(trylast=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["ow_fingerprint"] = FINGERPRINT

def pytest_benchmark_generate_machine_info(config):  # py-cpuinfo takes seconds
    return {"node": "test", "python_implementation": "CPython", "python_version": "3.11"}

def pytest_benchmark_generate_commit_info(config):
    return {"id": "test", "dirty": False, "project": "test"}
"""

TEST_FILE = """
import json, pathlib

SAMPLES = json.loads(pathlib.Path("samples.json").read_text())

def test_a(benchmark):
    benchmark.extra_info["ow_samples"] = SAMPLES
    benchmark.extra_info["ow_mode"] = "warm"
    benchmark.pedantic(lambda: None, rounds=3)
"""


def _project(
    pytester: pytest.Pytester,
    build_run: BuildRun,
    baseline_ms: list[float],
    current_ms: list[float],
    fingerprint: dict[str, Any],
    current_fingerprint: dict[str, Any] | None = None,
) -> Path:
    """A project with one saved run (0001_base) whose test_a latencies are ``baseline_ms``."""
    base = build_run({"test_a": baseline_ms}, fingerprint=fingerprint)
    base["benchmarks"][0]["fullname"] = "test_gate.py::test_a"
    storage = pytester.path / ".benchmarks" / default_machine_id()
    storage.mkdir(parents=True)
    (storage / "0001_base.json").write_text(json.dumps(base), encoding="utf-8")
    n = len(current_ms)
    samples = {
        "latency_ms": current_ms,
        "duration_ms": current_ms,
        "wait_ms": [1.0] * n,
        "init_ms": [None] * n,
        "cold": [0] * n,
        "error": [0] * n,
    }
    (pytester.path / "samples.json").write_text(json.dumps(samples), encoding="utf-8")
    pytester.makeconftest(
        CONFTEST.replace("{fingerprint!r}", repr(json.dumps(current_fingerprint or fingerprint)))
    )
    pytester.makepyfile(test_gate=TEST_FILE)
    return storage


def test_gate_passes_when_nothing_regressed(
    pytester: pytest.Pytester, build_run: BuildRun, latency: Latency, base_fingerprint: dict[str, Any]
) -> None:
    _project(pytester, build_run, latency(), latency(), base_fingerprint)
    result = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p50:5%,p95:10%", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*openwhisk regression gate: p50:5%, p95:10% vs 0001_base*",
            "*openwhisk regression gate*",
            "*test_gate.py::test_a*p50 (+5%)*no change*",
            "regression gate PASSED",
        ]
    )


def test_gate_fails_the_session_and_explains(
    pytester: pytest.Pytester,
    build_run: BuildRun,
    latency: Latency,
    base_fingerprint: dict[str, Any],
    tmp_path: Path,
) -> None:
    storage = _project(pytester, build_run, latency(), latency(extra_ms=5.0), base_fingerprint)
    html = tmp_path / "gate.html"
    result = pytester.runpytest(
        *PLUGIN_ARGS,
        "--ow-regression=p50:5%",
        "--ow-regression=error_rate:1%",
        "--benchmark-autosave",
        f"--ow-regression-html={html}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)  # the test passed; the session fails on the gate
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*test_gate.py::test_a*p50 (+5%)*REGRESSION*",
            "FAILED test_gate.py::test_a p50: +*% is significant (p=* < 0.01) and over +5%",
            "regression gate FAILED (1 regression(s))",
        ]
    )
    assert "REGRESSION" in html.read_text(encoding="utf-8")
    # the autosaved run is the new latest: a second identical session compares with it and passes
    assert len(list(storage.glob("0002_*.json"))) == 1
    again = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p50:5%", "-p", "no:cacheprovider")
    assert again.ret == pytest.ExitCode.OK
    again.stdout.fnmatch_lines(["*vs 0002_*"])


def test_explicit_baseline_path(
    pytester: pytest.Pytester, build_run: BuildRun, latency: Latency, base_fingerprint: dict[str, Any]
) -> None:
    storage = _project(pytester, build_run, latency(), latency(extra_ms=5.0), base_fingerprint)
    baseline = storage / "0001_base.json"
    result = pytester.runpytest(
        *PLUGIN_ARGS,
        "--ow-regression=p50:5%",
        f"--ow-regression-baseline={baseline}",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_fingerprint_mismatch_refuses_unless_allowed(
    pytester: pytest.Pytester, build_run: BuildRun, latency: Latency, base_fingerprint: dict[str, Any]
) -> None:
    other = {**base_fingerprint, "backend": "kind", "kinds": ["nodejs:20"]}
    _project(pytester, build_run, latency(), latency(), base_fingerprint, current_fingerprint=other)
    refused = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p50:5%", "-p", "no:cacheprovider")
    assert refused.ret == pytest.ExitCode.TESTS_FAILED
    refused.stdout.fnmatch_lines(
        [
            "ERROR refusing to compare 0001_base with this run: the OpenWhisk fingerprints "
            "differ (old -> new):",
            '  backend: "local" -> "kind"',
            '  kinds: ["nodejs:20", "python:3.11"] -> ["nodejs:20"]',
            "*--ow-regression-allow-fingerprint-mismatch*",
        ]
    )
    allowed = pytester.runpytest(
        *PLUGIN_ARGS,
        "--ow-regression=p50:5%",
        "--ow-regression-allow-fingerprint-mismatch",
        "-p",
        "no:cacheprovider",
    )
    assert allowed.ret == pytest.ExitCode.OK
    allowed.stdout.fnmatch_lines(['WARNING fingerprint differs: backend: "local" -> "kind"'])


def test_no_saved_run_skips_with_a_note(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(benchmark):\n    benchmark.pedantic(lambda: None, rounds=3)\n")
    result = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p95:5%", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["no baseline, gate skipped: run 'latest' does not exist: no saved runs in*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ow-regression=p95:5"], "*invalid gate threshold '5' in 'p95:5'*"),
        (["--ow-regression=p95:5%", "--ow-regression-alpha=0.9"], "*invalid significance level '0.9'*"),
        (
            ["--ow-regression=p95:5%", "--ow-regression-baseline=0042"],
            "*--ow-regression-baseline: run id '0042' not*",
        ),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest(*PLUGIN_ARGS, *args, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_env_and_ini_configure_the_gate(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\now_regression = p99:10%\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*openwhisk regression gate: p99:10% vs latest (none found)*"])
    monkeypatch.setenv("OW_REGRESSION", "p50:3%")
    result = pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*openwhisk regression gate: p50:3% vs latest (none found)*"])
    monkeypatch.setenv("OW_REGRESSION_ALPHA", "abc")
    result = pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(
        ["*environment variable OW_REGRESSION_ALPHA: invalid significance level 'abc'*"]
    )


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN_ARGS, "--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*--ow-regression=SPEC*",
            "*p95:5%,p99:10%,cold_ratio:2%,error_rate:1%*",
            "*--ow-regression-baseline=PATH|latest|RUNID*",
            "*--ow-regression-allow-fingerprint-mismatch*",
        ]
    )
