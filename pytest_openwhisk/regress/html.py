"""Self-contained HTML comparison report: verdict table, latency CDFs before/after, trend over saved runs.

The page has no external references (no CDN, no fonts, no scripts): charts are inline SVG, so it can
be archived as a CI artifact and opened offline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pytest_openwhisk.measure.report import energy_line
from pytest_openwhisk.regress import table
from pytest_openwhisk.regress.gate import FASTER, REGRESSION, SLOWER, GateReport
from pytest_openwhisk.regress.load import Benchmark, Run
from pytest_openwhisk.regress.svg import PALETTE, Series, line_chart

_MAX_POINTS = 300
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 8px} h2{font-size:18px;margin:28px 0 8px} h3{font-size:15px;margin:18px 0 6px}
.banner{padding:10px 14px;border-radius:6px;font-weight:bold;margin:10px 0}
.pass{background:#e6f4ea;color:#1e7e34} .fail{background:#fdecea;color:#b21f1f}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left} th{background:#f4f4f4}
tr.REGRESSION td{background:#fdecea} tr.slower td{background:#fff8e1} tr.faster td{background:#e8f5e9}
.charts{display:flex;flex-wrap:wrap;gap:12px} .meta{color:#555;font-size:13px}
"""


def cdf_points(values: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """Empirical CDF as step points, thinned to at most ~300 points (quantiles kept exactly)."""
    data = np.sort(values[np.isfinite(values)])
    n = data.size
    if n == 0:
        return [], []
    index = np.unique(np.linspace(0, n - 1, min(n, _MAX_POINTS)).round().astype(int))
    return [float(v) for v in data[index]], [float((i + 1) / n) for i in index]


def cdf_chart(
    name: str, base: Benchmark | None, current: Benchmark | None, base_label: str, current_label: str
) -> str:
    """Latency CDF of one benchmark, baseline vs current."""
    series = []
    for bench, label, color, dashed in (
        (base, base_label, PALETTE[0], True),
        (current, current_label, PALETTE[1], False),
    ):
        if bench is None:
            continue
        values = bench.series("latency_ms", ok_only=True)
        xs, ys = cdf_points(values)
        if xs:
            series.append(Series(f"{label} (n={values.size})", xs, ys, color=color, dashed=dashed))
    return line_chart(
        series,
        title=f"latency CDF: {name}",
        xlabel="client latency (ms)",
        ylabel="fraction of invocations",
        y_min=0.0,
        y_max=1.0,
    )


def trend_points(runs: Sequence[Run], name: str) -> tuple[list[str], list[float], list[float]]:
    """Per saved run: its label and the benchmark's p50 and p95 latency in ms (NaN when absent)."""
    labels, p50, p95 = [], [], []
    for run in runs:
        bench = run.benchmarks.get(name)
        labels.append(run.label.split("_", 1)[0])
        values = bench.series("latency_ms", ok_only=True) if bench else np.empty(0)
        if values.size:
            p50.append(float(np.quantile(values, 0.5)))
            p95.append(float(np.quantile(values, 0.95)))
        elif bench and isinstance(bench.summary.get("latency_ms"), dict):
            summary = bench.summary["latency_ms"]
            p50.append(float(summary.get("p50", np.nan)))
            p95.append(float(summary.get("p95", np.nan)))
        else:
            p50.append(np.nan)
            p95.append(np.nan)
    return labels, p50, p95


def trend_chart(runs: Sequence[Run], name: str) -> str:
    """p50 and p95 of one benchmark over all saved runs."""
    labels, p50, p95 = trend_points(runs, name)
    xs = [float(i) for i in range(len(labels))]
    series = [
        Series("p50", xs, p50, color=PALETTE[2], markers=True),
        Series("p95", xs, p95, color=PALETTE[3], markers=True),
    ]
    return line_chart(
        series,
        title=f"trend over saved runs: {name}",
        xlabel="saved run",
        ylabel="latency (ms)",
        x_labels=labels,
    )


def _table(report: GateReport) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header(report))
    body = []
    for row, cells in zip(report.comparisons, table.rows(report), strict=True):
        css = row.verdict if row.verdict in (REGRESSION, SLOWER, FASTER) else ""
        tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
        body.append(f'<tr class="{css}" title="{escape(row.reason)}">{tds}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(report: GateReport, trend: Sequence[Run] | None = None) -> str:
    """The whole HTML page as a string."""
    passed = report.passed
    banner = (
        "PASSED: no significant regression beyond the thresholds"
        if passed
        else f"FAILED: {len(report.failures)} regression(s)"
    )
    base_when = escape(str(report.base.datetime or "?"))
    current_when = escape(str(report.current.datetime or "?"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>pytest-openwhisk regression report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>pytest-openwhisk regression report</h1>",
        f'<p class="meta">baseline <b>{escape(report.base.label)}</b> ({base_when})'
        f" vs current <b>{escape(report.current.label)}</b> ({current_when}); "
        f"gate {escape(', '.join(str(r) for r in report.rules))}; alpha={report.alpha:g} "
        f"(intervals {100 * (1 - 2 * report.alpha):g}%), {report.resamples} bootstrap resamples, "
        f"seed {report.seed}; {escape(table.describe_correction(report))}; "
        f"generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"{escape(energy_line(report.current.fingerprint))}</p>",
        f'<div class="banner {"pass" if passed else "fail"}">{escape(banner)}</div>',
        _table(report),
    ]
    if report.failures:
        items = "".join(
            f"<li><b>{escape(r.benchmark)}</b> {escape(r.rule.metric if r.rule else '')}: "
            f"{escape(r.reason)}</li>"
            for r in report.failures
        )
        parts.append(f"<h2>Why the gate failed</h2><ul>{items}</ul>")
    if report.fingerprint_differences or report.warnings:
        items = "".join(
            f"<li>fingerprint differs: {escape(str(d))}</li>" for d in report.fingerprint_differences
        )
        items += "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
        parts.append(f"<h2>Warnings</h2><ul>{items}</ul>")
    parts.append("<h2>Benchmarks</h2>")
    for name in sorted(set(report.base.benchmarks) | set(report.current.benchmarks)):
        charts = [
            cdf_chart(
                name,
                report.base.benchmarks.get(name),
                report.current.benchmarks.get(name),
                report.base.label,
                report.current.label,
            )
        ]
        if trend and len(trend) > 1:
            charts.append(trend_chart(trend, name))
        parts.append(f'<h3>{escape(name)}</h3><div class="charts">{"".join(charts)}</div>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: GateReport, path: Path, trend: Sequence[Run] | None = None) -> Path:
    """Write :func:`render` to ``path`` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, trend), encoding="utf-8")
    return path
