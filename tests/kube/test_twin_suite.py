"""A fast subset of the main suite (``benchmarks/``), unchanged, against the cluster twin.

Once with ``--ow-cluster=kind`` (the plugin creates the twin cluster, installs the upstream chart with our
values, trusts the release's certificate, deletes the cluster at the end) and once with
``--ow-cluster=existing --ow-kubeconfig`` against a release installed before the session (connect-only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.backends.kind import KindBackend
from pytest_openwhisk.options import Settings
from tests.kube.upstream import chart_dir

ROOT = Path(__file__).resolve().parents[2]
#: warm and cold catalogue functions in both languages, a sequence, concurrent clients, and the depth-100
#: nested chain (skipped from the deployed capacity). Functional coverage: the twin's latencies are the
#: embedded server's plus TLS, so the suite's tighter SLOs (nested chains over HTTPS) are left to full runs.
SUBSET = (
    "benchmarks/test_functions.py::test_warm[echo-python]",
    "benchmarks/test_functions.py::test_cold[echo-python]",
    "benchmarks/test_functions.py::test_cold[base64-nodejs]",
    "benchmarks/test_chains.py::test_sequence_chain[10]",
    "benchmarks/test_concurrency.py::test_concurrent_clients[echo-python-C4]",
    "benchmarks/test_chains.py::test_nested_chain[100]",
)
COMMON = ("-p", "no:cacheprovider", "-p", "no:randomly", "-q", "-rs", "--benchmark-disable-gc")


def run_subset(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    """The subset in a subprocess (its own session), from the repository root."""
    pytester.chdir()
    return pytester.runpytest_subprocess(
        *[str(ROOT / case) for case in SUBSET],
        f"--rootdir={ROOT}",
        "-c",
        str(ROOT / "pyproject.toml"),
        *COMMON,
        *options,
        timeout=240,
    )


def test_subset_with_kind(twin: Any, pytester: pytest.Pytester) -> None:
    result = run_subset(pytester, "--ow-cluster=kind", f"--ow-chart={chart_dir()}")
    result.assert_outcomes(passed=5, skipped=1)
    # the depth-100 nested chain needs 100 x 128 MB: skipped from the deployed capacity (8192 MB), not stalled
    result.stdout.fnmatch_lines(["*depth 100*container pool has 8192 MB*"])
    assert twin.deleted() == ["pytest-openwhisk"]


def test_subset_with_existing_kubeconfig(twin: Any, pytester: pytest.Pytester, tmp_path: Path) -> None:
    settings = Settings(
        cluster="kind",
        chart=str(chart_dir()),
        keep_cluster=True,
        sources={"cluster": "cli", "chart": "cli", "keep_cluster": "cli"},
    )
    kind = KindBackend(settings, tmp_path / "kind")
    with kind:
        kubeconfig = Path(kind.kind.kubeconfig_path)  # type: ignore[union-attr]
    result = run_subset(pytester, "--ow-cluster=existing", f"--ow-kubeconfig={kubeconfig}")
    result.assert_outcomes(passed=5, skipped=1)
