"""Warm-path concurrency: C = 1, 4 and 16 closed-loop clients invoking one function together.

Actions are deployed with 128 MB so 16 containers fit the default 2048 MB pool (with 256 MB only 8
would, and the other clients would queue in the invoker's buffer). The output is checked once
before measuring; ``error_rate`` 0% then guarantees every measured invocation succeeded.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, deploy

CLIENTS = (1, 4, 16)
PER_CLIENT = {1: 40, 4: 20, 16: 10}
FUNCTIONS = ("echo-python", "primes-nodejs")
MEMORY_MB = 128
SLO = {  # p95: 3 x the worst p95 seen in two runs on the 2-core reference machine (docs/catalogue.md)
    ("echo-python", 1): "50ms",
    ("echo-python", 4): "60ms",
    ("echo-python", 16): "300ms",
    ("primes-nodejs", 1): "60ms",
    ("primes-nodejs", 4): "70ms",
    ("primes-nodejs", 16): "300ms",
}
CASES = [
    pytest.param(f, c, marks=pytest.mark.ow_slo(p95=SLO[f, c], error_rate="0%"), id=f"{f}-C{c}")
    for f in FUNCTIONS
    for c in CLIENTS
]


@pytest.mark.parametrize(("name", "clients"), CASES)
def test_concurrent_clients(
    name: str, clients: int, catalog: dict[str, FunctionSpec], ow_action: Any, ow_bench: Any
) -> None:
    spec = catalog[name]
    action = deploy(ow_action, spec, memory=MEMORY_MB)
    params = spec.sample_input()
    spec.check(action.result(params), params)
    measurement = ow_bench.concurrent(
        action, params, clients=clients, per_client=PER_CLIENT[clients], warmup=1
    )
    assert len(measurement.samples) == clients * PER_CLIENT[clients]
