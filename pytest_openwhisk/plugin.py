"""pytest hooks of pytest-openwhisk (hooks only; the work lives in the modules they call).

Fixtures are defined in :mod:`pytest_openwhisk.fixtures`, :mod:`pytest_openwhisk.measure.bench` (``ow_bench``)
and :mod:`pytest_openwhisk.workload.fixture` (``ow_workload``) and re-exported here so pytest registers
them with the plugin.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_openwhisk import slo
from pytest_openwhisk.ab import plugin as ab_plugin
from pytest_openwhisk.backends import preflight
from pytest_openwhisk.fixtures import ow_action, ow_client, ow_cluster, ow_settings
from pytest_openwhisk.measure import compare, machine, report
from pytest_openwhisk.measure.bench import ow_bench, pytest_pyfunc_call, quiet_unused_benchmark
from pytest_openwhisk.options import Settings, add_options
from pytest_openwhisk.session import SESSION_KEY, OpenWhiskSession
from pytest_openwhisk.workload.fixture import ow_workload

__all__ = [
    "ow_action",
    "ow_bench",
    "ow_client",
    "ow_cluster",
    "ow_settings",
    "ow_workload",
    "pytest_pyfunc_call",
]

MARKERS = (
    "ow_slo(**targets): service-level objectives checked by ow_bench, e.g. "
    '@pytest.mark.ow_slo(p95="250ms", cold_start_p99="2s", error_rate="1%", throughput="50/s")',
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--ow-*`` options and ``ow_*`` ini keys."""
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers, resolve the settings, check the backend's prerequisites, stash the session.

    Bad options and missing tools (the backend's ``preflight``) end the session at once with one
    message and exit status 4 (``pytest.UsageError``), before any test runs.
    """
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if config.getoption("help", False):
        return
    settings = Settings.from_config(config)
    problems = preflight(settings)
    if problems:
        raise pytest.UsageError(
            f"--ow-cluster={settings.cluster} cannot start:\n  - " + "\n  - ".join(problems)
        )
    config.stash[SESSION_KEY] = OpenWhiskSession(settings)
    config.pluginmanager.register(ab_plugin, "openwhisk-ab")  # ow_ab marker, --ow-ab-base, A/B gate


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reject malformed ``ow_slo`` markers before anything runs; quiet pytest-benchmark for ``ow_bench``."""
    slo.validate_slo_markers(items)
    quiet_unused_benchmark(items)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Cluster, apihost, namespace and local settings, each with its source; never the auth key."""
    session = config.stash.get(SESSION_KEY, None)
    return session.settings.header_lines() if session else []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Measurement summary (``report.terminal_summary``) and notes such as a kept cluster."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    cluster = config.stash.get(machine.CLUSTER_KEY, None)
    report.terminal_summary(terminalreporter, session.measurements, cluster.fingerprint if cluster else None)
    for note in session.notes:
        terminalreporter.write_line(f"openwhisk: {note}", yellow=True)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Replace pytest-benchmark's machine info by the cluster fingerprint (``measure.machine``)."""
    machine.update_machine_info(config, machine_info)
    cluster = config.stash.get(machine.CLUSTER_KEY, None)
    if cluster is not None:
        compare.check_compared(config, cluster)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """Mask any auth key in the pytest-benchmark JSON before it is saved (``measure.machine.scrub_json``)."""
    machine.scrub_json(config, output_json)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_generate_machine_info(config: pytest.Config) -> dict[str, Any]:
    """Machine info without pytest-benchmark's slow host CPU probe (the cluster fingerprint replaces it)."""
    return machine.generate_machine_info(config)


@pytest.hookimpl(optionalhook=True, wrapper=True)
def pytest_benchmark_compare_machine_info(
    config: pytest.Config,
    benchmarksession: Any,
    machine_info: dict[str, Any],
    compared_benchmark: dict[str, Any],
) -> Generator[None, Any, Any]:
    """Check a compared run of ours by its cluster fingerprint once known (``measure.compare``).

    Around pytest-benchmark's own check, which runs before the cluster is up; runs not saved by this
    plugin keep pytest-benchmark's whole-machine_info check and warning.
    """
    with compare.compare_machine_info(config, machine_info, compared_benchmark):
        return (yield)
