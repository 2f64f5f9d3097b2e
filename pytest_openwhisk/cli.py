"""The ``pytest-openwhisk`` command.

``pytest-openwhisk compare BASE CURRENT [--gate p95:5%] [--html report.html]`` compares two saved
pytest-benchmark runs (JSON paths, ``latest``, ``latest~N`` or run ids under ``--storage``), prints the
verdict table and optionally writes the self-contained HTML report. Exit status: 0 passed (or no
``--gate``), 1 the gate failed, 2 bad arguments or unreadable runs, 3 fingerprints differ.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.regress import fingerprint, gate
from pytest_openwhisk.regress.html import write_report
from pytest_openwhisk.regress.load import Run, Storage, default_machine_id, load_run, merge_runs
from pytest_openwhisk.regress.settings import (
    parse_alpha,
    parse_correction,
    parse_resamples,
    parse_seed,
    parse_spec,
)
from pytest_openwhisk.regress.spec import DEFAULT_REPORT_SPEC, parse_gate
from pytest_openwhisk.regress.table import format_report

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_FINGERPRINT = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand per job)."""
    parser = argparse.ArgumentParser(prog="pytest-openwhisk", description="pytest-openwhisk tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="compare two saved benchmark runs with the statistical regression gate",
        description="Compare two pytest-benchmark runs: bootstrap CIs on percentile ratios, Mann-Whitney U, "
        "two-proportion tests for cold starts and errors.",
    )
    compare.add_argument(
        "base",
        metavar="BASE",
        help="baseline: JSON path, 'latest', 'latest~N' or run id; several joined by commas "
        "are pooled (e.g. runs alternated with CURRENT's)",
    )
    compare.add_argument("current", metavar="CURRENT", help="current run(s) (same forms as BASE)")
    compare.add_argument(
        "--gate",
        action="append",
        type=parse_spec,
        metavar="SPEC",
        help="fail (exit 1) on a significant regression beyond these thresholds, e.g. "
        "p95:5%%,error_rate:1%% (repeatable); without it the table uses "
        f"{DEFAULT_REPORT_SPEC.replace('%', '%%')} and the exit status is 0",
    )
    compare.add_argument("--html", type=Path, metavar="PATH", help="write the self-contained HTML report")
    compare.add_argument(
        "--storage",
        type=Path,
        default=Path(".benchmarks"),
        help="pytest-benchmark storage directory (default .benchmarks)",
    )
    compare.add_argument(
        "--machine-id",
        default=None,
        help="machine directory inside the storage (default: this interpreter's, e.g. "
        "Linux-CPython-3.11-64bit)",
    )
    compare.add_argument(
        "--alpha",
        type=parse_alpha,
        default=gate.DEFAULT_ALPHA,
        help=f"significance level (default {gate.DEFAULT_ALPHA})",
    )
    compare.add_argument(
        "--resamples",
        type=parse_resamples,
        default=gate.DEFAULT_RESAMPLES,
        help=f"bootstrap resamples (default {gate.DEFAULT_RESAMPLES})",
    )
    compare.add_argument(
        "--seed",
        type=parse_seed,
        default=gate.DEFAULT_SEED,
        help=f"bootstrap seed (default {gate.DEFAULT_SEED})",
    )
    compare.add_argument(
        "--correction",
        type=parse_correction,
        default=gate.DEFAULT_CORRECTION,
        metavar="|".join(gate.CORRECTIONS),
        help="multiple-comparison correction of the gated rows' p-values: holm (family-wise "
        "error rate), bh (Benjamini-Hochberg false discovery rate) or none (default)",
    )
    compare.add_argument(
        "--allow-fingerprint-mismatch",
        action="store_true",
        help="compare runs measured on different setups (warning instead of exit 3)",
    )
    compare.add_argument(
        "--no-trend", action="store_true", help="leave the trend over all saved runs out of the HTML report"
    )
    from pytest_openwhisk.kube.render import add_parser as add_render_parser

    add_render_parser(commands)
    from pytest_openwhisk.profiles.matrix import add_parser as add_matrix_parser

    add_matrix_parser(commands)
    return parser


def _trend(storage: Storage) -> list[Run]:
    runs = []
    for path in storage.runs():
        try:
            runs.append(load_run(path))
        except ConfigError as exc:
            print(f"warning: trend skips {path}: {exc}", file=sys.stderr)
    return runs


def compare(args: argparse.Namespace) -> int:
    """Run ``compare``; return the exit status."""
    storage = Storage(args.storage, args.machine_id or default_machine_id())
    try:
        bases = [storage.load(ref) for ref in args.base.split(",") if ref.strip()]
        currents = [storage.load(ref) for ref in args.current.split(",") if ref.strip()]
    except ConfigError as exc:
        print(f"pytest-openwhisk compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not bases or not currents:
        print("pytest-openwhisk compare: error: BASE and CURRENT each need at least one run", file=sys.stderr)
        return EXIT_USAGE
    differences: list[fingerprint.Difference] = []
    for run in (*bases[1:], *currents):
        found = fingerprint.diff(bases[0].fingerprint, run.fingerprint)
        differences += [d for d in found if d not in differences]
    base, current = merge_runs(bases), merge_runs(currents)
    if differences and not args.allow_fingerprint_mismatch:
        print(
            f"pytest-openwhisk compare: error: "
            f"{fingerprint.FingerprintMismatch(differences, base.label, current.label)}",
            file=sys.stderr,
        )
        return EXIT_FINGERPRINT
    rules = parse_gate(args.gate or [DEFAULT_REPORT_SPEC])
    report = gate.evaluate(
        base,
        current,
        rules,
        alpha=args.alpha,
        resamples=args.resamples,
        seed=args.seed,
        correction=args.correction,
        fingerprint_differences=differences,
    )
    print("\n".join(format_report(report)))
    if args.html is not None:
        write_report(report, args.html, trend=None if args.no_trend else _trend(storage))
        print(f"HTML report: {args.html}")
    if args.gate and not report.passed:
        return EXIT_REGRESSION
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pytest-openwhisk`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "compare":
        return compare(args)
    if args.command == "matrix":
        from pytest_openwhisk.profiles.matrix import matrix

        return matrix(args)
    if args.command == "render":
        from pytest_openwhisk.kube.render import run as render

        return render(args)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
