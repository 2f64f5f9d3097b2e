"""Cold start, prewarmed start and warm run of the embedded invoker (pytest-benchmark).

Run: ``python -m pytest benchmarks/embedded/test_cold_start.py --benchmark-only``. Every entry's
``extra_info`` carries the median against the bare ``python -I -S -c pass`` spawn measured in the same
run (``ratio_to_python_spawn``). Groups: ``spawn-baseline``, ``cold-python``, ``cold-nodejs``, ``warm``.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from pytest_openwhisk.local.config import LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.isolation import bwrap_problem
from pytest_openwhisk.local.types import SUCCESS, ActionSpec, RunOutcome
from tests.local.invoker_helpers import request, spec

PY = "def main(args):\n    return {'ok': True}\n"
JS = "function main(args) { return {ok: true} }"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed; run 'bash .ci/setup'")
needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"{bwrap_problem()}")


def bench(kind: str, code: str) -> ActionSpec:
    """A trivial action of ``kind``."""
    return spec(code, "bench", kind, path=f"guest/bench-{kind.replace(':', '')}")


class Harness:
    """An invoker on a private event loop, driven synchronously for pytest-benchmark."""

    def __init__(self, isolation: str, prewarm: tuple[StemCell, ...] = ()) -> None:
        self.loop = asyncio.new_event_loop()
        self.invoker = Invoker(LocalConfig(pool=PoolConfig(prewarm=prewarm, isolation=isolation)))
        self.loop.run_until_complete(self.invoker.start())
        self.outcomes: list[RunOutcome] = []

    def run(self, action: ActionSpec) -> RunOutcome:
        """One activation, recorded."""
        outcome = self.loop.run_until_complete(self.invoker.run(request(action)))
        assert outcome.status_code == SUCCESS, outcome.result
        self.outcomes.append(outcome)
        return outcome

    def make_cold(self, action: ActionSpec) -> None:
        """Evict the action and wait until every stem cell answers (booted), so the next run is cold."""

        async def settle() -> None:
            await self.invoker.evict(path=action.path)
            for entry in list(self.invoker.pool.entries):
                if entry.state == "prewarm":
                    await entry.container.post("/run", b"{}", 10.0)  # refused before /init: proves it is up

        self.loop.run_until_complete(settle())

    def close(self) -> None:
        """Stop the invoker and the loop."""
        self.loop.run_until_complete(self.invoker.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def python_spawn_ms() -> float:
    """Median of a bare ``python -I -S -c pass`` spawn (the baseline every entry is compared with)."""
    samples = []
    for _ in range(15):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def record(benchmark: Any, baseline_ms: float, outcomes: list[RunOutcome] | None = None) -> None:
    """Put the ratio to the baseline (and init_ms stats) into ``extra_info``.

    Under ``--benchmark-disable`` each benchmark ran once as a smoke test (a failed start raises) and there
    are no figures to record."""
    if benchmark.disabled:
        return
    median_ms = benchmark.stats.stats.median * 1000
    benchmark.extra_info["python_spawn_baseline_ms"] = round(baseline_ms, 3)
    benchmark.extra_info["ratio_to_python_spawn"] = round(median_ms / baseline_ms, 3)
    inits = [o.init_ms for o in outcomes or () if o.init_ms is not None]
    if inits:
        benchmark.extra_info["init_ms_median"] = statistics.median(inits)
        benchmark.extra_info["init_ms_iqr"] = (
            statistics.quantiles(inits, n=4)[2] - statistics.quantiles(inits, n=4)[0]
        )


@pytest.fixture
def harness_factory() -> Iterator[Callable[..., Harness]]:
    """Harnesses created by a test, closed after it."""
    made: list[Harness] = []

    def make(isolation: str, prewarm: tuple[StemCell, ...] = ()) -> Harness:
        made.append(Harness(isolation, prewarm))
        return made[-1]

    yield make
    for harness in made:
        harness.close()


@pytest.mark.benchmark(group="spawn-baseline")
def test_baseline_python_spawn(benchmark: Any, python_spawn_ms: float) -> None:
    """Bare interpreter spawn, the floor of any cold start."""
    benchmark.pedantic(subprocess.run, args=([sys.executable, "-I", "-S", "-c", "pass"],), rounds=15)
    record(benchmark, python_spawn_ms)


@needs_node
@pytest.mark.benchmark(group="spawn-baseline")
def test_baseline_node_spawn(benchmark: Any, python_spawn_ms: float) -> None:
    """Bare ``node -e 0`` spawn, the floor of a Node.js cold start."""
    benchmark.pedantic(subprocess.run, args=([NODE or "node", "-e", "0"],), rounds=10)
    record(benchmark, python_spawn_ms)


def cold(benchmark: Any, harness: Harness, action: ActionSpec, baseline: float, *, prewarmed: bool) -> None:
    harness.run(action)  # warm up imports and caches once
    harness.outcomes.clear()
    benchmark.pedantic(harness.run, args=(action,), setup=lambda: harness.make_cold(action), rounds=12)
    assert all(o.init_ms is not None and o.prewarmed == prewarmed for o in harness.outcomes)
    record(benchmark, baseline, harness.outcomes)


@pytest.mark.parametrize("isolation", ["none", pytest.param("bwrap", marks=needs_bwrap)])
@pytest.mark.benchmark(group="cold-python")
def test_cold_python(
    benchmark: Any, harness_factory: Callable[..., Harness], python_spawn_ms: float, isolation: str
) -> None:
    """Cold start without a stem cell: spawn + interpreter start + /init + /run."""
    cold(benchmark, harness_factory(isolation), bench("python:3.11", PY), python_spawn_ms, prewarmed=False)


@pytest.mark.parametrize("isolation", ["none", pytest.param("bwrap", marks=needs_bwrap)])
@pytest.mark.benchmark(group="cold-python")
def test_prewarmed_python(
    benchmark: Any, harness_factory: Callable[..., Harness], python_spawn_ms: float, isolation: str
) -> None:
    """Cold start served by a booted stem cell: /init + /run only."""
    harness = harness_factory(isolation, (StemCell("python:3.11", 1, 256),))
    cold(benchmark, harness, bench("python:3.11", PY), python_spawn_ms, prewarmed=True)


@needs_node
@pytest.mark.benchmark(group="cold-nodejs")
def test_cold_nodejs(benchmark: Any, harness_factory: Callable[..., Harness], python_spawn_ms: float) -> None:
    """Node.js cold start without a stem cell."""
    cold(benchmark, harness_factory("none"), bench("nodejs:20", JS), python_spawn_ms, prewarmed=False)


@needs_node
@pytest.mark.benchmark(group="cold-nodejs")
def test_prewarmed_nodejs(
    benchmark: Any, harness_factory: Callable[..., Harness], python_spawn_ms: float
) -> None:
    """Node.js cold start served by a booted stem cell."""
    harness = harness_factory("none", (StemCell("nodejs:20", 1, 256),))
    cold(benchmark, harness, bench("nodejs:20", JS), python_spawn_ms, prewarmed=True)


@pytest.mark.parametrize("kind", ["python:3.11", pytest.param("nodejs:20", marks=needs_node)])
@pytest.mark.benchmark(group="warm")
def test_warm_run(
    benchmark: Any, harness_factory: Callable[..., Harness], python_spawn_ms: float, kind: str
) -> None:
    """Warm activation through the invoker (lease, /run over keep-alive HTTP, logs, release)."""
    harness = harness_factory("none")
    action = bench(kind, PY if kind.startswith("python") else JS)
    harness.run(action)
    harness.outcomes.clear()
    benchmark.pedantic(harness.run, args=(action,), rounds=300, warmup_rounds=20)
    assert all(o.init_ms is None for o in harness.outcomes[20:])
    record(benchmark, python_spawn_ms)


@pytest.mark.benchmark(group="warm")
def test_warm_hop_raw_http(
    benchmark: Any, harness_factory: Callable[..., Harness], python_spawn_ms: float
) -> None:
    """Just the keep-alive HTTP /run round trip to a warm Python runtime (no pool, no logs)."""
    harness = harness_factory("none")
    action = replace(bench("python:3.11", PY), path="guest/raw")
    outcome = harness.run(action)
    container = next(
        e.container for e in harness.invoker.pool.entries if e.container.id == outcome.container_id
    )
    body = b'{"value":{}}'

    def hop() -> None:
        harness.loop.run_until_complete(container.post("/run", body, 10.0))

    benchmark.pedantic(hop, rounds=300, warmup_rounds=20)
    record(benchmark, python_spawn_ms)
