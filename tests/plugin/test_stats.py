"""Unit tests of pytest_openwhisk.stats: percentiles and the ow_summary dict."""

from __future__ import annotations

import pytest

from pytest_openwhisk.samples import CLIENT_ERROR
from pytest_openwhisk.stats import (
    activation_throughput_rps,
    client_throughput_rps,
    cost,
    distribution,
    errors_by_status,
    field_values,
    latencies_ms,
    percentile,
    stdev,
    summarize,
)

from .factories import make


def test_percentile_linear_interpolation() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    # rank (n-1)*p = 3*0.9 = 2.7 -> 3 + 0.7*(4-3)
    assert percentile(values, 90) == pytest.approx(3.7)


def test_percentile_of_one_and_none() -> None:
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"percentile 101 is out of range.*0 to 100"):
        percentile([1.0], 101)


def test_stdev_is_sample_stdev() -> None:
    assert stdev([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == pytest.approx(2.138, abs=1e-3)
    assert stdev([3.0]) == 0.0
    assert stdev([]) is None


def test_connection_failures_do_not_count_as_latency() -> None:
    samples = [make(10), make(0.5, status=CLIENT_ERROR, http=0), make(30, status=CLIENT_ERROR, http=429)]
    assert latencies_ms(samples) == [10, 30]


def test_field_values_skip_missing_and_compute_server_and_overhead() -> None:
    samples = [make(20, duration=5, wait=2), make(30, duration=10, wait=None, init=300), make(5)]
    assert field_values(samples, "server") == [7, 10]
    assert field_values(samples, "overhead") == [15, 20]
    assert field_values(samples, "init") == [300]
    with pytest.raises(ValueError, match=r"unknown sample field 'gpu'; allowed: latency, server"):
        field_values(samples, "gpu")


def test_client_throughput_over_the_client_window() -> None:
    samples = [make(500, sent=0.0), make(500, sent=0.5), make(500, sent=1.5)]  # window 0 .. 2.0 s
    assert client_throughput_rps(samples) == pytest.approx(1.5)
    assert client_throughput_rps([]) is None
    refused = make(1, sent=5.0, status=CLIENT_ERROR, http=0)  # no response: not a completed invocation
    assert client_throughput_rps([*samples, refused]) == pytest.approx(1.5)


def test_activation_throughput_over_the_server_window() -> None:
    """FaaSProfiler's throughput: records per second between the first start and the last end."""
    samples = [make(500, sent=float(i)) for i in range(3)]
    for i, sample in enumerate(samples):
        sample.start_ms, sample.end_ms = 1_000 + 500 * i, 1_100 + 500 * i  # 1000 .. 2100 ms
    assert activation_throughput_rps(samples) == pytest.approx(3 / 1.1)
    assert activation_throughput_rps([make(5)]) is None  # no record times
    # the two differ: the client waited 500 ms per response, the server window is 1.1 s
    assert client_throughput_rps(samples) != activation_throughput_rps(samples)


def test_distribution_block() -> None:
    assert distribution([1.0, 2.0, 3.0, 4.0]) == {
        "count": 4,
        "min": 1.0,
        "p50": 2.5,
        "p90": pytest.approx(3.7),
        "p95": pytest.approx(3.85),
        "p99": pytest.approx(3.97),
        "max": 4.0,
        "mean": 2.5,
        "stdev": pytest.approx(1.2909944),
    }
    assert distribution([])["p50"] is None


def test_cost_reads_cpu_memory_and_energy_of_samples_that_carry_them() -> None:
    samples = [make(5), make(5), make(5)]
    samples[0].cpu_ms, samples[0].memory_mb = 10.0, 30.0
    samples[1].cpu_ms, samples[1].memory_mb, samples[1].energy_j = 20.0, 50.0, 0.5
    found = cost(samples)
    assert found["cpu_ms"]["count"] == 2
    assert found["cpu_ms"]["p50"] == 15.0
    assert found["memory_mb"]["max"] == 50.0
    assert found["energy_j"]["mean"] == 0.5
    assert cost([make(5)])["energy_j"]["count"] == 0


def test_errors_by_status_counts_failures_only() -> None:
    samples = [
        make(1),
        make(1, status="application error", http=502),
        make(1, status="application error", http=502),
        make(1, status=CLIENT_ERROR, http=0),
    ]
    assert errors_by_status(samples) == {"application error": 2, CLIENT_ERROR: 1}


def test_summary_has_the_documented_shape_and_values() -> None:
    samples = [make(10 * (i + 1), sent=i, duration=5, wait=1) for i in range(10)]
    samples[0] = make(400, sent=0, duration=350, wait=3, init=300)
    samples[9] = make(1, sent=9, status="application error", http=502, duration=1, wait=0)
    summary = summarize(samples)
    assert set(summary) == {
        "count",
        "errors",
        "error_rate",
        "cold_count",
        "cold_ratio",
        "client_throughput_rps",
        "activation_throughput_rps",
        "latency_ms",
        "server_ms",
        "breakdown",
        "cost",
        "errors_by_status",
    }
    assert summary["count"] == 10
    assert summary["errors"] == 1
    assert summary["error_rate"] == pytest.approx(0.1)
    assert summary["cold_count"] == 1
    assert summary["cold_ratio"] == pytest.approx(0.1)
    assert set(summary["latency_ms"]) == {"count", "min", "p50", "p90", "p95", "p99", "max", "mean", "stdev"}
    assert summary["latency_ms"]["min"] == 1
    assert summary["latency_ms"]["max"] == 400
    assert set(summary["server_ms"]) == {"p50", "p90", "p95", "p99"}
    assert set(summary["breakdown"]) == {"wait_ms", "init_ms", "duration_ms", "overhead_ms"}
    assert summary["breakdown"]["init_ms"] == {"p50": 300, "p95": 300}
    assert summary["errors_by_status"] == {"application error": 1}


def test_summary_of_nothing_is_all_none() -> None:
    summary = summarize([])
    assert summary["count"] == 0
    assert summary["error_rate"] is None
    assert summary["latency_ms"]["p50"] is None
    assert summary["client_throughput_rps"] is None
    assert summary["activation_throughput_rps"] is None
