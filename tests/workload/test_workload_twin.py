"""An open-loop workload against the cluster twin (``--ow-cluster=kind``): the chart-like nginx certificate.

The twin serves the OpenWhisk API on https://localhost:31001 with a self-signed certificate as the chart's
gen-certs Job makes it (``CN=*.<apiHostName>``): without the backend's trust the sender refused it, so every
request of an ``ow_workload`` failed with a certificate error (issue 11).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kube.conftest import twin  # noqa: F401  (the cluster twin on PATH, a fixture)
from tests.kube.upstream import chart_dir

ROOT = Path(__file__).resolve().parents[2]

INNER = """
from pytest_openwhisk.workload.spec import Instance, Workload


def test_open_loop_over_https(ow_cluster, ow_action, ow_workload):
    assert ow_cluster.apihost.startswith("https://")
    ow_action("noop", code="def main(args):\\n    return {}\\n", kind="python:3.11")
    u = Instance("u", "noop", distribution="uniform", rate=10)
    analysis = ow_workload.run(Workload("twin", 0.5, seed=1, instances=(u,)), plots=False, record=False)
    assert all(s.ok for s in analysis.samples()), {s.error for s in analysis.samples()}
"""


@pytest.mark.usefixtures("twin")
def test_ow_workload_against_the_kind_twin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = chart_dir()
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the subprocess imports this checkout
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "--ow-cluster=kind",
        f"--ow-chart={chart}",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_openwhisk.workload.fixture",
        timeout=240,
    )
    result.assert_outcomes(passed=1)
