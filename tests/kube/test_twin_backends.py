"""The kind and existing backends against the cluster twin (real kubernetes client, pyhelm3, chart).

Each numbered defect of issue 11 that needs a cluster is checked here: TLS trust (1), kinds (2), node
affinity as deployed (3), readiness across an upgrade (4), capacity from what is deployed (6),
connect-only fingerprint and options (10), sequences' cold starts, fatal 401/TLS, clusters the session
did not create (11).
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_openwhisk.backends.existing import ExistingBackend
from pytest_openwhisk.backends.kind import KindBackend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import BackendError, BadRequest
from pytest_openwhisk.kube.k8s import Kube
from pytest_openwhisk.kube.probe import FatalProbe, wait_or_fail
from pytest_openwhisk.kube.runtimes import cluster_kinds
from pytest_openwhisk.kube.tls import PINNED, RELEASE
from pytest_openwhisk.local.config import StemCell
from pytest_openwhisk.options import Settings
from pytest_openwhisk.wait import wait_until
from tests.kube.upstream import chart_dir, env_of

PY = "def main(args):\n    return {'n': args.get('n', 0) + 1}\n"


def kind_settings(**fields: Any) -> Settings:
    """Settings of ``--ow-cluster=kind --ow-chart=<upstream chart>`` plus ``fields`` (given)."""
    return Settings(
        cluster="kind",
        chart=str(chart_dir()),
        **fields,
        sources={"cluster": "cli", "chart": "cli", **dict.fromkeys(fields, "cli")},
    )


def client_of(backend: Any) -> OpenWhiskClient:
    """A client trusting what the backend says to trust (``tls_trust()``, as ``ow_client`` does)."""
    return OpenWhiskClient(backend.apihost, backend.auth, backend.namespace, verify=backend.tls_trust())


def action_pods(kube: Kube, action: str) -> list[str]:
    return [p.metadata.name for p in kube.pods("openwhisk", kube.action_pod_selector(action))]


def test_kind_on_the_twin(twin: Any, tmp_path: Path) -> None:
    backend = KindBackend(kind_settings(), tmp_path / "work")
    with backend:
        assert backend.apihost == "https://localhost:31001"
        assert backend.namespace == "guest"  # the key's own namespace (web action URLs need it)
        # defect 1: the release's own certificate, read from the cluster, pinned
        assert backend.tls.mode == RELEASE
        assert "secret openwhisk/owdev-nginx" in backend.tls.describe()
        with client_of(backend) as pinned:  # tls_trust(): the Secret's certificate as a file, pinned
            assert pinned.trust.mode == PINNED
            assert pinned.trust.fingerprint == backend.tls.fingerprint
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(backend.apihost + "/api/v1", timeout=10)  # CA verification cannot work here
        # defect 6: capacity from the deployed controller and invoker
        capacity = backend.capacity()
        assert (capacity.user_memory_mb, capacity.concurrent_invocations, capacity.invokers) == (
            8192,
            5000,
            1,
        )
        assert capacity.max_action_memory_mb == 2048
        assert capacity.max_action_timeout_ms == 300_000
        found = backend.fingerprint()
        assert found["kinds"] == list(cluster_kinds())
        assert found["runtime_images"]["python:3.11"] == "openwhisk/action-python-v3.11:nightly"
        assert found["tls"]["mode"] == RELEASE
        kube = Kube(Path(backend.kind.kubeconfig_path))  # type: ignore[union-attr]
        with client_of(backend) as client:
            # defect 2: catalogue kinds accepted; a kind the cluster lacks is refused naming the others
            client.put_action("twin-a", {"exec": {"kind": "python:3.11", "code": PY}})
            client.put_action("twin-b", {"exec": {"kind": "python:3.11", "code": PY}})
            with pytest.raises(BadRequest, match=r"python:3\.11"):
                client.put_action("twin-old", {"exec": {"kind": "python:3.12", "code": PY}})
            client.put_action(
                "twin-seq", {"exec": {"kind": "sequence", "components": ["/_/twin-a", "/_/twin-b"]}}
            )
            assert client.invoke_result("twin-seq", {"n": 1}) == {"n": 3}
            wait_until(
                lambda: action_pods(kube, "twin-a") and action_pods(kube, "twin-b"),
                what="action pods of the sequence's components",
                timeout=30,
            )
            # defect 11: forcing a sequence cold deletes its components' pods (the sequence has none)
            backend.force_cold(client, "twin-seq")
            assert action_pods(kube, "twin-a") == []
            assert action_pods(kube, "twin-b") == []
            assert client.invoke_result("twin-seq", {"n": 1}) == {"n": 3}
    assert twin.deleted() == ["pytest-openwhisk"]  # created by the session: deleted at the end


def test_kind_cluster_that_existed_is_kept(twin: Any, tmp_path: Path) -> None:
    """Defect 11: a kind cluster the session did not create is never deleted."""
    subprocess.run(["kind", "create", "cluster", "--name=pytest-openwhisk"], check=True, capture_output=True)
    backend = KindBackend(kind_settings(), tmp_path / "work")
    with backend:
        assert not backend.created
    assert twin.deleted() == []
    listed = subprocess.run(["kind", "get", "clusters"], check=True, capture_output=True, text=True).stdout
    assert "pytest-openwhisk" in listed.split()
    assert backend.kept_message() is None


def test_wskprops_namespace_does_not_leak_into_kind(tmp_path: Path) -> None:
    settings = replace(kind_settings(), namespace="someone", sources={"namespace": "wskprops"})
    assert KindBackend(settings, tmp_path).namespace == "_"


def test_existing_connect_install_and_upgrade(twin: Any, tmp_path: Path) -> None:
    """Connect-only reads what is deployed (10), options needing an upgrade are refused (10), an upgrade
    waits for the new revision (4), and existing clusters free action pods from node labels (3)."""
    kind = KindBackend(kind_settings(keep_cluster=True), tmp_path / "kind")
    with kind:
        kubeconfig = Path(kind.kind.kubeconfig_path)  # type: ignore[union-attr]
    base = Settings(
        cluster="existing",
        kubeconfig=kubeconfig,
        chart=str(chart_dir()),
        sources={"cluster": "cli", "kubeconfig": "cli", "chart": "cli"},
    )
    connected = ExistingBackend(base, tmp_path / "connect")
    with connected:
        found = connected.fingerprint()
        assert found["mode"] == "connect"
        assert found["user_memory_mb"] == 8192  # the kind values deployed, not this run's defaults
        assert found["kinds"] == list(cluster_kinds())
        assert connected.capacity().user_memory_mb == 8192
        assert connected.tls.mode == RELEASE
    wrong = replace(base, idle_timeout=15.0, sources={**base.sources, "idle_timeout": "cli"})
    with pytest.raises(BackendError, match=r"--ow-idle-timeout=15s \(deployed: 10m\).*--ow-values"):
        ExistingBackend(wrong, tmp_path / "wrong").__enter__()
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("{}\n")
    upgrade = replace(
        wrong,
        values=(overlay,),
        prewarm=(StemCell("python:3.11", 1, 256),),
        sources={**wrong.sources, "values": "cli", "prewarm": "cli"},
    )
    upgraded = ExistingBackend(upgrade, tmp_path / "upgrade")
    with upgraded:
        assert upgraded.fingerprint()["revision"] == 2
        # the API answering now is the new revision's: its pool runs with the new idle timeout
        with client_of(upgraded) as client:
            pool = client._http.get(upgraded.apihost + "/admin/v1/pool", timeout=30).json()
        assert pool["settings"]["idle_container_timeout_s"] == 15.0
        invoker = Kube(kubeconfig).workload("openwhisk", "owdev-invoker")
        assert invoker is not None
        assert (
            "-Dwhisk.kubernetes.user-pod-node-affinity.enabled=false"
            in env_of(invoker, "invoker")["INVOKER_OPTS"]
        )
        assert upgraded.fingerprint()["stem_cells"] == ["python:3.11:1:256"]


def test_untrusted_certificate_and_wrong_key_fail_at_once(
    twin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 11: a TLS error or HTTP 401 is not retried for minutes."""
    kind = KindBackend(kind_settings(keep_cluster=True), tmp_path / "kind")
    with kind:
        apihost, auth = kind.apihost, kind.auth
    calls: list[str] = []
    original = OpenWhiskClient.api_info

    def counted(self: OpenWhiskClient) -> dict[str, Any]:
        calls.append("api_info")
        return original(self)

    monkeypatch.setattr(OpenWhiskClient, "api_info", counted)
    settings = Settings(
        cluster="existing", apihost=apihost, auth=auth, sources={"apihost": "cli", "auth": "cli"}
    )
    backend = ExistingBackend(settings, tmp_path / "tls")
    backend.connect_timeout = 3600.0
    with pytest.raises(BackendError, match="--ow-insecure"):
        backend.__enter__()
    assert calls == ["api_info"]
    insecure = replace(settings, insecure=True, auth="11111111-2222-3333-4444-555555555555:" + "x" * 64)
    with pytest.raises(BackendError, match="rejected the auth key"):
        ExistingBackend(insecure, tmp_path / "key").__enter__()


def test_fatal_probe_stops_waiting_at_once() -> None:
    calls = []

    def probe() -> bool:
        calls.append(1)
        raise FatalProbe("wrong key")

    with pytest.raises(BackendError, match="wrong key"):
        wait_or_fail(probe, what="x", timeout=3600)
    assert calls == [1]
