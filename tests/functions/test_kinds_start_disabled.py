"""The kinds start benchmark runs under ``--benchmark-disable``: each start once, checked, no figures.

``benchmarks/embedded/test_kinds_start.py`` read pytest-benchmark's timings after ``pedantic``, which
keeps none when the benchmark is disabled (``AttributeError`` on ``benchmark.stats``). Runs the python
rows (cold, prewarmed, warm) of that file in a child pytest, as the smoke run of the benchmarks does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "embedded" / "test_kinds_start.py"


def test_kinds_start_runs_each_start_once_when_disabled(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    done = pytester.runpytest_subprocess(
        str(BENCH), "--benchmark-disable", "-k", "python", "-p", "no:cacheprovider", "-q", timeout=240
    )
    out = "\n".join(done.outlines[-60:] + done.errlines[-30:])
    assert done.ret == 0, out
    done.assert_outcomes(passed=3)
    assert "kind         mode" not in out  # no figures table without timings
