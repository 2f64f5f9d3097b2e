"""``pytest-openwhisk matrix``: argument checks, alternation, pooling, comparison table, HTML, exit status.

The runs are replaced by a fake that writes pytest-benchmark JSON (``_run_one``); the end-to-end test with
real pytest processes is in ``test_matrix_e2e.py``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pytest_openwhisk.profiles import load_profile, matrix
from pytest_openwhisk.profiles.matrix import EXIT_GATE, EXIT_OK, EXIT_USAGE, Outcome, RunRecord, add_parser


def parse(*argv: str) -> argparse.Namespace:
    """The ``matrix`` arguments as the CLI parses them."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["matrix", *argv])


def bench_json(path: Path, profile: str, latencies: dict[str, list[float]], cold: float = 0.0) -> None:
    """A pytest-benchmark JSON file of our plugin with raw samples per benchmark."""
    benchmarks = []
    for name, values in latencies.items():
        n = len(values)
        benchmarks.append(
            {
                "name": name,
                "fullname": f"tests/t.py::{name}",
                "group": None,
                "stats": {"data": [v / 1000 for v in values]},
                "extra_info": {
                    "ow_samples": {
                        "latency_ms": values,
                        "cold": [1 if i < cold * n else 0 for i in range(n)],
                        "error": [0] * n,
                    }
                },
            }
        )
    info = {"node": "local", "ow_fingerprint": {"backend": "local", "profile": {"name": profile}}}
    path.write_text(json.dumps({"machine_info": info, "benchmarks": benchmarks, "datetime": "2026-12-01"}))


def fake_runs(
    slowdown: dict[str, float], cold: dict[str, float] | None = None, exit_code: int = 0
) -> tuple[list[tuple[int, str, list[str]]], Callable[..., None]]:
    """A ``_run_one`` replacement writing 30 samples per benchmark; the calls it saw."""
    calls: list[tuple[int, str, list[str]]] = []

    def run(record: RunRecord, ref: str, pytest_args: list[str], env: dict[str, str]) -> None:
        calls.append((record.round, record.profile, [*pytest_args, f"--ow-profile={ref}"]))
        rng = np.random.default_rng(record.round * 7 + len(record.profile))
        factor = slowdown.get(record.profile, 1.0)
        values = [float(v) * factor for v in rng.normal(50.0, 2.0, 30)]
        record.log_path.write_text("collected 2 items\n")
        if exit_code in (0, 1):
            bench_json(
                record.json_path,
                record.profile,
                {"test_cold[echo]": values, "test_warm[echo]": values},
                cold=(cold or {}).get(record.profile, 0.0),
            )
        record.exit_code = exit_code

    return calls, run


def test_profiles_alternate_and_each_run_gets_its_profile_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, run = fake_runs({})
    monkeypatch.setattr(matrix, "_run_one", run)
    outcome = matrix.run_matrix(
        parse(
            *"--profile no-prewarm --profile stem-cells --rounds 2 --out".split(),
            str(tmp_path),
            "--",
            *"benchmarks -k cold".split(),
        )
    )
    assert isinstance(outcome, Outcome)
    assert [(r, p) for r, p, _ in calls] == [
        (1, "no-prewarm"),
        (1, "stem-cells"),
        (2, "no-prewarm"),
        (2, "stem-cells"),
    ]
    assert calls[0][2][:3] == ["benchmarks", "-k", "cold"]
    assert calls[1][2][-1] == f"--ow-profile={load_profile('stem-cells').origin}"
    assert sorted(p.name for p in tmp_path.glob("r*.json")) == [
        "r1-no-prewarm.json",
        "r1-stem-cells.json",
        "r2-no-prewarm.json",
        "r2-stem-cells.json",
    ]
    assert outcome.exit_code == EXIT_OK
    report = outcome.reports[0]
    assert (report.base.label, report.current.label) == ("no-prewarm", "stem-cells")
    assert {row.n_base for row in report.comparisons if row.rule} == {60}  # 2 rounds x 30 pooled


def test_table_verdicts_html_summary_and_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run = fake_runs({"idle-15s": 1.5}, cold={"idle-15s": 1.0, "idle-10m": 0.2})
    monkeypatch.setattr(matrix, "_run_one", run)
    html = tmp_path / "report.html"
    code = matrix.matrix(
        parse(
            *"--profile idle-10m --profile idle-15s --rounds 2 --metrics p50:5%,cold_ratio:2% --html".split(),
            str(html),
            *"--out".split(),
            str(tmp_path / "out"),
            "--",
            *"t.py".split(),
        )
    )
    out = capsys.readouterr().out
    assert code == EXIT_OK  # no --gate: a report only
    header = next(line for line in out.splitlines() if line.startswith("profiles"))
    assert header.split()[:4] == ["profiles", "benchmark", "metric", "baseline"]
    rows = [line for line in out.splitlines() if line.startswith("idle-10m -> idle-15s")]
    assert len(rows) == 4  # 2 benchmarks x 2 metrics
    assert any(
        "test_cold[echo]" in r and "p50 (+5%)" in r and "+50.0%" in r and r.endswith("REGRESSION")
        for r in rows
    )
    assert any("cold_ratio" in r and "20.0%" in r and "100.0%" in r for r in rows)
    assert 'setup differs (expected): profile.name: "idle-10m" -> "idle-15s"' in out
    page = html.read_text()
    assert "latency CDF: tests/t.py::test_cold[echo]" in page
    assert "idle-10m (n=60)" in page
    assert "idle-15s (n=60)" in page
    summary = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert [r["profile"] for r in summary["runs"]] == ["idle-10m", "idle-15s"] * 2
    assert {r["verdict"] for r in summary["comparisons"]} >= {"REGRESSION"}
    assert summary["profiles"][1]["knobs"] == {"idle_timeout": 15.0}
    gated = matrix.matrix(
        parse(
            *"--profile idle-10m --profile idle-15s --rounds 1 --gate p50:5% --out".split(),
            str(tmp_path / "gated"),
            "--",
            *"t.py".split(),
        )
    )
    assert gated == EXIT_GATE
    assert "matrix: gate FAILED for idle-15s" in capsys.readouterr().out


def test_three_profiles_write_one_report_per_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, run = fake_runs({})
    monkeypatch.setattr(matrix, "_run_one", run)
    html = tmp_path / "r.html"
    outcome = matrix.run_matrix(
        parse(
            *"--profile default --profile idle-15s --profile no-prewarm --rounds 1 --html".split(),
            str(html),
            *"--out".split(),
            str(tmp_path),
            "--",
            *"t.py".split(),
        )
    )
    assert isinstance(outcome, Outcome)
    assert [r.current.label for r in outcome.reports] == ["idle-15s", "no-prewarm"]
    assert (tmp_path / "r-idle-15s.html").is_file()
    assert (tmp_path / "r-no-prewarm.html").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "default", "--", "t.py"], "give at least two profiles"),
        (["--profile", "default", "--profile", "default", "--", "t.py"], "'default' is given twice"),
        (
            ["--profile", "default", "--profile", "x", "--", "t.py", "--ow-profile=y"],
            "--ow-profile is set by matrix for every run",
        ),
        (
            ["--profile", "default", "--profile", "idle-15s", "--", "t.py", "--benchmark-json", "a.json"],
            "--benchmark-json is set by matrix",
        ),
        (["--profile", "default", "--profile", "idle-15s", "--", "t.py", "-n", "2"], "drop -n"),
        (["--profile", "default", "--profile", "nope", "--", "t.py"], "unknown profile 'nope'"),
        (
            ["--profile", "default", "--profile", "new-scheduler", "--", "t.py"],
            r"`scheduler: new` cannot apply to the embedded OpenWhisk .* have it: kind, existing",
        ),
        (
            ["--profile", "default", "--profile", "docker-factory", "--", "t.py", "--ow-cluster", "kind"],
            "kind nodes run containerd",
        ),
    ],
)
def test_unusable_arguments_and_profiles_stop_before_any_run(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls, run = fake_runs({})
    monkeypatch.setattr(matrix, "_run_one", run)
    assert matrix.matrix(parse(*argv, "--out", str(tmp_path))) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("pytest-openwhisk matrix: error: ")
    assert re.search(message, err), err
    assert calls == []


def test_cluster_comes_from_the_pytest_arguments_or_the_environment() -> None:
    assert matrix._cluster(["t.py"], {}) == "local"
    assert matrix._cluster(["t.py"], {"OW_CLUSTER": "kind"}) == "kind"
    assert matrix._cluster(["--ow-cluster=existing", "t.py"], {"OW_CLUSTER": "kind"}) == "existing"
    assert matrix._cluster(["--ow-cluster", "kind"], {}) == "kind"


def test_a_run_without_results_stops_with_its_last_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls, run = fake_runs({}, exit_code=4)
    monkeypatch.setattr(matrix, "_run_one", run)
    code = matrix.matrix(
        parse(
            *"--profile default --profile idle-15s --rounds 3 --out".split(),
            str(tmp_path),
            "--",
            *"t.py".split(),
        )
    )
    assert code == EXIT_USAGE
    assert len(calls) == 1
    err = capsys.readouterr().err
    assert "the run of profile 'default' ended with exit status 4 and no results" in err
    assert "    collected 2 items" in err


def test_failed_tests_are_compared_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run = fake_runs({}, exit_code=1)
    monkeypatch.setattr(matrix, "_run_one", run)
    assert (
        matrix.matrix(
            parse(
                *"--profile default --profile idle-15s --rounds 1 --out".split(),
                str(tmp_path),
                "--",
                *"t.py".split(),
            )
        )
        == EXIT_OK
    )
    assert "some tests failed under default" in capsys.readouterr().out


def test_positive_counts() -> None:
    with pytest.raises(SystemExit):
        parse("--profile", "a", "--rounds", "0")
    assert parse("--profile", "a", "--rounds", "3").rounds == 3


def test_format_table_is_empty_without_reports() -> None:
    assert matrix.format_table([]) == []
