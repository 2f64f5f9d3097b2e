"""Long function chains (ServerlessBench Testcase3): end-to-end latency vs length, sequence vs nested.

- ``sequence``: ``chain-step-python`` deployed N times in one OpenWhisk sequence (the controller chains).
- ``nested``: ``chain-nested-python`` invoking itself N levels deep through the REST API (each level
  holds a container while it waits; depth N needs N concurrent containers).

Every measured invocation's result is checked (``n == N`` / ``result == N``). The chaining overhead
per step is ``(wall span end-start - summed component durations) / N``: for a sequence the record's
``end - start - duration`` (OpenWhisk sums component durations into ``duration``); for a nested chain
the outer activation's span minus the time spent inside each level's own code (from the timestamps
the levels return).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, chain_overhead_per_step_ms, deploy, nested_own_ms
from pytest_openwhisk.samples import Sample, sample_from_record
from pytest_openwhisk.stats import percentile

LENGTHS = (1, 10, 50, 100)
ROUNDS = {1: 20, 10: 10, 50: 5, 100: 5}
NESTED_MEMORY_MB = 128
#: p95 targets: 3 x the worst p95 seen in two runs on the 2-core reference machine (docs/catalogue.md)
P95 = {
    ("sequence", 1): "50ms",
    ("sequence", 10): "100ms",
    ("sequence", 50): "250ms",
    ("sequence", 100): "650ms",
    ("nested", 1): "50ms",
    ("nested", 10): "400ms",
    ("nested", 50): "1.3s",
    ("nested", 100): "1.5s",
}


def _cases(chain: str) -> list[Any]:
    return [
        pytest.param(n, marks=pytest.mark.ow_slo(p95=P95[chain, n], error_rate="0%"), id=str(n))
        for n in LENGTHS
    ]


def _measure(
    ow_client: Any, action: Any, params: dict[str, Any], rounds: int, check: Any
) -> tuple[list[Sample], list[Any]]:
    """``rounds`` blocking invocations as Samples, each result passed to ``check``."""
    samples, results = [], []
    for _ in range(rounds):
        res = ow_client.invoke(action.name, params, blocking=True, check=False)
        record = res.record
        assert record is not None, f"{action.base_name}: no record (HTTP {res.http_status}): {res.body}"
        samples.append(
            sample_from_record(
                action.base_name,
                record,
                sent=res.sent,
                received=res.received,
                latency_ms=res.latency_ms,
                http_status=res.http_status,
                mode="warm",
            )
        )
        check(res.result)
        results.append(res.result)
    return samples, results


def _row(chain: str, length: int, samples: list[Sample], overheads: list[float]) -> dict[str, Any]:
    latencies = [s.latency_ms for s in samples]
    return {
        "chain": chain,
        "length": length,
        "rounds": len(samples),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
        "overhead_ms_per_step_p50": percentile(overheads, 50),
        "overhead_ms_per_step_p95": percentile(overheads, 95),
        "overhead_ms_per_step": [round(o, 3) for o in overheads],
    }


def _sequence_limit(ow_client: Any) -> int | None:
    limits = ow_client.info().get("limits") or {}
    value = limits.get("sequence_length")
    return int(value) if isinstance(value, int | float) else None


@pytest.mark.parametrize("length", _cases("sequence"))
def test_sequence_chain(
    length: int,
    catalog: dict[str, FunctionSpec],
    ow_action: Any,
    ow_client: Any,
    ow_bench: Any,
    chain_table: list[dict[str, Any]],
    attach_extra: Any,
) -> None:
    limit = _sequence_limit(ow_client)
    if limit is not None and length > limit:
        pytest.skip(
            f"a sequence of {length} actions exceeds this platform's limit of {limit} "
            "(actionsSequenceMaxlength); raise it in the Helm values to measure it"
        )
    step = deploy(ow_action, catalog["chain-step-python"])
    chain = ow_action.sequence(f"chain-seq-{length}", [step] * length)

    def check(result: dict[str, Any]) -> None:
        assert result["n"] == length
        assert len(result["startTimes"]) == len(result["retTimes"]) == length

    _measure(ow_client, chain, {"n": 0}, 1, check)  # warm-up: the step's container becomes warm
    samples, _ = _measure(ow_client, chain, {"n": 0}, ROUNDS[length], check)
    overheads = [
        chain_overhead_per_step_ms(s.end_ms - s.start_ms, s.duration_ms, length)
        for s in samples
        if s.end_ms is not None and s.start_ms is not None and s.duration_ms is not None
    ]
    measurement = ow_bench.record(f"sequence-{length}", samples, mode="warm", action=chain)
    row = _row("sequence", length, samples, overheads)
    attach_extra(measurement, "chain", row)
    chain_table.append(row)


@pytest.mark.parametrize("length", _cases("nested"))
def test_nested_chain(
    length: int,
    catalog: dict[str, FunctionSpec],
    ow_action: Any,
    ow_client: Any,
    ow_cluster: Any,
    ow_bench: Any,
    chain_table: list[dict[str, Any]],
    attach_extra: Any,
) -> None:
    pool_mb = (ow_cluster.fingerprint().get("pool") or {}).get("user_memory_mb")
    if isinstance(pool_mb, int) and length * NESTED_MEMORY_MB > pool_mb:
        pytest.skip(
            f"a nested chain of depth {length} holds {length} containers of {NESTED_MEMORY_MB} MB at "
            f"once ({length * NESTED_MEMORY_MB} MB) but the container pool has {pool_mb} MB; run with "
            f"--ow-user-memory={max(16384, length * NESTED_MEMORY_MB)} to measure it"
        )
    spec = catalog["chain-nested-python"]
    action = deploy(ow_action, spec, memory=NESTED_MEMORY_MB)
    params = {"n": length, "apihost": ow_cluster.apihost}

    def check(result: dict[str, Any]) -> None:
        spec.check(result, params)
        assert len(result["startTimes"]) == length

    _measure(ow_client, action, params, 1, check)  # warm-up: creates the `length` containers
    samples, results = _measure(ow_client, action, params, ROUNDS[length], check)
    overheads = [
        chain_overhead_per_step_ms(s.end_ms - s.start_ms, nested_own_ms(r), length)
        for s, r in zip(samples, results, strict=True)
        if s.end_ms is not None and s.start_ms is not None
    ]
    measurement = ow_bench.record(f"nested-{length}", samples, mode="warm", action=action)
    row = _row("nested", length, samples, overheads)
    attach_extra(measurement, "chain", row)
    chain_table.append(row)
