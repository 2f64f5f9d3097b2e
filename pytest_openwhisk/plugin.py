"""pytest hooks of pytest-openwhisk (hooks only; the work lives in the modules they call).

Fixtures are defined in :mod:`pytest_openwhisk.fixtures` (and ``ow_bench`` in
:mod:`pytest_openwhisk.bench`) and re-exported here so pytest registers them with the plugin.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

from pytest_openwhisk import slo
from pytest_openwhisk.fixtures import ow_action, ow_client, ow_cluster, ow_settings
from pytest_openwhisk.options import Settings, add_options
from pytest_openwhisk.session import SESSION_KEY, OpenWhiskSession


def _optional(name: str) -> ModuleType | None:
    """Import a sibling module that another part of the project is still writing (None if absent)."""
    try:
        return importlib.import_module(f"pytest_openwhisk.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pytest_openwhisk.{name}":
            raise
        return None


_bench = _optional("bench")
if _bench is not None:
    ow_bench = _bench.ow_bench

__all__ = ["ow_action", "ow_client", "ow_cluster", "ow_settings"] + (["ow_bench"] if _bench else [])

MARKERS = (
    "ow_slo(**targets): service-level objectives checked by ow_bench, e.g. "
    '@pytest.mark.ow_slo(p95="250ms", cold_start_p99="2s", error_rate="1%", throughput="50/s")',
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--ow-*`` options and ``ow_*`` ini keys."""
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers, resolve the settings (UsageError on bad options) and stash the session."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if config.getoption("help", False):
        return
    config.stash[SESSION_KEY] = OpenWhiskSession(Settings.from_config(config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reject malformed ``ow_slo`` markers before anything runs."""
    slo.validate_slo_markers(items)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Cluster, apihost, namespace and local settings, each with its source; never the auth key."""
    session = config.stash.get(SESSION_KEY, None)
    return session.settings.header_lines() if session else []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Measurement summary (``report.terminal_summary``) and notes such as a kept cluster."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    report = _optional("report")
    if report is not None:
        report.terminal_summary(terminalreporter, session)
    for note in session.notes:
        terminalreporter.write_line(f"openwhisk: {note}", yellow=True)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Replace pytest-benchmark's machine info by the cluster fingerprint (``benchjson``)."""
    benchjson = _optional("benchjson")
    if benchjson is not None:
        benchjson.update_machine_info(config, machine_info)
