"""Shared setup of the workload benchmarks: one embedded OpenWhisk (child process) for the module.

Throttles are raised (``LocalConfig.benchmark()``) and the pool budget allows 64 containers of 128 MB,
so the 200 ms sleep action at 100 requests/s (~20-30 concurrent activations) never queues in the pool.
The server runs in its own process so it does not share the GIL with the sender being measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess

ACTION_MEMORY_MB = 128
POOL_MEMORY_MB = 64 * ACTION_MEMORY_MB
FIGURES: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def local_ow() -> Iterator[LocalOpenWhiskProcess]:
    """The embedded OpenWhisk with benchmark throttles and a pool for 64 x 128 MB containers."""
    config = LocalConfig.benchmark(pool=PoolConfig(user_memory_mb=POOL_MEMORY_MB, prewarm=()))
    with LocalOpenWhiskProcess(config) as server:
        yield server


@pytest.fixture(scope="session")
def ow(local_ow: LocalOpenWhiskProcess) -> Iterator[OpenWhiskClient]:
    """A client of :func:`local_ow` with the benchmark actions deployed: ``noop`` and ``sleep200``."""
    with OpenWhiskClient(local_ow.apihost, local_ow.auth, local_ow.namespace) as client:
        client.create_action(
            "noop", "def main(args):\n    return {}\n", kind="python:default", memory=ACTION_MEMORY_MB
        )
        sleeper = "import time\n\ndef main(args):\n    time.sleep(0.2)\n    return {}\n"
        client.create_action("sleep200", sleeper, kind="python:default", memory=ACTION_MEMORY_MB)
        yield client


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> Iterator[list[dict[str, Any]]]:
    """Rows of figures; printed as a table and saved to ``.ow-results/workload-bench.json`` at the end."""
    yield FIGURES
    if not FIGURES:
        return
    out = Path(pytestconfig.rootpath) / ".ow-results" / "workload-bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(FIGURES, indent=2) + "\n")
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line(f"workload benchmark figures (saved to {out}):")
        for row in FIGURES:
            reporter.write_line("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
