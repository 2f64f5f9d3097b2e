"""The open-loop sender trusts what the backend trusts (issue 11): HTTPS against the embedded server.

Two servers: one serving a certificate like the chart's nginx (``CN=*.localhost``, no SAN, no extensions:
only pinning can accept it) and one serving a certificate that is its own CA for 127.0.0.1 (a CA bundle).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.backends.base import BaseBackend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.options import Settings
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR
from pytest_openwhisk.workload.fixture import sender_config_for
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender
from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError
from tests.plugin.certs import self_signed
from tests.plugin.test_tls_trust import Https
from tests.plugin.test_tls_trust import _serve as serve_https

NOOP = "def main(args):\n    return {}\n"
CLIENTS: dict[str, dict[str, Any]] = {
    "raw-process": {},
    "raw-thread": {"process": False},
    "aiohttp-process": {"http": "aiohttp"},
}


def _with_noop(server: Https) -> Https:
    with OpenWhiskClient(server.apihost, server.auth, "_", verify=server.cert) as client:
        client.create_action("noop", NOOP, kind="python:default")
    return server


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """Serving a certificate like the chart's (pinning only), with a ``noop`` action."""
    for server in serve_https(tmp_path_factory.mktemp("chart-like"), ca=False):
        yield _with_noop(server)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """Serving a certificate that is its own CA for 127.0.0.1, with a ``noop`` action."""
    for server in serve_https(tmp_path_factory.mktemp("own-ca"), ca=True):
        yield _with_noop(server)


def _send(server: Https, **config: Any) -> list[Any]:
    workload = Workload(
        "tls", 0.3, seed=1, instances=(Instance("i", "noop", distribution="uniform", rate=20.0),)
    )
    sender = OpenLoopSender(server.apihost, server.auth, "_", SenderConfig(drain_s=20, **config))
    return sender.run(workload).samples


@pytest.mark.parametrize("client", CLIENTS)
def test_pinned_release_like_certificate_is_trusted(chart: Https, client: str) -> None:
    samples = _send(chart, tls_trust=chart.cert, **CLIENTS[client])
    assert len(samples) == 6
    assert {s.status for s in samples} == {ACCEPTED_NO_RESULT}, {s.error for s in samples}


@pytest.mark.parametrize("client", CLIENTS)
def test_without_the_trust_the_certificate_is_refused(chart: Https, client: str) -> None:
    samples = _send(chart, **CLIENTS[client])
    assert {s.status for s in samples} == {CLIENT_ERROR}
    assert all("certificate" in (s.error or "").lower() for s in samples), {s.error for s in samples}


def test_a_different_pinned_certificate_is_refused(chart: Https, tmp_path: Path) -> None:
    other, _ = self_signed(tmp_path, "*.localhost", ca=False, stem="other")
    samples = _send(chart, tls_trust=other)
    assert {s.status for s in samples} == {CLIENT_ERROR}
    assert all("pinned" in (s.error or "") or "fingerprint" in (s.error or "").lower() for s in samples)


@pytest.mark.parametrize("client", CLIENTS)
def test_ca_bundle_is_verified_with_the_host_name(ca: Https, client: str) -> None:
    samples = _send(ca, tls_trust=ca.cert, **CLIENTS[client])
    assert {s.status for s in samples} == {ACCEPTED_NO_RESULT}, {s.error for s in samples}


def test_insecure_trusts_anything(chart: Https) -> None:
    samples = _send(chart, verify_tls=False)
    assert {s.status for s in samples} == {ACCEPTED_NO_RESULT}, {s.error for s in samples}


def test_bad_trust_file_is_explained(tmp_path: Path, chart: Https) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    for process in (True, False):
        with pytest.raises(WorkloadError, match=r"tls trust is invalid: .*empty\.pem"):
            _send(chart, tls_trust=str(empty), process=process)


class _Backend(BaseBackend):
    """A backend whose only answer is its TLS trust."""

    def __init__(self, trust: str | bool | None) -> None:
        self._trust = trust

    def tls_trust(self) -> str | bool | None:
        return self._trust


def test_workload_fixture_passes_the_backends_trust() -> None:
    assert sender_config_for(_Backend("/x/cert.pem"), Settings()).tls_trust == "/x/cert.pem"
    insecure = sender_config_for(_Backend("/x/cert.pem"), Settings(insecure=True))
    assert (insecure.tls_trust, insecure.verify_tls) == (False, False)
    assert sender_config_for(_Backend(None), Settings()).tls_trust is None  # None: system CAs


def test_ow_workload_against_the_https_local_backend(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """End to end: the local backend serving HTTPS with a chart-like certificate; ``ow_workload`` sends to it
    trusting exactly that certificate (without the fix every request failed with a certificate error)."""
    cert, key = self_signed(tmp_path / "served", "*.localhost", ca=False)
    pytester.makeconftest(
        f"""
        from dataclasses import replace

        import pytest

        import pytest_openwhisk.backends.local as local


        @pytest.fixture(scope="session", autouse=True)
        def _https():
            with pytest.MonkeyPatch.context() as patch:
                config = local.local_config
                patch.setattr(
                    local, "local_config", lambda s: replace(config(s), tls_cert={cert!r}, tls_key={key!r})
                )
                yield
        """
    )
    pytester.makepyfile(
        """
        from pytest_openwhisk.workload.spec import Instance, Workload

        def test_https_workload(ow_cluster, ow_action, ow_workload):
            assert ow_cluster.apihost.startswith("https://")
            ow_action("noop", code="def main(args):\\n    return {}\\n", kind="python:default")
            u = Instance("u", "noop", distribution="uniform", rate=10)
            w = Workload("tls", 0.5, seed=1, instances=(u,))
            analysis = ow_workload.run(w, plots=False, record=False, settle_s=10)
            errors = {s.error for s in analysis.samples()}
            assert all(s.ok for s in analysis.samples()), errors
        """
    )
    result = pytester.runpytest(
        "--ow-local-mode=thread",
        "--ow-prewarm=none",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_openwhisk.workload.fixture",
    )
    result.assert_outcomes(passed=1)
