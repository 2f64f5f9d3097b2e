"""``pytest-openwhisk matrix``: the same tests once per profile per round, alternated, then compared.

``pytest-openwhisk matrix --profile A --profile B [--rounds N] -- <pytest args>`` runs
``python -m pytest <pytest args> --ow-profile=P --benchmark-json=<out>/rR-P.json`` for R = 1..N and P in
the given order (A B A B ...), each in its own process, so the backend is started (embedded server) or
reinstalled with the profile's values (kind/existing) between profiles and slow drift of the machine
hits every profile alike. Each profile's rounds are pooled and every other profile is compared with the
first by the regression gate's statistics (:func:`pytest_openwhisk.regress.gate.evaluate`): a terminal
table (profiles x benchmark x metric, change with its interval, verdict) and, with ``--html``, the gate's
HTML report with both latency CDFs. Exit status: 0, or 1 when an asked-for ``--gate`` fails, 2 when the
arguments, a profile or a run are unusable, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.profiles.apply import check_backend
from pytest_openwhisk.profiles.model import Profile, load_profile
from pytest_openwhisk.regress import fingerprint, gate, table
from pytest_openwhisk.regress.html import write_report
from pytest_openwhisk.regress.load import Run, load_run, merge_runs
from pytest_openwhisk.regress.settings import (
    parse_alpha,
    parse_correction,
    parse_resamples,
    parse_seed,
    parse_spec,
)
from pytest_openwhisk.regress.spec import DEFAULT_REPORT_SPEC, parse_gate

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: pytest exit codes after which a run still has results to compare (0 passed, 1 some tests failed)
_USABLE = (0, 1)
_MANAGED = ("--ow-profile", "--benchmark-json")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``matrix`` subcommand to ``commands`` (an argparse subparsers object) and return it."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "matrix",
        help="run the same tests under several deployment profiles and compare them",
        description="Run pytest once per profile per round (A B A B ...), each run in a fresh process with "
        "--ow-profile and --benchmark-json, then compare every benchmark of each profile with the "
        "first profile using the regression gate's statistics.",
        epilog="example: pytest-openwhisk matrix --profile no-prewarm --profile stem-cells --rounds 4 -- "
        "benchmarks/test_functions.py -k 'test_cold and echo'",
    )
    parser.add_argument(
        "--profile",
        action="append",
        required=True,
        metavar="NAME|PATH",
        help="a profile (ours: helm/profiles/<name>.yaml, or a YAML path); give two or more, the "
        "first is the baseline",
    )
    parser.add_argument(
        "--rounds", type=_positive, default=2, metavar="N", help="runs per profile, alternated (default 2)"
    )
    parser.add_argument(
        "--metrics",
        type=parse_spec,
        default=DEFAULT_REPORT_SPEC,
        metavar="SPEC",
        help=f"metrics of the table when no --gate is given (default "
        f"{DEFAULT_REPORT_SPEC.replace('%', '%%')})",
    )
    parser.add_argument(
        "--gate",
        action="append",
        type=parse_spec,
        metavar="SPEC",
        help="fail (exit 1) when a profile is significantly worse than the first beyond these "
        "thresholds, e.g. p95:5%% (repeatable)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="write the HTML report (with several profiles: PATH-<profile>.html per comparison)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for the runs' JSON and logs (default .ow-results/matrix/<UTC time>)",
    )
    statistics = (  # the regression gate's statistics options, as in `pytest-openwhisk compare`
        ("--alpha", parse_alpha, gate.DEFAULT_ALPHA, "significance level"),
        ("--resamples", parse_resamples, gate.DEFAULT_RESAMPLES, "bootstrap resamples"),
        ("--seed", parse_seed, gate.DEFAULT_SEED, "bootstrap seed"),
        (
            "--correction",
            parse_correction,
            gate.DEFAULT_CORRECTION,
            f"multiple-comparison correction: {', '.join(gate.CORRECTIONS)}",
        ),
    )
    for flag, parse, default, what in statistics:
        parser.add_argument(flag, type=parse, default=default, help=f"{what} (default {default})")
    parser.add_argument(
        "--min-samples",
        type=_positive,
        default=gate.DEFAULT_MIN_SAMPLES,
        metavar="N",
        help=f"successful samples each profile needs per benchmark (default "
        f"{gate.DEFAULT_MIN_SAMPLES}; pooled over the rounds)",
    )
    parser.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        metavar="-- PYTEST_ARGS",
        help="what to run, after --, e.g. -- benchmarks -k cold",
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}; use a whole number >= 1, e.g. 4")
    return value


@dataclass
class RunRecord:
    """One pytest process of the matrix."""

    round: int
    profile: str
    json_path: Path
    log_path: Path
    exit_code: int | None = None
    seconds: float = 0.0


@dataclass
class Outcome:
    """Everything the command did, for the summary file and tests."""

    out: Path
    runs: list[RunRecord] = field(default_factory=list)
    reports: list[gate.GateReport] = field(default_factory=list)
    exit_code: int = EXIT_OK


def _cluster(pytest_args: Sequence[str], env: dict[str, str]) -> str:
    """The ``--ow-cluster`` the runs will use (last one on the command line, else OW_CLUSTER, else local)."""
    found = env.get("OW_CLUSTER") or "local"
    args = list(pytest_args)
    for index, arg in enumerate(args):
        if arg.startswith("--ow-cluster="):
            found = arg.split("=", 1)[1]
        elif arg == "--ow-cluster" and index + 1 < len(args):
            found = args[index + 1]
    return found


def _usage(message: str) -> int:
    print(f"pytest-openwhisk matrix: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in text[-lines:])


def _run_one(record: RunRecord, ref: str, pytest_args: Sequence[str], env: dict[str, str]) -> None:
    """Run pytest for one profile; its output goes to ``record.log_path``."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        *pytest_args,
        f"--ow-profile={ref}",
        f"--benchmark-json={record.json_path}",
    ]
    started = time.monotonic()
    with record.log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            record.exit_code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        finally:
            record.seconds = time.monotonic() - started


def _short(name: str) -> str:
    """A benchmark's fullname without its file path (``test_cold[echo-python]``)."""
    return name.split("::", 1)[1] if "::" in name else name


def format_table(reports: Sequence[tuple[str, gate.GateReport]]) -> list[str]:
    """One table over every comparison: ``profiles`` then the gate table's columns."""
    if not reports:
        return []
    titles = ("profiles", *table.header(reports[0][1]))
    cells: list[tuple[str, ...]] = [titles]
    for label, report in reports:
        for row in table.rows(report):
            cells.append((label, _short(row[0]), *row[1:]))
    widths = [max(len(line[i]) for line in cells) for i in range(len(titles))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]


def _pooled(profile: Profile, runs: list[Run]) -> tuple[Run, list[str]]:
    """The profile's rounds pooled into one run labelled with its name; warnings on differing fingerprints."""
    warnings = []
    for run in runs[1:]:
        for diff in fingerprint.diff(runs[0].fingerprint, run.fingerprint):
            warnings.append(f"profile {profile.name}: rounds differ in {diff}")
    merged = merge_runs(runs)
    return replace(merged, label=profile.name), warnings


def _html_path(base: Path, other: str, many: bool) -> Path:
    return base.with_name(f"{base.stem}-{other}{base.suffix or '.html'}") if many else base


def _summary(outcome: Outcome, profiles: Sequence[Profile]) -> dict[str, Any]:
    rows = []
    for report in outcome.reports:
        for row in report.comparisons:
            rows.append(
                {
                    "baseline": report.base.label,
                    "profile": report.current.label,
                    "benchmark": row.benchmark,
                    "metric": row.rule.metric if row.rule else None,
                    "base": row.base,
                    "current": row.current,
                    "effect": row.effect,
                    "low": row.low,
                    "high": row.high,
                    "p": row.p_value,
                    "n": [row.n_base, row.n_current],
                    "verdict": row.verdict,
                }
            )
    return {
        "profiles": [p.fingerprint() for p in profiles],
        "runs": [
            {
                "round": r.round,
                "profile": r.profile,
                "json": r.json_path.name,
                "log": r.log_path.name,
                "exit_code": r.exit_code,
                "seconds": round(r.seconds, 2),
            }
            for r in outcome.runs
        ],
        "comparisons": rows,
        "exit_code": outcome.exit_code,
    }


def run_matrix(args: argparse.Namespace, env: dict[str, str] | None = None) -> Outcome | int:
    """Do the work of ``matrix``; an int is an early exit status (usage errors are printed)."""
    env = dict(os.environ if env is None else env)
    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    for arg in pytest_args:
        for managed in _MANAGED:
            if arg == managed or arg.startswith(managed + "="):
                return _usage(
                    f"{managed} is set by matrix for every run; remove {arg!r} from the pytest arguments"
                )
        if arg in ("-n", "--numprocesses") or arg.startswith(("--numprocesses=", "-n=")):
            return _usage(f"{arg!r}: matrix compares runs measured one at a time; drop -n")
    if len(args.profile) < 2:
        return _usage(
            f"give at least two profiles to compare (got {args.profile!r}), e.g. --profile "
            "no-prewarm --profile stem-cells"
        )
    cluster = _cluster(pytest_args, env)
    profiles: list[Profile] = []
    for ref in args.profile:
        try:
            profile = load_profile(ref)
            check_backend(profile, cluster)
        except ConfigError as exc:
            return _usage(str(exc))
        if any(p.name == profile.name for p in profiles):
            return _usage(
                f"profile {profile.name!r} is given twice; give each profile once (use --rounds "
                "for more runs)"
            )
        profiles.append(profile)
    refs = {p.name: str(p.origin) for p in profiles}
    out = args.out or Path(".ow-results", "matrix", dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S"))
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(out=out)
    total = args.rounds * len(profiles)
    print(
        f"matrix: {len(profiles)} profiles x {args.rounds} rounds = {total} pytest runs on {cluster}, "
        f"results in {out}"
    )
    for profile in profiles:
        print(f"matrix:   {profile.describe()}")
    interrupted = False
    try:
        for round_no in range(1, args.rounds + 1):
            for profile in profiles:
                record = RunRecord(
                    round_no,
                    profile.name,
                    out / f"r{round_no}-{profile.name}.json",
                    out / f"r{round_no}-{profile.name}.log",
                )
                outcome.runs.append(record)
                _run_one(record, refs[profile.name], pytest_args, env)
                print(
                    f"matrix: round {round_no}/{args.rounds} {profile.name}: pytest exit {record.exit_code} "
                    f"in {record.seconds:.1f}s (log {record.log_path.name})",
                    flush=True,
                )
                if record.exit_code not in _USABLE or not record.json_path.is_file():
                    print(
                        f"pytest-openwhisk matrix: error: the run of profile {profile.name!r} ended "
                        f"with exit status {record.exit_code} and no results; its last lines:\n"
                        f"{_tail(record.log_path)}\nFix what they name (a knob: change the profile "
                        f"{refs[profile.name]}) and run matrix again",
                        file=sys.stderr,
                    )
                    outcome.exit_code = EXIT_USAGE
                    return outcome
                if record.exit_code == 1:
                    print(
                        f"matrix: note: some tests failed under {profile.name} (see {record.log_path.name}); "
                        "their measurements are compared anyway"
                    )
    except KeyboardInterrupt:
        interrupted = True
        print("matrix: interrupted; comparing the completed runs", file=sys.stderr)
    _compare(args, profiles, outcome)
    if interrupted:
        outcome.exit_code = EXIT_INTERRUPTED
    (out / "matrix.json").write_text(
        json.dumps(_summary(outcome, profiles), indent=2, default=str), encoding="utf-8"
    )
    return outcome


def _compare(args: argparse.Namespace, profiles: Sequence[Profile], outcome: Outcome) -> None:
    pooled: dict[str, Run] = {}
    warnings: list[str] = []
    for profile in profiles:
        runs = [
            load_run(r.json_path, label=f"r{r.round}-{r.profile}")
            for r in outcome.runs
            if r.profile == profile.name and r.exit_code in _USABLE and r.json_path.is_file()
        ]
        if runs:
            pooled[profile.name], found = _pooled(profile, runs)
            warnings += found
    base_name = profiles[0].name
    if base_name not in pooled:
        print(f"matrix: no completed run of the baseline profile {base_name!r}; nothing to compare")
        return
    rules = parse_gate(args.gate or [args.metrics])
    labelled: list[tuple[str, gate.GateReport]] = []
    for profile in profiles[1:]:
        if profile.name not in pooled:
            continue
        base, current = pooled[base_name], pooled[profile.name]
        setup = fingerprint.diff(base.fingerprint, current.fingerprint)
        report = gate.evaluate(
            base,
            current,
            rules,
            alpha=args.alpha,
            resamples=args.resamples,
            seed=args.seed,
            min_samples=args.min_samples,
            correction=args.correction,
            fingerprint_differences=setup,
        )
        outcome.reports.append(report)
        labelled.append((f"{base_name} -> {profile.name}", report))
    first = outcome.reports[0] if outcome.reports else None
    if first is not None:
        runs_per = {
            p.name: sum(1 for r in outcome.runs if r.profile == p.name and r.exit_code in _USABLE)
            for p in profiles
        }
        print(
            f"matrix: baseline {base_name}; rounds pooled per profile "
            f"({', '.join(f'{k}: {v}' for k, v in runs_per.items())}); alpha={args.alpha:g} (intervals "
            f"{100 * (1 - 2 * args.alpha):g}%), {args.resamples} resamples, seed {args.seed}, "
            f"{table.describe_correction(first)}"
        )
        print(
            "matrix: metrics "
            + ", ".join(str(rule) for rule in rules)
            + (
                " (gate)"
                if args.gate
                else " (report only: REGRESSION marks a significant change beyond the "
                "threshold; add --gate to fail on it)"
            )
        )
    for line in format_table(labelled):
        print(line)
    for label, report in labelled:
        for diff in report.fingerprint_differences:
            print(f"matrix: {label}: setup differs (expected): {diff}")
        for row in report.failures if args.gate else ():
            print(
                f"FAILED {label} {_short(row.benchmark)} {row.rule.metric if row.rule else ''}: {row.reason}"
            )
    for warning in warnings:
        print(f"matrix: WARNING {warning}")
    if args.html is not None:
        many = len(outcome.reports) > 1
        for report in outcome.reports:
            path = write_report(report, _html_path(args.html, report.current.label, many))
            print(f"matrix: HTML report {path}")
    if args.gate:
        failed = [r.current.label for r in outcome.reports if not r.passed]
        print("matrix: gate " + (f"FAILED for {', '.join(failed)}" if failed else "PASSED"))
        if failed:
            outcome.exit_code = EXIT_GATE


def matrix(args: argparse.Namespace) -> int:
    """Run ``matrix`` and return the exit status."""
    result = run_matrix(args)
    return result if isinstance(result, int) else result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_openwhisk.profiles.matrix`` (same as ``pytest-openwhisk matrix``)."""
    parser = argparse.ArgumentParser(prog="pytest-openwhisk")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser(commands)
    args = parser.parse_args(["matrix", *(argv if argv is not None else sys.argv[1:])])
    return matrix(args)


if __name__ == "__main__":
    sys.exit(main())
