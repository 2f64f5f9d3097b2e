"""pytest hooks of the A/B mode (registered by :mod:`pytest_openwhisk.plugin`); the work is in ``session``.

``--ow-ab-base=GITREF`` creates the base worktree at configure time (a usage error names what is wrong:
no git, not a repository, unknown ref) and removes it at unconfigure, which pytest runs after Ctrl-C
too. Every A/B of the session (``ow_bench.ab`` or the automatic A/B) is gated at session end: the table
is printed, ``--ow-regression-html`` gets the report with both sides, and a regression exits 1.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_openwhisk.ab.bench import MARKER, item_rules
from pytest_openwhisk.ab.session import AB_KEY, AbSession, GateSettings
from pytest_openwhisk.ab.worktree import AbBaseError


def ab_ref(config: pytest.Config) -> str | None:
    """``--ow-ab-base`` (CLI, env ``OW_AB_BASE`` or ini ``ow_ab_base`` through the plugin's Settings)."""
    from pytest_openwhisk.session import SESSION_KEY

    session = config.stash.get(SESSION_KEY, None)
    ref = getattr(getattr(session, "settings", None), "ab_base", None)
    return str(ref) if ref else None


def pytest_configure(config: pytest.Config) -> None:
    """Declare ``ow_ab``, stash the A/B session and open the base worktree for ``--ow-ab-base``."""
    config.addinivalue_line("markers", MARKER)
    if config.getoption("help", False) or hasattr(config, "workerinput"):
        return
    ref = ab_ref(config)
    if ref is not None and config.getoption("numprocesses", None):
        raise pytest.UsageError(
            f"--ow-ab-base={ref} cannot run under xdist (-n): both versions are measured "
            "interleaved in one process; drop -n"
        )
    session = AbSession(settings=GateSettings.from_config(config), ref=ref)
    try:
        session.open(config.rootpath)
    except AbBaseError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[AB_KEY] = session


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
    """Under ``--ow-ab-base``, give each ``ow_action`` factory the base deploy callback."""
    value = yield
    if fixturedef.argname == "ow_action" and hasattr(value, "on_deploy"):
        ab = request.config.stash.get(AB_KEY, None)
        if ab is not None and ab.worktree is not None:
            value.on_deploy = ab.deploy_base
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under ``--ow-ab-base`` the baseline is the ref: the sequential gate against saved runs steps aside."""
    ab = session.config.stash.get(AB_KEY, None)
    if ab is not None and ab.ref is not None:
        from pytest_openwhisk.regress.plugin import SESSION as REGRESS_SESSION

        if session.config.stash.get(REGRESS_SESSION, None) is not None:
            del session.config.stash[REGRESS_SESSION]


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Echo the A/B base and the gate it applies."""
    session = config.stash.get(AB_KEY, None)
    if session is None or session.worktree is None:
        return None
    rules = ", ".join(str(rule) for rule in session.settings.default_rules())
    return [f"openwhisk A/B: head vs {session.ref} ({session.worktree.commit}) interleaved; gate {rules}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reject malformed ``ow_ab`` markers before anything runs."""
    for item in items:
        item_rules(item)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember the test's ``ow_ab`` rules for ``ow_bench``."""
    session = item.config.stash.get(AB_KEY, None)
    rules = item_rules(item)
    if session is not None and rules:
        session.marker_rules[item.nodeid] = rules


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Evaluate every A/B of the session; a regression makes the session exit 1."""
    ab = session.config.stash.get(AB_KEY, None)
    if ab is None:
        return
    if not ab.finish() and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the A/B gate table and why it failed."""
    ab = terminalreporter.config.stash.get(AB_KEY, None)
    lines = ab.summary_lines() if ab is not None else []
    if not lines or ab is None:
        return
    failed = ab.report is not None and not ab.report.passed
    terminalreporter.section("openwhisk A/B gate", sep="-", red=failed, green=not failed, bold=True)
    for line in lines:
        terminalreporter.write_line(line, red=line.startswith("FAILED"), yellow=line.startswith("WARNING"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the base worktree (also after Ctrl-C)."""
    ab = config.stash.get(AB_KEY, None)
    if ab is not None:
        ab.close()
