"""KindBackend end to end up to the process and HTTP boundaries: fake docker/kind/helm, API stand-ins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_openwhisk.backends.kind import KindBackend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import BackendError, ConfigError, StartupTimeout, ToolMissing
from pytest_openwhisk.kube.deploy import open_release
from pytest_openwhisk.kube.k8s import Kube
from pytest_openwhisk.kube.values import CHART_GUEST_AUTH, RUNTIMES_FILE
from pytest_openwhisk.options import Settings

from .conftest import FakeTools, KubeState, OpenWhiskState, pod
from .test_integration_existing import UP_TIMESTAMP, PromState, serve_prometheus

KIND = Settings(cluster="kind")


@pytest.fixture
def ow_url(ow_api: tuple[str, OpenWhiskState], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(KindBackend, "api_url", ow_api[0])
    return ow_api[0]


@pytest.fixture
def release(kube_api: tuple[str, KubeState]) -> KubeState:
    kube_api[1].default_release()
    return kube_api[1]


@pytest.fixture
def prometheus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PromState]:
    """A Prometheus stand-in that --ow-monitoring=on uses."""
    yield from serve_prometheus(monkeypatch)


def test_start_creates_cluster_installs_openwhisk_and_deletes_it(
    fake_tools: FakeTools, release: KubeState, ow_url: str, ow_api: tuple[str, OpenWhiskState], tmp_path: Path
) -> None:
    backend = KindBackend(KIND, tmp_path / "work")
    with backend:
        assert backend.apihost == ow_url
        assert backend.auth == CHART_GUEST_AUTH
        kubeconfig = str(tmp_path / "work" / "kind" / "kubeconfig")
        assert fake_tools.argvs("docker") == [["info", "--format", "{{.ServerVersion}}"]]
        assert fake_tools.argvs("kind") == [
            ["get", "clusters"],  # ours: reuse or create?
            ["get", "clusters"],  # pytest-kind's KindCluster.create checks again
            [
                "create",
                "cluster",
                "--name=pytest-openwhisk",
                f"--kubeconfig={kubeconfig}",
                "--config",
                str(tmp_path / "work" / "kind" / "kind-config.yaml"),
            ],
            ["get", "kubeconfig", "--name=pytest-openwhisk"],
        ]
        config = yaml.safe_load((fake_tools.state / "kind-config.yaml").read_text())
        assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
        assert {
            "containerPort": 31001,
            "hostPort": 31001,
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        } in config["nodes"][0]["extraPortMappings"]
        assert release.nodes["pytest-openwhisk-worker"]["openwhisk-role"] == "core"
        assert release.nodes["pytest-openwhisk-worker2"]["openwhisk-role"] == "invoker"
        assert "openwhisk-role" not in release.nodes["pytest-openwhisk-control-plane"]

        helm = fake_tools.calls("helm")
        assert [c["argv"][0] for c in helm] == ["version", "pull", "show", "upgrade"]
        pull = helm[1]["argv"]
        assert pull[:2] == ["pull", "openwhisk"]
        assert pull[pull.index("--repo") + 1] == "https://openwhisk.apache.org/charts"
        upgrade = helm[3]
        argv = upgrade["argv"]
        assert argv[:2] == ["upgrade", "owdev"]
        for flag, value in (("--namespace", "openwhisk"), ("--kubeconfig", kubeconfig), ("--values", "-")):
            assert argv[argv.index(flag) + 1] == value
        assert "--install" in argv
        assert "--create-namespace" in argv
        assert RUNTIMES_FILE in upgrade["chart_files"]
        values = upgrade["stdin"]
        assert values["whisk"]["runtimes"] == RUNTIMES_FILE
        assert values["whisk"]["limits"]["actionsSequenceMaxlength"] == 200
        assert values["whisk"]["ingress"]["apiHostName"] == "localhost"
        assert values["invoker"]["containerFactory"]["impl"] == "kubernetes"

        info = backend.fingerprint()
        assert info["chart_version"] == "1.0.1"
        assert info["images"] == {
            "controller": "openwhisk/controller:ef725a6",
            "invoker": "openwhisk/invoker:ef725a6",
        }
        assert info["nodes"] == 2
        assert info["container_factory"] == "kubernetes"
        assert CHART_GUEST_AUTH.split(":")[1] not in json.dumps(info)
        assert backend.monitor(0.0, 1.0) == {}

        client = OpenWhiskClient(backend.apihost, backend.auth, "guest", verify=False)
        backend.force_cold(client, "hello")
        assert ow_api[1].actions["hello"]["version"] == "0.0.2"  # revision bumped: no warm container matches
        assert [
            p["metadata"]["name"] for p in release.pods if "user-action-pod" in p["metadata"]["labels"]
        ] == ["wskowdev-invoker-00-2-guest-other"]
        deletes = [path for method, path, _ in release.requests if method == "DELETE"]
        assert deletes == [
            "/api/v1/namespaces/openwhisk/pods/wskowdev-invoker-00-1-guest-hello?gracePeriodSeconds=0"
        ]
    assert fake_tools.argvs("kind")[-1] == [
        "delete",
        "cluster",
        "--name=pytest-openwhisk",
        f"--kubeconfig={kubeconfig}",
    ]
    assert backend.kept_message is None


def test_open_window_waits_for_a_fresh_scrape_and_names_a_missing_one(
    fake_tools: FakeTools, release: KubeState, ow_url: str, prometheus: PromState, tmp_path: Path
) -> None:
    with KindBackend(Settings(cluster="kind", monitoring=True), tmp_path / "work") as backend:
        backend.open_window()
        assert prometheus.queries.count(UP_TIMESTAMP) == 2  # waited past the scrape before the warm-up
        prometheus.stale = 10**6  # Prometheus stops scraping the kubelet
        assert backend.deployment is not None
        with pytest.raises(BackendError, match=r'no scrape of up\{job="kubelet"\} within 0.3s') as caught:
            backend.deployment.open_window(timeout=0.3)
        assert backend.deployment.prometheus_url is not None
        assert backend.deployment.prometheus_url in str(caught.value)


def test_open_window_without_monitoring_asks_no_prometheus(
    fake_tools: FakeTools, release: KubeState, ow_url: str, prometheus: PromState, tmp_path: Path
) -> None:
    with KindBackend(KIND, tmp_path / "work") as backend:
        backend.open_window()
        assert backend.deployment is not None
        assert backend.deployment.open_window() is None
    assert prometheus.queries == []


def test_keep_cluster_leaves_it_and_says_how_to_delete(
    fake_tools: FakeTools, release: KubeState, ow_url: str, tmp_path: Path
) -> None:
    backend = KindBackend(Settings(cluster="kind", keep_cluster=True), tmp_path)
    with backend:
        pass
    assert not any(argv[0] == "delete" for argv in fake_tools.argvs("kind"))
    assert backend.kept_message is not None
    assert backend.kept_message.endswith("stop it with: kind delete cluster --name pytest-openwhisk")


def test_existing_kind_cluster_is_reused(
    fake_tools: FakeTools, release: KubeState, ow_url: str, tmp_path: Path
) -> None:
    (fake_tools.state / "clusters").write_text("pytest-openwhisk\n")
    with KindBackend(Settings(cluster="kind", kind_cluster_name="pytest-openwhisk"), tmp_path):
        pass
    assert [a[0] for a in fake_tools.argvs("kind")] == ["get", "get", "delete"]
    assert fake_tools.argvs("kind")[1] == ["get", "kubeconfig", "--name=pytest-openwhisk"]


def test_failed_install_deletes_cluster_and_dumps_pods(
    fake_tools: FakeTools, release: KubeState, ow_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "helm:upgrade")
    backend = KindBackend(KIND, tmp_path)
    with pytest.raises(BackendError) as info:
        backend.__enter__()
    assert str(info.value) == "helm upgrade --install owdev failed: Error: fake helm upgrade failure"
    assert f"pods of the failed OpenWhisk start: {tmp_path / 'kind-pod-dump.txt'}" in info.value.__notes__
    assert "owdev-controller-0 (Running)" in (tmp_path / "kind-pod-dump.txt").read_text()
    assert fake_tools.argvs("kind")[-1][:2] == ["delete", "cluster"]  # nothing half-created left behind


@pytest.mark.parametrize("tool", ["docker", "kind", "helm"])
def test_missing_tool_fails_before_creating_anything(
    fake_tools: FakeTools, tool: str, tmp_path: Path
) -> None:
    (fake_tools.bin / tool).unlink()
    hints = {
        "docker": "install Docker Engine (https://docs.docker.com/engine/install/) and check that "
        "`docker info` works",
        "kind": "install kind (`go install sigs.k8s.io/kind@v0.23.0`, or a release binary from "
        "https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
        "helm": "install Helm 3 (https://helm.sh/docs/intro/install/, e.g. `curl -fsSL "
        "https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | bash`)",
    }
    with pytest.raises(ToolMissing) as info:
        KindBackend(KIND, tmp_path).__enter__()
    assert str(info.value) == (
        f"'{tool}' was not found on PATH (needed by --ow-cluster=kind); {hints[tool]}; "
        "or run without a cluster: --ow-cluster=local"
    )
    assert fake_tools.argvs("kind") == []


def test_docker_daemon_down_is_named(
    fake_tools: FakeTools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "docker:info")
    with pytest.raises(BackendError) as info:
        KindBackend(KIND, tmp_path).__enter__()
    message = str(info.value)
    assert message.startswith(
        "docker is installed but its daemon does not answer (docker info failed (exit 1): `"
    )
    assert "Error: fake docker info failure" in message
    assert message.endswith(
        "start Docker (e.g. `sudo systemctl start docker`) and make sure your user may use "
        "it (`docker info`), or use --ow-cluster=local"
    )
    assert fake_tools.argvs("kind") == []


def kubeconfig_for(url: str, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    return path


def test_readiness_timeout_names_the_pod_that_is_not_ready(
    kube_api: tuple[str, KubeState], tmp_path: Path
) -> None:
    url, state = kube_api
    state.pods = [
        pod("owdev-controller-0", {"name": "owdev-controller"}, ready=False, waiting="ImagePullBackOff")
    ]
    kube = Kube(kubeconfig_for(url, tmp_path))
    with pytest.raises(StartupTimeout) as info:
        kube.wait_openwhisk_ready("openwhisk", "owdev", timeout=0.3)
    assert str(info.value) == (
        "OpenWhisk release 'owdev' in namespace 'openwhisk' not ready after 0.3s; last error: "
        "BackendError: controller pod owdev-controller-0 (Pending: ImagePullBackOff) is not "
        "ready"
    )


def test_readiness_waits_for_the_install_packages_job(
    kube_api: tuple[str, KubeState], tmp_path: Path
) -> None:
    url, state = kube_api
    state.pods = [
        pod("owdev-controller-0", {"name": "owdev-controller"}),
        pod(
            "owdev-install-packages-x",
            {"name": "owdev-install-packages"},
            ready=False,
            waiting="PodInitializing",
        ),
    ]
    state.job_succeeded = False
    with pytest.raises(
        StartupTimeout,
        match=r"last error: BackendError: job owdev-install-packages has not "
        r"completed; waiting for owdev-install-packages-x \(Pending: "
        r"PodInitializing\)$",
    ):
        Kube(kubeconfig_for(url, tmp_path)).wait_openwhisk_ready("openwhisk", "owdev", timeout=0.3)


def test_unreachable_api_and_bad_kubeconfig_are_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"cannot load kubeconfig '.*nope'"):
        Kube(tmp_path / "nope")
    kube = Kube(kubeconfig_for("http://127.0.0.1:9", tmp_path))
    with pytest.raises(
        BackendError, match=r"Kubernetes API at http://127.0.0.1:9 unreachable \(list nodes\)"
    ):
        kube.schedulable_nodes()


def test_pod_dump_lists_states_and_logs_of_unready_pods(
    kube_api: tuple[str, KubeState], tmp_path: Path
) -> None:
    url, state = kube_api
    state.pods = [
        pod("owdev-controller-0", {"name": "owdev-controller"}),
        pod("owdev-kafka-0", {"name": "owdev-kafka"}, ready=False, waiting="CrashLoopBackOff"),
    ]
    dump = Kube(kubeconfig_for(url, tmp_path)).dump("openwhisk")
    assert "owdev-controller-0 (Running)" in dump
    assert "owdev-kafka-0 (Pending: CrashLoopBackOff)" in dump
    assert "## owdev-kafka-0/main\nwaiting for kafka" in dump


def existing(tmp_path: Path, url: str, **extra: Any) -> Settings:
    return Settings(cluster="existing", kubeconfig=kubeconfig_for(url, tmp_path), **extra)


def test_existing_cluster_with_release_only_connects(
    fake_tools: FakeTools,
    release: KubeState,
    kube_api: tuple[str, KubeState],
    ow_api: tuple[str, OpenWhiskState],
    tmp_path: Path,
) -> None:
    (fake_tools.state / "release-owdev").write_text("installed")
    deployment = open_release(existing(tmp_path, kube_api[0], apihost=ow_api[0]), tmp_path)
    assert [c["argv"][0] for c in fake_tools.calls("helm")] == ["version", "status", "status"]
    assert deployment.apihost == ow_api[0]
    assert deployment.auth == CHART_GUEST_AUTH
    assert fake_tools.argvs("kind") == []


def test_existing_cluster_without_release_installs_with_cluster_values(
    fake_tools: FakeTools,
    release: KubeState,
    kube_api: tuple[str, KubeState],
    ow_api: tuple[str, OpenWhiskState],
    tmp_path: Path,
) -> None:
    release.default_release("bench")
    chart = tmp_path / "src" / "openwhisk"
    chart.parent.mkdir()
    chart.symlink_to(Path(__file__).parent / "chart", target_is_directory=True)
    settings = existing(
        tmp_path, kube_api[0], apihost=ow_api[0], chart=str(chart), helm_release="bench", helm_namespace="ow"
    )
    deployment = open_release(settings, tmp_path)
    upgrade = fake_tools.calls("helm")[-1]
    assert upgrade["argv"][:2] == ["upgrade", "bench"]
    assert upgrade["argv"][upgrade["argv"].index("--namespace") + 1] == "ow"
    assert upgrade["argv"][2] == str(tmp_path / "chart" / "openwhisk")  # a copy: our manifest added to it
    assert upgrade["stdin"]["whisk"]["ingress"]["apiHostName"] == "172.18.0.2"  # first node address
    assert upgrade["stdin"]["whisk"]["containerPool"]["userMemory"] == "40000m"
    assert deployment.installed


def test_chart_that_is_neither_url_nor_folder(
    fake_tools: FakeTools, release: KubeState, kube_api: tuple[str, KubeState], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        open_release(existing(tmp_path, kube_api[0], chart="openwhisk/openwhisk"), tmp_path)
    assert str(info.value) == (
        "chart 'openwhisk/openwhisk' (--ow-chart) is neither a chart repository URL nor a chart folder with "
        "Chart.yaml; use https://openwhisk.apache.org/charts or the path of "
        "openwhisk-deploy-kube/helm/openwhisk"
    )
