"""What an invocation costs, everywhere a latency shows (issue 14 "metrics everywhere").

The one record parser reads the ``pytest-openwhisk/cost`` annotation into ``Sample.cpu_ms``,
``memory_mb`` and ``energy_j``; SLO targets, the pytest-benchmark ``extra_info``, the terminal table
and the energy line read them from there. The last test runs it all against the embedded backend.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_openwhisk.measure import Measurement
from pytest_openwhisk.measure.entries import extra_info
from pytest_openwhisk.samples import COST_ANNOTATION, Sample, sample_from_record
from pytest_openwhisk.slo import SloConfigError, evaluate, parse_target


def record(cost: dict[str, Any] | None) -> dict[str, Any]:
    """An activation record, with the cost annotation when ``cost`` is given."""
    annotations: list[dict[str, Any]] = [{"key": "waitTime", "value": 3}]
    if cost is not None:
        annotations.append({"key": COST_ANNOTATION, "value": cost})
    return {
        "activationId": "a" * 32, "start": 1_000, "end": 1_020, "duration": 20, "annotations": annotations,
        "response": {"status": "success", "success": True, "result": {}},
    }  # fmt: skip


def sample(cost: dict[str, Any] | None) -> Sample:
    return sample_from_record("f", record(cost), sent=1.0, received=1.03, latency_ms=30.0, http_status=200,
                              mode="warm")  # fmt: skip


def test_the_record_parser_reads_the_cost_annotation() -> None:
    s = sample({"cpu_ms": 12.5, "memory_peak_mb": 41.0, "memory_rss_mb": 39.0, "attribution": "exact",
                "energy_j": 0.25})  # fmt: skip
    assert (s.cpu_ms, s.memory_mb, s.energy_j) == (12.5, 41.0, 0.25)
    bare = sample(None)
    assert (bare.cpu_ms, bare.memory_mb, bare.energy_j) == (None, None, None)
    odd = sample({"cpu_ms": True, "memory_peak_mb": "41"})  # not numbers: unknown, never guessed
    assert (odd.cpu_ms, odd.memory_mb) == (None, None)


def test_cost_slo_targets_parse_in_their_units() -> None:
    assert parse_target("cpu_ms_p95", "50ms").value == 50.0
    assert parse_target("cpu_ms_p50", ".5s").value == 500.0
    assert (parse_target("memory_mb_max", "256MB").value, parse_target("memory_mb_max", "1.5GB").value) == (
        256.0, 1536.0,
    )  # fmt: skip
    assert parse_target("energy_j_mean", "500mJ").value == 0.5
    with pytest.raises(SloConfigError, match=r"memory_mb_max=256: a memory size needs a unit \(MB or GB\)"):
        parse_target("memory_mb_max", 256)
    with pytest.raises(SloConfigError, match=r"energy_j_mean='2': an energy needs a unit"):
        parse_target("energy_j_mean", "2")


def test_cost_slo_verdicts() -> None:
    samples = [sample({"cpu_ms": cpu, "memory_peak_mb": mb}) for cpu, mb in ((10, 30), (20, 50), (30, 40))]
    verdicts = {
        v.metric: v
        for v in evaluate(
            {"cpu_ms_p50": "25ms", "cpu_ms_p95": "25ms", "memory_mb_max": "48MB", "energy_j_mean": "1J"},
            samples,
        )
    }
    assert verdicts["cpu_ms_p50"].ok
    assert not verdicts["cpu_ms_p95"].ok
    assert (verdicts["memory_mb_max"].ok, verdicts["memory_mb_max"].observed_text) == (False, "50.0MB")
    assert verdicts["energy_j_mean"].observed is None  # this backend measured no energy: "no samples"
    assert not verdicts["energy_j_mean"].ok


def test_extra_info_carries_cost_columns_and_summary() -> None:
    samples = [sample({"cpu_ms": 4.0, "memory_peak_mb": 30.0}), sample(None)]
    m = Measurement(name="warm", mode="warm", action="f", samples=samples, started=1.0, ended=1.1)
    info = extra_info(m)
    assert info["ow_samples"]["cpu_ms"] == [4.0, None]
    assert info["ow_samples"]["memory_mb"] == [30.0, None]
    assert info["ow_samples"]["energy_j"] == [None, None]
    cost = info["ow_summary"]["cost"]
    assert (cost["cpu_ms"]["count"], cost["cpu_ms"]["p50"], cost["memory_mb"]["max"]) == (1, 4.0, 30.0)
    assert cost["energy_j"]["count"] == 0
    json.dumps(info)  # JSON-ready


LOCAL_TEST = """
import pytest

CODE = "def main(args):\\n    return {'n': sum(i * i for i in range(20000))}\\n"


@pytest.mark.ow_slo(cpu_ms_p95="5s", memory_mb_max="4GB")
def test_cost(ow_action, ow_bench):
    action = ow_action("spin", code=CODE, kind="python:3")
    m = ow_bench.warm(action, rounds=5, warmup=1)
    assert all(s.cpu_ms is not None and s.cpu_ms >= 0 for s in m.samples)
    assert all(s.memory_mb is not None and s.memory_mb > 1 for s in m.samples)
"""


def test_local_backend_reports_cost_everywhere(pytester: pytest.Pytester) -> None:
    """Embedded backend: cost in samples, SLOs, JSON, the table and the energy line (or why none)."""
    pytester.makepyfile(test_local=LOCAL_TEST)
    out = pytester.path / "out.json"
    result = pytester.runpytest("--ow-prewarm=none", "-p", "no:cacheprovider", f"--benchmark-json={out}")
    result.assert_outcomes(passed=1)
    doc = json.loads(out.read_text())
    [entry] = doc["benchmarks"]
    assert entry["extra_info"]["ow_summary"]["cost"]["cpu_ms"]["count"] == 5
    assert [v["metric"] for v in entry["extra_info"]["ow_slo"]] == ["cpu_ms_p95", "memory_mb_max"]
    energy = doc["machine_info"]["ow_fingerprint"]["energy"]
    assert set(energy) == {"source", "available", "why"}
    header = [line for line in result.outlines if line.startswith("test ") and "cpu ms" in line]
    assert header, "the measurements table has a cpu ms column"
    assert "MB" in header[0].split()
    if energy["available"]:
        result.stdout.fnmatch_lines([f"energy: {energy['source']}"])
    else:
        result.stdout.fnmatch_lines([f"energy: unavailable ({energy['why']})"])
