"""Terminal summary: one row per measurement (latency percentiles, cost, cold starts, errors, SLO verdicts).

The section starts with where energy figures come from, or why there are none
(``energy: unavailable (<why>)``), from the backend fingerprint's ``energy`` key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_openwhisk.measure.runners import Measurement
from pytest_openwhisk.stats import field_values, latencies_ms, percentile

COLUMNS = (
    "test", "measurement", "mode", "samples", "p50 ms", "p95 ms", "p99 ms", "cpu ms", "MB", "cold", "errors",
    "slo",
)  # fmt: skip
NUMERIC = {"samples", "p50 ms", "p95 ms", "p99 ms", "cpu ms", "MB", "errors"}
#: what the summary says when the backend's fingerprint has no ``energy`` entry
NO_ENERGY_SOURCE = "the backend reports no energy source"


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
    cpu, memory = field_values(samples, "cpu"), field_values(samples, "memory")
    test = measurement.test or "-"
    return (
        test,
        measurement.name,
        measurement.mode,
        str(len(samples)),
        _ms(percentile(lat, 50)),
        _ms(percentile(lat, 95)),
        _ms(percentile(lat, 99)),
        _ms(percentile(cpu, 50)),
        "-" if not memory else f"{max(memory):.1f}",
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


def energy_line(fingerprint: Mapping[str, Any] | None) -> str:
    """``energy: rapl`` where the backend measures energy, else ``energy: unavailable (<why>)``."""
    return describe_energy((fingerprint or {}).get("energy"))


def describe_energy(energy: object) -> str:
    """The energy line for a fingerprint's ``energy`` entry ``{"source", "available", "why"}`` (or None)."""
    if not isinstance(energy, Mapping):
        return f"energy: unavailable ({NO_ENERGY_SOURCE})"
    if energy.get("available"):
        return f"energy: {energy.get('source') or 'available'}"
    return f"energy: unavailable ({energy.get('why') or NO_ENERGY_SOURCE})"


def terminal_summary(
    terminalreporter: Any, measurements: Sequence[Measurement], fingerprint: Mapping[str, Any] | None = None
) -> None:
    """Write the ``openwhisk measurements`` section: the energy line, then one row per measurement.

    ``fingerprint`` is the backend's (None when no backend ran: then the energy line says so).
    """
    lines = format_summary(measurements)
    if not lines:
        return
    terminalreporter.write_sep("=", "openwhisk measurements")
    terminalreporter.write_line(energy_line(fingerprint))
    for text in lines:
        terminalreporter.write_line(text)
    failed = sum(1 for m in measurements for v in m.slo if not v.ok)
    if failed:
        terminalreporter.write_line(f"{failed} SLO target(s) missed", red=True, bold=True)
