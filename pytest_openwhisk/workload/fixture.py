"""The ``ow_workload`` fixture: open-loop workloads (ours or FaaSProfiler's JSON) inside a pytest test."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest

from pytest_openwhisk.backends.base import Backend
from pytest_openwhisk.measure.machine import remember_cluster
from pytest_openwhisk.names import slug
from pytest_openwhisk.options import Settings
from pytest_openwhisk.workload.runner import WorkloadRunner
from pytest_openwhisk.workload.sendconfig import SenderConfig


class _TerminalStream:
    """Writes to pytest's terminal around output capture (progress lines from the test's thread)."""

    def __init__(self, config: pytest.Config) -> None:
        self._reporter = config.pluginmanager.getplugin("terminalreporter")
        self._capman = config.pluginmanager.getplugin("capturemanager")

    def isatty(self) -> bool:
        return self._reporter is not None and bool(self._reporter.isatty)

    def _uncaptured(self) -> AbstractContextManager[Any]:
        if self._capman is None:
            return nullcontext()
        return self._capman.global_and_fixture_disabled()  # type: ignore[no-any-return]

    def write(self, text: str) -> None:
        if self._reporter is not None:
            with self._uncaptured():
                self._reporter.write(text, flush=True)

    def flush(self) -> None:
        """Writes are flushed as they happen."""


def sender_config_for(cluster: Backend, settings: Settings) -> SenderConfig:
    """The sender's configuration for a backend: HTTPS trusts what the backend says (``tls_trust()``: on
    kind/existing the release's own certificate, pinned; local serving HTTPS: its certificate), as
    ``ow_client`` does; nothing with ``--ow-insecure``."""
    trust = False if settings.insecure else cluster.tls_trust()
    return SenderConfig(verify_tls=not settings.insecure, tls_trust=trust)


@pytest.fixture
def ow_workload(request: pytest.FixtureRequest) -> WorkloadRunner:
    """Run open-loop workloads: ``ow_workload.run(Workload(...) | "workload.json") -> Analysis``.

    Arrivals follow the workload's schedule (Poisson, uniform or a replayed trace, per instance, seeded),
    sent without waiting on responses; afterwards the activations are collected through the REST API and
    joined to the client records. Instances may name actions by the name given to ``ow_action`` (the
    per-test prefix is added). Files land in ``<ow results dir>/workload/<test>/<workload>/``
    (CSV, summary JSON, plots, HTML). Each function is recorded through ``ow_bench.record`` as an
    open-loop measurement, so ``@pytest.mark.ow_slo`` targets and pytest-benchmark apply. HTTPS trusts what
    the backend trusts (its ``tls_trust()``, as ``ow_client``).
    """
    cluster = request.getfixturevalue("ow_cluster")
    client = request.getfixturevalue("ow_client")
    settings = request.getfixturevalue("ow_settings")
    factory = request.getfixturevalue("ow_action")
    try:
        recorder = request.getfixturevalue("ow_bench").record
    except pytest.FixtureLookupError:  # ow_bench needs pytest-benchmark; without it nothing is recorded
        recorder = None
    results = getattr(settings, "results_dir", None) or request.config.rootpath / ".ow-results"
    folder = results / "workload" / slug(request.node.nodeid.replace("::", "-"))

    def deployed() -> dict[str, str]:
        return {a.base_name: a.name for a in getattr(factory, "deployed", [])}

    return WorkloadRunner(
        apihost=cluster.apihost,
        auth=cluster.auth,
        namespace=cluster.namespace,
        source=client,
        results_dir=folder,
        sender_config=sender_config_for(cluster, settings),
        progress_stream=_TerminalStream(request.config),
        recorder=recorder,
        resolve_actions=deployed,
        energy=remember_cluster(request.config, cluster).fingerprint.get("energy"),
    )
