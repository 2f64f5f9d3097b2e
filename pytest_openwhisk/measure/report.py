"""Terminal summary: one row per measurement (latency percentiles, cold starts, errors, SLO verdicts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_openwhisk.measure.runners import Measurement
from pytest_openwhisk.stats import latencies_ms, percentile

COLUMNS = ("test", "measurement", "mode", "samples", "p50 ms", "p95 ms", "p99 ms", "cold", "errors", "slo")
NUMERIC = {"samples", "p50 ms", "p95 ms", "p99 ms", "errors"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def slo_cell(measurement: Measurement) -> str:
    """``p99<=250ms PASS, error_rate<=1% FAIL`` for the measurement's verdicts (``-`` when none)."""
    if measurement.extra.get("interrupted"):
        return "interrupted: partial, SLOs not checked"
    if not measurement.slo:
        return "-"
    parts = []
    for v in measurement.slo:
        bound = ">=" if v.kind == "throughput" else "<="
        parts.append(f"{v.metric}{bound}{v.target} {'PASS' if v.ok else 'FAIL'} ({v.observed_text})")
    return ", ".join(parts)


def row(measurement: Measurement) -> tuple[str, ...]:
    """The table cells of one measurement, in :data:`COLUMNS` order."""
    samples = measurement.samples
    lat = latencies_ms(samples)
    cold = sum(1 for s in samples if s.cold)
    errors = sum(1 for s in samples if not s.ok)
    ratio = f"{cold / len(samples) * 100:.0f}%" if samples else "-"
    test = measurement.test or "-"
    return (
        test,
        measurement.name,
        measurement.mode,
        str(len(samples)),
        _ms(percentile(lat, 50)),
        _ms(percentile(lat, 95)),
        _ms(percentile(lat, 99)),
        f"{cold} ({ratio})",
        str(errors),
        slo_cell(measurement),
    )


def format_summary(measurements: Sequence[Measurement]) -> list[str]:
    """The summary table as lines (header, rule, one line per measurement); empty without measurements."""
    if not measurements:
        return []
    rows = [row(m) for m in measurements]
    widths = [max(len(r[i]) for r in (COLUMNS, *rows)) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for name, cell, width in zip(COLUMNS, cells, widths, strict=True):
            out.append(cell.rjust(width) if name in NUMERIC else cell.ljust(width))
        return "  ".join(out).rstrip()

    return [line(COLUMNS), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def terminal_summary(terminalreporter: Any, session: Any) -> None:
    """Write the ``openwhisk measurements`` section for every measurement of the session."""
    measurements = list(getattr(session, "measurements", []) or [])
    lines = format_summary(measurements)
    if not lines:
        return
    terminalreporter.write_sep("=", "openwhisk measurements")
    for text in lines:
        terminalreporter.write_line(text)
    failed = sum(1 for m in measurements for v in m.slo if not v.ok)
    if failed:
        terminalreporter.write_line(f"{failed} SLO target(s) missed", red=True, bold=True)
