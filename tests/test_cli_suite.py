"""``pytest-openwhisk suite``: the shipped benchmark suite with pass-through pytest arguments.

The installed-wheel run (outside the checkout) is in tests/wheel/test_wheel.py; here the command's help,
argument handling and errors, from the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_openwhisk import cli

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["test_chains.py", "test_concurrency.py", "test_functions.py"]


def _suite(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest_openwhisk.cli", "suite", *args, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_suite_modules_are_the_shipped_ones() -> None:
    assert cli.suite_modules() == MODULES


def test_top_level_help_lists_suite(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "suite" in out
    assert "run the benchmark suite shipped with the package" in out


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_suite_help_documents_pass_through(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["suite", flag]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("usage: pytest-openwhisk suite [-h] [PYTEST_ARGS ...]")
    assert "Every argument goes to pytest unchanged" in out
    assert ", ".join(MODULES) in out
    assert "pytest-openwhisk suite --benchmark-disable -q" in out
    assert "pytest-openwhisk suite -- --help" in out


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("test_functions.py", "pytest_openwhisk.suite.test_functions"),
        ("test_functions", "pytest_openwhisk.suite.test_functions"),
        ("pytest_openwhisk.suite.test_chains", "pytest_openwhisk.suite.test_chains"),
        (
            "test_functions.py::test_warm[echo-python]",
            "pytest_openwhisk.suite.test_functions::test_warm[echo-python]",
        ),
        ("pytest_openwhisk.suite", "pytest_openwhisk.suite"),
    ],
)
def test_positional_arguments_name_suite_modules(arg: str, expected: str) -> None:
    assert cli.SuiteSelection(MODULES).resolve(arg) == expected


@pytest.mark.parametrize(
    "arg", ["benchmarks/", "tests/test_docs.py", "test_overhead.py", "pytest_openwhisk.suite::x", "echo"]
)
def test_other_positional_arguments_are_refused(arg: str) -> None:
    with pytest.raises(pytest.UsageError) as refused:
        cli.SuiteSelection(MODULES).resolve(arg)
    message = str(refused.value)
    assert repr(arg) in message
    assert "is not part of the shipped suite" in message
    assert ", ".join(MODULES) in message
    assert "-k EXPR" in message


def test_bad_positional_is_a_usage_error() -> None:
    done = _suite("benchmarks/embedded")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert (
        "ERROR: pytest-openwhisk suite: 'benchmarks/embedded' is not part of the shipped suite" in done.stderr
    )
    assert "passed" not in done.stdout


def test_unknown_option_is_pytest_usage_error() -> None:
    done = _suite("--no-such-option")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --no-such-option" in done.stderr


def test_selection_and_options_reach_pytest() -> None:
    done = _suite(
        "--collect-only", "-q", "test_functions.py::test_warm[echo-python]", "test_chains", "-k", "warm"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected[0] == "pytest_openwhisk/suite/test_functions.py::test_warm[echo-python]"
    assert all(line.startswith("pytest_openwhisk/suite/") for line in collected)
    assert not any("test_concurrency" in line or "test_cold" in line for line in collected)


def test_double_dash_passes_help_to_pytest() -> None:
    done = _suite("--", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--ow-cluster" in done.stdout  # pytest's help, with the plugin's options
    assert "--benchmark-disable" in done.stdout


def test_missing_suite_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "suite_modules", list)
    assert cli.main(["suite", "-q"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "this copy of pytest-openwhisk has no benchmark suite" in err
    assert "pip install --force-reinstall" in err


def test_functions_of_kinds_the_backend_lacks_are_skipped() -> None:
    """The suite on an OpenWhisk without ruby:2.5 skips that function, naming the kinds it has."""
    from pytest_openwhisk.local import LocalOpenWhisk
    from pytest_openwhisk.local.config import LocalConfig, PoolConfig

    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=()), kinds=("python:3.11",))
    with LocalOpenWhisk(config) as ow:
        done = _suite(
            "test_functions.py::test_warm[primes-ruby]",
            "test_functions.py::test_warm[echo-python]",
            "--ow-cluster=existing",
            f"--ow-apihost={ow.apihost}",
            f"--ow-auth={ow.auth}",
            "--benchmark-disable",
            "-q",
            "-rs",
        )
    out = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, out
    assert "1 passed, 1 skipped" in out
    assert "the backend has no runtime kind 'ruby:2.5'; it offers python:3.11" in out
