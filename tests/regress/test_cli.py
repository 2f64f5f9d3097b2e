"""``pytest-openwhisk compare``: table, HTML report and exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.cli import EXIT_FINGERPRINT, EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, main

BuildRun = Callable[..., dict[str, Any]]
Latency = Callable[..., list[float]]
MACHINE = "Linux-CPython-3.11-64bit"


@pytest.fixture
def storage(tmp_path: Path, build_run: BuildRun, latency: Latency) -> Path:
    """.benchmarks with three runs: 0001 and 0002 alike, 0003 with test_a 25% slower."""
    root = tmp_path / ".benchmarks"
    (root / MACHINE).mkdir(parents=True)
    a, b = latency(), latency()
    runs = {"0001_base": (a, b), "0002_same": (latency(), latency()), "0003_slow": (latency(extra_ms=6.0), b)}
    for index, (name, (va, vb)) in enumerate(runs.items()):
        data = build_run({"test_a": va, "test_b": vb}, when=f"2024-06-0{index + 1}T12:00:00")
        (root / MACHINE / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def _run(storage: Path, *args: str) -> int:
    return main(["compare", *args, "--storage", str(storage), "--machine-id", MACHINE])


def test_gate_passes_on_alike_runs(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(storage, "0001", "0002", "--gate", "p50:5%,p95:10%") == EXIT_OK
    out = capsys.readouterr().out
    assert "baseline: 0001_base   current: 0002_same" in out
    assert "regression gate PASSED" in out


def test_gate_fails_on_regression_and_explains(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _run(storage, "latest~2", "latest", "--gate", "p50:5%", "--gate", "error_rate:1%") == EXIT_REGRESSION
    )
    out = capsys.readouterr().out
    assert "FAILED benchmarks/test_x.py::test_a p50: +" in out
    assert "test_b" in out
    assert "no change" in out


def test_without_gate_reports_but_exits_zero(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(storage, "0001", "0003") == EXIT_OK
    out = capsys.readouterr().out
    assert "REGRESSION" in out
    assert "gate: p50:5%, p95:5%, p99:10%, cold_ratio:2%, error_rate:1%" in out


def test_fingerprint_mismatch_is_refused_then_allowed(
    storage: Path,
    tmp_path: Path,
    build_run: BuildRun,
    latency: Latency,
    base_fingerprint: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = copy.deepcopy(base_fingerprint)
    other["backend"] = "kind"
    path = tmp_path / "kind.json"
    path.write_text(json.dumps(build_run({"test_a": latency()}, fingerprint=other)), encoding="utf-8")
    assert _run(storage, "0001", str(path)) == EXIT_FINGERPRINT
    err = capsys.readouterr().err
    assert 'backend: "local" -> "kind"' in err
    assert "--allow-fingerprint-mismatch" in err
    assert _run(storage, "0001", str(path), "--allow-fingerprint-mismatch", "--gate", "p50:5%") == EXIT_OK
    assert 'WARNING fingerprint differs: backend: "local" -> "kind"' in capsys.readouterr().out


def test_bad_input_exits_2_with_a_message(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(storage, "0001", "0042") == EXIT_USAGE
    assert "run id '0042' not found: saved runs in" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        _run(storage, "0001", "0002", "--gate", "p95:fast")
    assert info.value.code == EXIT_USAGE
    assert "invalid gate threshold 'fast'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(storage, "0001", "0002", "--alpha", "2")
    assert "invalid significance level '2'" in capsys.readouterr().err


def test_html_report_is_self_contained(storage: Path, tmp_path: Path) -> None:
    html = tmp_path / "out" / "report.html"
    assert _run(storage, "0001", "0003", "--html", str(html)) == EXIT_OK
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # CDF + trend for two benchmarks
    assert "trend over saved runs" in page
    assert ">0003<" in page
    for remote in ("http://", "https://", "<script", "<link", "src="):
        assert remote not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_console_script_entry_point(storage: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_openwhisk.cli",
            "compare",
            "0001",
            "0003",
            "--gate",
            "p50:5%",
            "--storage",
            str(storage),
            "--machine-id",
            MACHINE,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == EXIT_REGRESSION, proc.stderr
    assert "regression gate FAILED" in proc.stdout


def test_alternated_runs_are_pooled(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(storage, "0001,0002", "0003", "--gate", "p50:5%") == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "baseline: 0001_base+0002_same" in out
    assert "400/200" in out
