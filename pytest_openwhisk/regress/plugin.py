"""pytest hooks of the regression gate (entry point ``openwhisk-regress``); the work is in ``session.py``."""

from __future__ import annotations

import pytest

from pytest_openwhisk.regress.session import RegressSession
from pytest_openwhisk.regress.settings import RegressSettings, add_options

SESSION = pytest.StashKey[RegressSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--ow-regression*``."""
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Resolve the settings (bad values are usage errors) and stash the gate session when enabled."""
    settings = RegressSettings.from_config(config)
    if settings.enabled and not hasattr(config, "workerinput"):
        config.stash[SESSION] = RegressSession(settings)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Load the baseline before this run is saved (so ``latest`` means the previous run)."""
    gate = session.config.stash.get(SESSION, None)
    if gate is not None:
        gate.load_baseline(session.config)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Echo the gate and its baseline."""
    gate = config.stash.get(SESSION, None)
    if gate is None:
        return None
    rules = ", ".join(str(rule) for rule in gate.settings.rules)
    base = gate.baseline.label if gate.baseline else f"{gate.settings.baseline} (none found)"
    correction = "" if gate.settings.correction == "none" else f", {gate.settings.correction} correction"
    return [f"openwhisk regression gate: {rules} vs {base} (alpha={gate.settings.alpha:g}{correction})"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Evaluate the gate after pytest-benchmark finished; a failing gate makes the session exit 1."""
    gate = session.config.stash.get(SESSION, None)
    if gate is None:
        return
    if not gate.finish(session.config) and session.exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the gate table and why it failed."""
    gate = terminalreporter.config.stash.get(SESSION, None)
    if gate is None:
        return
    lines = gate.summary_lines()
    if not lines:
        return
    failed = gate.error is not None or (gate.report is not None and not gate.report.passed)
    terminalreporter.section("openwhisk regression gate", sep="-", red=failed, green=not failed, bold=True)
    for line in lines:
        terminalreporter.write_line(
            line, red=line.startswith(("FAILED", "ERROR")), yellow=line.startswith("WARNING")
        )
