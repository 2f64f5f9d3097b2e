"""Shared setup of the main benchmark suite (``python -m pytest benchmarks --benchmark-autosave``).

The suite only talks to OpenWhisk through the plugin's fixtures (``ow_action``, ``ow_client``,
``ow_bench``, ``ow_cluster.fingerprint()``), so it runs unchanged with ``--ow-cluster=existing`` or
``kind``. SLO targets come from each function's ``manifest.json`` (``slo.warm`` / ``slo.cold``); see
docs/catalogue.md for how they were chosen.

Figures that pytest-benchmark's stats cannot hold (the chaining overhead per step) are attached to the
measurement (``Measurement.extra``), to its pytest-benchmark entry (``extra_info["ow_chain"]``) and
printed as a table at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, load_catalog
from pytest_openwhisk.measure import Measurement

CHAIN_ROWS = pytest.StashKey[list[dict[str, Any]]]()


@pytest.fixture(scope="session")
def catalog() -> dict[str, FunctionSpec]:
    """The function catalogue (``functions/``)."""
    return load_catalog()


@pytest.fixture
def chain_table(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Rows of the chain table printed at the end of the session (one dict per chain measurement)."""
    return request.config.stash.setdefault(CHAIN_ROWS, [])


@pytest.fixture
def attach_extra(request: pytest.FixtureRequest) -> Callable[[Measurement, str, Any], None]:
    """``attach_extra(measurement, key, value)``: keep ``value`` in ``measurement.extra[key]`` and in the
    measurement's pytest-benchmark entry as ``extra_info["ow_<key>"]``."""
    from pytest_openwhisk.measure.entries import benchmark_session

    def attach(measurement: Measurement, key: str, value: Any) -> None:
        measurement.extra[key] = value
        session = benchmark_session(request.config)
        for entry in reversed(getattr(session, "benchmarks", None) or []):
            fullname = str(getattr(entry, "fullname", ""))
            if fullname.endswith((f"[{measurement.name}]", f"-{measurement.name}]")):
                entry.extra_info[f"ow_{key}"] = value
                return

    return attach


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the chain table (latency and chaining overhead per step, sequence vs nested)."""
    rows = config.stash.get(CHAIN_ROWS, None)
    if not rows:
        return
    terminalreporter.section("function chains: latency and chaining overhead per step (p50, ms)")
    header = (
        f"{'chain':<10}{'N':>5}{'rounds':>8}{'latency':>11}{'latency/N':>11}{'overhead/step':>15}"
        f"{'p95 ovh/step':>14}"
    )
    terminalreporter.write_line(header)
    for row in sorted(rows, key=lambda r: (r["chain"], r["length"])):
        terminalreporter.write_line(
            f"{row['chain']:<10}{row['length']:>5}{row['rounds']:>8}{row['latency_ms_p50']:>11.1f}"
            f"{row['latency_ms_p50'] / row['length']:>11.2f}{row['overhead_ms_per_step_p50']:>15.2f}"
            f"{row['overhead_ms_per_step_p95']:>14.2f}"
        )
    terminalreporter.write_line(
        "overhead/step = (wall span end-start - summed component durations) / N; nested: the outer "
        "activation's span minus the time spent inside each level's code"
    )
