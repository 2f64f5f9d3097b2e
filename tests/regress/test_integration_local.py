"""End to end on the embedded OpenWhisk: ow_bench runs saved by --benchmark-autosave, then the gate.

The baseline action sleeps 5 ms; the "regressed" one 30 ms, far beyond any noise, so the verdicts are
deterministic even on a loaded 2-core machine. Gate accuracy on small effects is measured by
``benchmarks/regress/aa_injected.py``, not here.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pytest_openwhisk.cli import EXIT_OK, EXIT_REGRESSION, main
from pytest_openwhisk.regress.load import default_machine_id

PLUGIN_ARGS = (
    []
    if any(ep.value == "pytest_openwhisk.regress.plugin" for ep in entry_points(group="pytest11"))
    else ["-p", "pytest_openwhisk.regress.plugin"]
) + ["-p", "no:hypothesispytest", "-p", "no:cacheprovider"]

TEST_FILE = """
import os

CODE = "import time\\ndef main(a):\\n    time.sleep(a['ms'] / 1000)\\n    return {}"

def test_sleepy(ow_action, ow_bench):
    action = ow_action("sleepy", code=CODE, kind="python:3")
    ow_bench.warm(action, {"ms": int(os.environ["SLEEP_MS"])}, rounds=40, warmup=3)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with one ow_bench test; no OW_* setting of the developer leaks in."""
    for name in list(os.environ):
        if name.startswith("OW_") or name == "WSK_CONFIG_FILE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(pytester.path))
    pytester.makepyfile(test_sleepy=TEST_FILE)
    return pytester


def test_real_runs_pass_then_fail_the_gate(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEEP_MS", "5")
    first = project.runpytest(*PLUGIN_ARGS, "--benchmark-autosave", "--ow-regression=p50:50%")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*no baseline, gate skipped*"])
    storage = project.path / ".benchmarks" / default_machine_id()
    (saved,) = storage.glob("0001_*.json")
    data = json.loads(saved.read_text(encoding="utf-8"))
    samples = data["benchmarks"][0]["extra_info"]["ow_samples"]
    assert len(samples["latency_ms"]) == 40
    assert data["machine_info"]["ow_fingerprint"]["backend"] == "local"

    monkeypatch.setenv("SLEEP_MS", "30")
    second = project.runpytest(*PLUGIN_ARGS, "--benchmark-autosave", "--ow-regression=p50:50%,error_rate:5%")
    assert second.ret == pytest.ExitCode.TESTS_FAILED, second.stdout.str()
    second.stdout.fnmatch_lines(
        ["*test_sleepy*p50 (+50%)*REGRESSION*", "regression gate FAILED (1 regression(s))"]
    )

    html = project.path / "report.html"
    storage_args = ["--storage", str(project.path / ".benchmarks")]
    assert main(["compare", "0001", "0002", "--gate", "p50:50%", "--html", str(html), *storage_args]) == (
        EXIT_REGRESSION
    )
    assert main(["compare", "0001", "0001", "--gate", "p50:50%", *storage_args]) == EXIT_OK
    page = html.read_text(encoding="utf-8")
    assert "latency CDF" in page
    assert "trend over saved runs" in page
    assert Path(html).stat().st_size < 500_000
