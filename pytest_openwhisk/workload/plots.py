"""Plots of a workload run (matplotlib, Agg backend): latency over time and latency CDFs, plus an HTML page.

``latency_over_time.png``: for every request, the time from its intended send to its completion (see
:func:`~pytest_openwhisk.workload.analyzer.completion_ms`) against its intended send time, one colour per
function, cold starts marked with an ``x``, errors and drops in red at the bottom. ``latency_cdf.png``:
per function, the CDF of that completion time (solid) and of the client latency (dashed).
``report.html`` embeds both (base64) with the per-function summary, so it is self-contained.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_openwhisk.measure.report import describe_energy
from pytest_openwhisk.workload.analyzer import Analysis, completion_ms
from pytest_openwhisk.workload.records import error_class


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # plots are an optional extra
        raise ImportError(
            "plots need matplotlib; install it with: pip install 'pytest-openwhisk[plots]'"
        ) from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def _figure(
    path: str | Path, size: tuple[float, float], *, title: str, xlabel: str, ylabel: str, legend: str
) -> Iterator[Any]:
    """An Axes to draw on; then labelled, gridded, given a legend at ``legend`` and saved to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size, dpi=100)
    yield ax
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc=legend)
    fig.tight_layout()
    fig.savefig(Path(path))
    plt.close(fig)


def latency_over_time(analysis: Analysis, path: str | Path) -> Path:
    """Scatter of latency from intended vs intended send time; cold starts marked. Returns ``path``."""
    with _figure(
        path,
        (10, 4.5),
        title=f"{analysis.workload.name}: latency over time",
        xlabel="intended send time (s from start)",
        ylabel="intended send → completion (ms)",
        legend="upper left",
    ) as ax:
        for action in analysis.workload.actions:
            samples, name = analysis.samples(action), analysis.name_of(action)
            ok = [s for s in samples if completion_ms(s) is not None and error_class(s) is None]
            xs = [(s.intended or s.sent) - analysis.started for s in ok]
            ys = [completion_ms(s) or 0.0 for s in ok]
            line = ax.scatter(xs, ys, s=6, alpha=0.6, label=name)
            cold = [s for s in ok if s.cold]
            if cold:
                ax.scatter(
                    [(s.intended or s.sent) - analysis.started for s in cold],
                    [completion_ms(s) or 0.0 for s in cold],
                    marker="x",
                    s=40,
                    color=line.get_facecolor()[0],
                    label=f"{name} (cold)",
                )
            bad = [s for s in samples if error_class(s) is not None]
            if bad:
                ax.scatter(
                    [(s.intended or s.sent) - analysis.started for s in bad],
                    [0.0] * len(bad),
                    marker="|",
                    s=60,
                    color="red",
                    label=f"{name} errors/dropped ({len(bad)})",
                )
    return Path(path)


def latency_cdf(analysis: Analysis, path: str | Path) -> Path:
    """CDF per function of latency from intended (solid) and client latency (dashed). Returns ``path``."""
    with _figure(
        path,
        (7, 4.5),
        title=f"{analysis.workload.name}: latency CDF",
        xlabel="latency (ms)",
        ylabel="fraction of requests",
        legend="lower right",
    ) as ax:
        for action in analysis.workload.actions:
            samples, name = analysis.samples(action), analysis.name_of(action)
            done = sorted(v for v in (completion_ms(s) for s in samples) if v is not None)
            client = sorted(s.latency_ms for s in samples if s.http_status)
            if not done:
                continue
            (line,) = ax.step(
                done,
                [(i + 1) / len(done) for i in range(len(done))],
                where="post",
                label=f"{name} (intended send → completion)",
            )
            ax.step(
                client,
                [(i + 1) / len(client) for i in range(len(client))],
                where="post",
                linestyle="--",
                color=line.get_color(),
                label=f"{name} (client latency)",
            )
        ax.set_ylim(0, 1.0)
    return Path(path)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def html_report(analysis: Analysis, images: list[Path], path: str | Path) -> Path:
    """A single self-contained HTML page: the summary table and the PNGs embedded as data URIs."""
    rows = []
    for action, st in analysis.functions.items():
        cells = [
            analysis.name_of(action),
            st["count"],
            st["ok"],
            st["errors"],
            st["dropped"],
            st["target_rps"],
            st["achieved_rps"],
            st["activation_throughput_rps"],
            st["completion_ms"]["all"]["p50"],
            st["completion_ms"]["all"]["p99"],
            st["execution_ms"]["all"]["p50"],
            st["cold_count"],
            st["cost"]["cpu_ms"]["p50"],
            st["cost"]["memory_mb"]["max"],
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells) + "</tr>")
    head = [
        "function",
        "count",
        "ok",
        "errors",
        "dropped",
        "target rps",
        "achieved rps",
        "activation throughput rps",
        "completion p50 ms",
        "completion p99 ms",
        "exec p50 ms",
        "cold",
        "CPU p50 ms",
        "memory max MB",
    ]
    imgs = "".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"/><figcaption>{html.escape(p.name)}</figcaption></figure>'
        for p in images
    )
    title = html.escape(f"workload {analysis.workload.name}")
    note = " (interrupted: partial results)" if analysis.interrupted else ""
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%}</style>"
        f"</head><body><h1>{title}{html.escape(note)}</h1>"
        f"<p>duration {analysis.workload.duration_s:g}s, seed {analysis.workload.seed}, "
        f"{len(analysis.records)} scheduled requests. "
        "Completion times in ms from the intended send time; "
        f"{html.escape(describe_energy(analysis.energy))}.</p>"
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
        f"{imgs}</body></html>"
    )
    target = Path(path)
    target.write_text(doc)
    return target


def write_plots(analysis: Analysis, directory: str | Path) -> dict[str, Path]:
    """Write both PNGs and ``report.html`` into ``directory``; returns their paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    over_time = latency_over_time(analysis, folder / "latency_over_time.png")
    cdf = latency_cdf(analysis, folder / "latency_cdf.png")
    report = html_report(analysis, [over_time, cdf], folder / "report.html")
    return {"latency_over_time": over_time, "latency_cdf": cdf, "html": report}
