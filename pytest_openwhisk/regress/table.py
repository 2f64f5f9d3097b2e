"""Plain-text rendering of a :class:`~pytest_openwhisk.regress.gate.GateReport` (terminal and CLI)."""

from __future__ import annotations

from pytest_openwhisk.measure.report import energy_line
from pytest_openwhisk.regress.gate import Comparison, GateReport
from pytest_openwhisk.regress.spec import GateRule

HEADER = (
    "benchmark",
    "metric",
    "baseline",
    "current",
    "change [CI]",
    "p",
    "adj p",
    "shift p",
    "n",
    "verdict",
)


def header(report: GateReport) -> tuple[str, ...]:
    """The column titles; ``adj p`` (the corrected p-value) only when the report used a correction."""
    if report.correction == "none":
        return tuple(h for h in HEADER if h != "adj p")
    return HEADER


def describe_correction(report: GateReport) -> str:
    """``"correction=holm (family-wise error rate; ...)"`` or ``"correction=none"``."""
    if report.correction == "none":
        return "correction=none"
    what = "family-wise error rate" if report.correction == "holm" else "false discovery rate"
    return f"correction={report.correction} ({what}; latency p from a normal approx. of the bootstrap)"


def _value(rule: GateRule | None, value: float | None) -> str:
    if value is None or rule is None:
        return "-"
    if rule.kind == "proportion":
        return f"{value * 100:.1f}%"
    return f"{value:.2f}{rule.unit}"


def format_change(row: Comparison) -> str:
    """The effect with its interval: ``+8.1% [+5.2%, +11.0%]``, ``+2.10ms [...]`` or ``+3.0pp [...]``."""
    rule = row.rule
    if rule is None or row.effect is None or row.low is None or row.high is None:
        return "-"
    if rule.kind == "proportion":
        return f"{row.effect * 100:+.1f}pp [{row.low * 100:+.1f}, {row.high * 100:+.1f}]"
    if rule.absolute:
        return f"{row.effect:+.2f}{rule.unit} [{row.low:+.2f}, {row.high:+.2f}]"
    return f"{(row.effect - 1) * 100:+.1f}% [{(row.low - 1) * 100:+.1f}%, {(row.high - 1) * 100:+.1f}%]"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def rows(report: GateReport) -> list[tuple[str, ...]]:
    """One tuple of cells per comparison (same order as :func:`header`)."""
    out: list[tuple[str, ...]] = []
    adjusted = report.correction != "none"
    for row in report.comparisons:
        metric = f"{row.rule.metric} ({row.rule.describe()})" if row.rule else "-"
        n = f"{row.n_base}/{row.n_current}" if row.n_base or row.n_current else "-"
        ps = (_p(row.p_value), _p(row.p_adjusted)) if adjusted else (_p(row.p_value),)
        out.append(
            (
                row.benchmark,
                metric,
                _value(row.rule, row.base),
                _value(row.rule, row.current),
                format_change(row),
                *ps,
                _p(row.shift_p),
                n,
                row.verdict,
            )
        )
    return out


def format_report(report: GateReport) -> list[str]:
    """The gate table plus the reasons of failing rows and the warnings, as lines."""
    titles = header(report)
    cells = [titles, *rows(report)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(titles))]
    lines = [
        f"baseline: {report.base.label}   current: {report.current.label}   "
        f"alpha={report.alpha:g} (intervals {100 * (1 - 2 * report.alpha):g}%)   bootstrap resamples="
        f"{report.resamples} seed={report.seed}   {describe_correction(report)}",
        "gate: " + ", ".join(str(rule) for rule in report.rules),
        "  ".join(h.ljust(w) for h, w in zip(titles, widths, strict=True)).rstrip(),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells[1:]]
    for row in report.failures:
        lines.append(f"FAILED {row.benchmark} {row.rule.metric if row.rule else ''}: {row.reason}")
    for diff in report.fingerprint_differences:
        lines.append(f"WARNING fingerprint differs: {diff}")
    lines += [f"WARNING {w}" for w in report.warnings]
    lines.append(energy_line(report.current.fingerprint))
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.failures)} regression(s))"
    lines.append(f"regression gate {verdict}")
    return lines
