"""Overhead and throughput of the embedded controller (pytest-benchmark).

Run: ``python -m pytest benchmarks/embedded/test_overhead.py`` (part of ``python -m pytest benchmarks``).

* ``echo-baseline``: round trip of a bare aiohttp echo endpoint (child process) from the same client.
* ``relay-floor``: aiohttp plus one hop to a warm Python runtime and back, no controller logic
  (``relay_server.py``): the floor an invoke cannot go below with a runtime in its own process.
* ``warm-invoke``: blocking invoke of a warm no-op Python action; ``extra_info`` holds the controller+invoker
  overhead = client latency - activation ``duration`` (p50/p99, target p50 <= 2 ms, p99 <= 10 ms).
* ``throughput``: bursts of warm blocking invokes from 16 concurrent clients (target >= 800/s), with the
  echo endpoint's rate under the same load as the baseline.

Targets are recorded (``extra_info.targets``/``ok``) and printed, not asserted: the figures depend on the
machine and on what else runs on it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


ROUNDS, WARMUP = 2000, 300
BURST, CLIENTS = 3000, 16
TARGETS = {"overhead_p50_ms": 2.0, "overhead_p99_ms": 10.0, "invocations_per_s": 800.0}


def test_echo_roundtrip(
    benchmark: Any, driver: Any, echo_target: Any, figures: dict[str, dict[str, Any]]
) -> None:
    benchmark.group = "embedded-overhead"
    latencies: list[float] = []

    def once() -> None:
        status, _ = driver.run(driver.post(echo_target))
        assert status == 200

    benchmark.pedantic(once, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: ran once as a smoke test, no statistics
        return
    latencies = [s * 1000 for s in benchmark.stats.stats.data]
    figures["echo-baseline"] = {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}
    benchmark.extra_info.update(figures["echo-baseline"])


def test_relay_roundtrip(
    benchmark: Any, driver: Any, relay_target: Any, figures: dict[str, dict[str, Any]]
) -> None:
    benchmark.group = "embedded-overhead"

    def once() -> None:
        status, _ = driver.run(driver.post(relay_target))
        assert status == 200

    benchmark.pedantic(once, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    if benchmark.disabled:
        return
    latencies = [s * 1000 for s in benchmark.stats.stats.data]
    result = {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}
    echo = figures.get("echo-baseline")
    if echo:
        result["x_echo_p50"] = result["p50_ms"] / echo["p50_ms"]
    figures["relay-floor"] = result
    benchmark.extra_info.update(result)


def test_warm_blocking_invoke(
    benchmark: Any, driver: Any, embedded_target: Any, figures: dict[str, dict[str, Any]]
) -> None:
    benchmark.group = "embedded-overhead"
    durations: list[int] = []

    def once() -> None:
        status, body = driver.run(driver.post(embedded_target))
        assert status == 200, body[:300]
        durations.append(orjson.loads(body)["duration"])

    benchmark.pedantic(once, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    if benchmark.disabled:
        return
    latencies = [s * 1000 for s in benchmark.stats.stats.data]
    measured = durations[-len(latencies) :]
    overhead = [lat - dur for lat, dur in zip(latencies, measured, strict=True)]
    result = {
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "duration_p50_ms": percentile([float(d) for d in measured], 50),
        "overhead_p50_ms": percentile(overhead, 50),
        "overhead_p99_ms": percentile(overhead, 99),
    }
    baseline = figures.get("echo-baseline")
    if baseline:
        result["latency_minus_echo_p50_ms"] = result["latency_p50_ms"] - baseline["p50_ms"]
        result["x_echo_p50"] = result["latency_p50_ms"] / baseline["p50_ms"]
    floor = figures.get("relay-floor")
    if floor:
        result["x_relay_p50"] = result["latency_p50_ms"] / floor["p50_ms"]
    result["ok"] = (
        result["overhead_p50_ms"] <= TARGETS["overhead_p50_ms"]
        and result["overhead_p99_ms"] <= TARGETS["overhead_p99_ms"]
    )
    figures["warm-invoke"] = result
    benchmark.extra_info.update(result)
    benchmark.extra_info["targets"] = {k: v for k, v in TARGETS.items() if k.startswith("overhead")}


@pytest.mark.parametrize("endpoint", ["echo", "relay", "invoke"])
def test_sustained_throughput_16_clients(
    benchmark: Any,
    driver: Any,
    echo_target: Any,
    relay_target: Any,
    embedded_target: Any,
    figures: dict[str, dict[str, Any]],
    endpoint: str,
) -> None:
    benchmark.group = "embedded-throughput"
    target = {"echo": echo_target, "relay": relay_target, "invoke": embedded_target}[endpoint]
    driver.burst(target, 500, CLIENTS)  # warm every container the clients will use
    rates: list[float] = []

    def burst() -> None:
        seconds, statuses = driver.burst(target, BURST, CLIENTS)
        assert statuses.count(200) == BURST, {s: statuses.count(s) for s in set(statuses)}
        rates.append(BURST / seconds)

    benchmark.pedantic(burst, rounds=3, iterations=1)
    if benchmark.disabled:
        return
    result: dict[str, Any] = {
        "per_s_median": sorted(rates)[1],
        "per_s_best": max(rates),
        "clients": CLIENTS,
        "burst": BURST,
    }
    echo = figures.get("throughput-echo")
    if echo and endpoint != "echo":
        result["x_echo"] = result["per_s_median"] / echo["per_s_median"]
    if endpoint == "invoke":
        result["ok"] = result["per_s_median"] >= TARGETS["invocations_per_s"]
        benchmark.extra_info["targets"] = {"invocations_per_s": TARGETS["invocations_per_s"]}
    figures[f"throughput-{endpoint}"] = result
    benchmark.extra_info.update(result)
