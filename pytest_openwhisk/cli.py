"""The ``pytest-openwhisk`` command.

``pytest-openwhisk compare BASE CURRENT [--gate p95:5%] [--html report.html]`` compares two saved
pytest-benchmark runs (JSON paths, ``latest``, ``latest~N`` or run ids under ``--storage``), prints the
verdict table and optionally writes the self-contained HTML report. Exit status: 0 passed (or no
``--gate``), 1 the gate failed, 2 bad arguments or unreadable runs, 3 fingerprints differ.

``pytest-openwhisk suite [PYTEST_ARGS...]`` runs the benchmark suite shipped with the package
(``pytest --pyargs pytest_openwhisk.suite``), every argument passed to pytest; positional arguments name the
suite's modules or tests (``test_functions.py::test_warm[echo-python]``). Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

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
    add_suite_parser(commands)
    return parser


SUITE_PACKAGE = "pytest_openwhisk.suite"
SUITE_EPILOG = """\
Every argument goes to pytest unchanged: the plugin's options (--ow-cluster, --ow-apihost, --ow-auth, ...),
pytest-benchmark's (--benchmark-disable, --benchmark-autosave, ...), -k/-m selection, -q/-v.
Positional arguments name the suite's modules, optionally with ::test[id]; anything else is refused:
  {modules}

examples:
  pytest-openwhisk suite                              # embedded OpenWhisk, the whole suite
  pytest-openwhisk suite --benchmark-disable -q       # smoke run: each benchmark once, no timings
  pytest-openwhisk suite -k test_warm --ow-cluster=existing --ow-apihost=https://host --ow-auth=uuid:key
  pytest-openwhisk suite test_functions.py::test_cold[primes-python]
  pytest-openwhisk suite -- --help                    # pytest's own help: every option it takes

Exit status: pytest's (0 passed, 1 tests failed, 2 interrupted, 4 usage error, 5 nothing collected).
"""


def suite_modules() -> list[str]:
    """File names of the shipped suite's test modules (``test_functions.py``, ...); empty if it is absent."""
    spec = importlib.util.find_spec(SUITE_PACKAGE)
    if spec is None or spec.origin is None:
        return []
    return sorted(path.name for path in Path(spec.origin).parent.glob("test_*.py"))


def _suite_options() -> dict[str, Any]:
    return {
        "description": "Run the benchmark suite shipped with the package, from an installed wheel or a "
        "checkout: every catalogue function warm and cold, function chains and concurrency, with each "
        "function's SLOs (pytest --pyargs pytest_openwhisk.suite).",
        "epilog": SUITE_EPILOG.format(modules=", ".join(suite_modules()) or "none installed"),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
        "usage": "pytest-openwhisk suite [-h] [PYTEST_ARGS ...]",
    }


def add_suite_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``suite`` (pytest parses its arguments, see :func:`run_suite`; this parser gives the help)."""
    suite = commands.add_parser(
        "suite",
        help="run the benchmark suite shipped with the package (pytest --pyargs pytest_openwhisk.suite)",
        **_suite_options(),
    )
    suite.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARGS", help="arguments for pytest")


class SuiteSelection:
    """pytest plugin of ``suite``: positional arguments select modules/tests of the suite, nothing else.

    ``test_functions.py[::test[id]]``, ``test_functions`` and ``pytest_openwhisk.suite.test_functions`` all
    name the shipped module (wherever it is installed); without positional arguments the whole suite runs.
    """

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = list(modules)

    def resolve(self, arg: str) -> str:
        """``arg`` as a ``--pyargs`` module argument of the suite; UsageError when it names anything else."""
        head, sep, rest = arg.partition("::")
        stem = head.removeprefix(f"{SUITE_PACKAGE}.").removesuffix(".py")
        if head == SUITE_PACKAGE and not sep:
            return arg
        if f"{stem}.py" in self.modules:
            return f"{SUITE_PACKAGE}.{stem}{sep}{rest}"
        raise pytest.UsageError(
            f"pytest-openwhisk suite: {arg!r} is not part of the shipped suite; name one of its modules "
            f"({', '.join(self.modules)}), optionally with ::test[id] (e.g. "
            "test_functions.py::test_warm[echo-python]), or select tests with -k EXPR; to run other test "
            "files, call pytest on them directly"
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        """Replace the positional arguments by the suite's modules they name (before collection)."""
        args = list(config.args)
        if SUITE_PACKAGE in args:
            args.remove(SUITE_PACKAGE)
        if args:
            config.args[:] = [self.resolve(arg) for arg in args]


def run_suite(argv: Sequence[str]) -> int:
    """Run ``suite``: pytest on the shipped suite with ``argv``; returns pytest's exit status."""
    args = list(argv)
    if args[:1] in (["-h"], ["--help"]):
        helper = argparse.ArgumentParser(prog="pytest-openwhisk suite", **_suite_options())
        helper.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARGS", help="arguments for pytest")
        helper.print_help()
        return EXIT_OK
    if args[:1] == ["--"]:
        args = args[1:]
    modules = suite_modules()
    from pytest_openwhisk.catalog import DEFAULT_ROOT

    if not modules or not DEFAULT_ROOT.is_dir():
        print(
            f"pytest-openwhisk suite: error: this copy of pytest-openwhisk has no benchmark suite "
            f"({SUITE_PACKAGE}: {', '.join(modules) or 'no test modules'}) or no function catalogue "
            f"({DEFAULT_ROOT}); reinstall it from the wheel "
            "(pip install --force-reinstall pytest-openwhisk-*.whl)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(pytest.main(["--pyargs", SUITE_PACKAGE, *args], plugins=[SuiteSelection(modules)]))


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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["suite"]:  # pytest parses the rest (argparse would mistake its options for ours)
        return run_suite(argv[1:])
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
