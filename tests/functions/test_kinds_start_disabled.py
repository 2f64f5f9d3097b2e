"""The kinds start benchmark runs under ``--benchmark-disable``: each start once, checked, no figures.

``benchmarks/embedded/test_kinds_start.py`` read pytest-benchmark's timings after ``pedantic``, which
keeps none when the benchmark is disabled (``AttributeError`` on ``benchmark.stats``). Runs the python
rows (cold, prewarmed, warm) of that file in a child pytest, as the smoke run of the benchmarks does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "embedded" / "test_kinds_start.py"


def test_kinds_start_runs_each_start_once_when_disabled() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(BENCH),
            "--benchmark-disable",
            "-k",
            "python",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, out
    assert "3 passed" in out
    assert "kind         mode" not in out  # no figures table without timings
