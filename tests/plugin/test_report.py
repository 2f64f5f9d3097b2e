"""The terminal summary table of pytest_openwhisk.measure.report."""

from __future__ import annotations

from typing import Any

from pytest_openwhisk.measure import Measurement
from pytest_openwhisk.measure.report import energy_line, format_summary, slo_cell, terminal_summary
from pytest_openwhisk.samples import Sample
from pytest_openwhisk.slo import evaluate


def make(latency: float, *, ok: bool = True, cold: bool = False) -> Sample:
    """A synthetic sample."""
    return Sample(
        action="a",
        sent=0.0,
        received=latency / 1000,
        latency_ms=latency,
        http_status=200,
        status="success" if ok else "application error",
        init_ms=250.0 if cold else None,
        cold=cold,
    )


def measurement(name: str, mode: str, samples: list[Sample], **targets: str) -> Measurement:
    """A Measurement with the verdicts of ``targets``."""
    m = Measurement(
        name=name,
        mode=mode,
        action="hello",
        samples=samples,
        started=0,
        ended=1,
        test="tests/test_x.py::test_hello",
    )
    m.slo = evaluate(targets, samples)
    return m


class Recorder:
    """Captures what terminal_summary writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.markup: list[dict[str, Any]] = []

    def write_sep(self, sep: str, title: str = "", **markup: Any) -> None:
        self.lines.append(f"{sep * 3} {title} {sep * 3}")

    def write_line(self, line: str, **markup: Any) -> None:
        self.lines.append(line)
        self.markup.append(markup)


def test_rows_show_percentiles_cold_errors_and_verdicts() -> None:
    warm = measurement("warm", "warm", [make(float(i)) for i in range(1, 101)], p99="50ms", error_rate="1%")
    cold = measurement("cold", "cold", [make(300.0, cold=True), make(310.0, cold=True), make(5.0, ok=False)])
    header, rule, first, second = format_summary([warm, cold])
    assert header.split() == [
        "test",
        "measurement",
        "mode",
        "samples",
        "p50",
        "ms",
        "p95",
        "ms",
        "p99",
        "ms",
        "cpu",
        "ms",
        "MB",
        "cold",
        "errors",
        "slo",
    ]
    assert set(rule) == {"-", " "}
    assert first.split()[:10] == [
        "tests/test_x.py::test_hello",
        "warm",
        "warm",
        "100",
        "50.50",
        "95.05",
        "99.01",
        "-",
        "-",
        "0",
    ]
    assert "p99<=50ms FAIL (99.01ms), error_rate<=1% PASS (0.00%)" in first
    assert second.split()[:12] == [
        "tests/test_x.py::test_hello",
        "cold",
        "cold",
        "3",
        "300.00",
        "309.00",
        "309.80",
        "-",
        "-",
        "2",
        "(67%)",
        "1",
    ]
    assert second.endswith(" -")
    # columns line up: every row has the samples column ending at the same offset
    end = header.index("samples") + len("samples")
    assert first[end - 3 : end] == "100"
    assert second[end - 1 : end] == "3"


def test_throughput_verdict_reads_as_a_lower_bound() -> None:
    m = measurement("load", "open-loop", [make(1.0)], throughput="5/s")
    assert slo_cell(m).startswith("throughput>=5/s ")


def test_empty_measurement_shows_dashes() -> None:
    [_, _, line] = format_summary([measurement("none", "warm", [])])
    assert line.split()[3:10] == ["0", "-", "-", "-", "-", "-", "0"]


def test_terminal_summary_writes_a_section_and_counts_missed_targets() -> None:
    measurements = [measurement("warm", "warm", [make(10.0)], p50="1ms")]
    out = Recorder()
    why = "no /sys/class/powercap (no RAPL/powercap driver)"
    terminal_summary(out, measurements, {"energy": {"source": "none", "available": False, "why": why}})
    assert out.lines[0] == "=== openwhisk measurements ==="
    assert out.lines[1] == f"energy: unavailable ({why})"
    assert out.lines[-1] == "1 SLO target(s) missed"
    assert out.markup[-1] == {"red": True, "bold": True}


def test_terminal_summary_is_silent_without_measurements() -> None:
    out = Recorder()
    terminal_summary(out, [])
    assert out.lines == []


def test_cost_columns_show_cpu_p50_and_peak_memory() -> None:
    samples = [make(10.0), make(12.0), make(14.0)]
    for sample, (cpu, mb) in zip(samples, [(2.0, 30.0), (4.0, 45.5), (9.0, 31.0)], strict=True):
        sample.cpu_ms, sample.memory_mb = cpu, mb
    [_, _, line] = format_summary([measurement("warm", "warm", samples, cpu_ms_p50="5ms")])
    cells = line.split()
    assert cells[7:9] == ["4.00", "45.5"]  # cpu ms p50, MB max
    assert "cpu_ms_p50<=5ms PASS (4.00ms)" in line


def test_energy_line_says_where_from_or_why_not() -> None:
    assert energy_line({"energy": {"source": "rapl", "available": True, "why": ""}}) == "energy: rapl"
    assert energy_line(
        {"energy": {"source": "kepler", "available": False, "why": "kepler not installed"}}
    ) == ("energy: unavailable (kepler not installed)")
    assert energy_line(None) == "energy: unavailable (the backend reports no energy source)"
    assert (
        energy_line({"backend": "existing"}) == "energy: unavailable (the backend reports no energy source)"
    )
