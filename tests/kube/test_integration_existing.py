"""``--ow-cluster=existing --ow-kubeconfig``: the existing backend drives the Helm release (kube/deploy.py).

Up to the process and HTTP boundaries: fake helm on PATH (``fake_tool.py``), a Kubernetes API stand-in
and an OpenWhisk API stand-in (``conftest.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pytest_openwhisk.backends.existing import ExistingBackend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import BackendError, ToolMissing
from pytest_openwhisk.kube.deploy import OpenWhiskRelease
from pytest_openwhisk.kube.values import CHART_GUEST_AUTH
from pytest_openwhisk.options import Settings

from .conftest import FakeTools, KubeState, OpenWhiskState, _serve
from .fake_tool import KUBECONFIG

#: plugins in-process pytester runs do not need (each costs seconds of re-imports)
FAST = ("-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:xdist", "-p", "no:xdist.looponfail",
        "-p", "no:pytest-kind", "-p", "no:cacheprovider")


UP_TIMESTAMP = 'min(timestamp(up{job="kubelet"}))'


@dataclass
class PromState:
    """A Prometheus stand-in: the ``up`` timestamp it reports is old for ``stale`` queries, then now."""

    stale: int = 1
    queries: list[str] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)


class PromHandler(BaseHTTPRequestHandler):
    prom: PromState

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query).get("query", [""])[0]
        self.prom.queries.append(query)
        if url.path == "/-/ready":
            body: dict[str, Any] = {}
        elif url.path == "/api/v1/query" and query == UP_TIMESTAMP:
            fresh = len(self.prom.queries) > self.prom.stale
            stamp = time.time() if fresh else time.time() - 100.0  # the scrape before the warm-up
            self.prom.answers.append(stamp)
            result = [{"metric": {}, "value": [time.time(), str(stamp)]}]
            body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        else:
            body = {"status": "error", "error": f"unexpected query {query!r}"}
        data = json.dumps(body).encode()
        self.send_response(200 if body.get("status", "success") == "success" else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_prometheus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PromState]:
    """--ow-monitoring=on reaches a Prometheus stand-in (kube-prometheus-stack's install is skipped)."""
    state = PromState()
    handler = type("PromHandler", (PromHandler,), {"prom": state})
    for url in _serve(handler):

        def install_monitoring(self: OpenWhiskRelease, url: str = url) -> None:
            self.prometheus_url = url

        monkeypatch.setattr(OpenWhiskRelease, "install_monitoring", install_monitoring)
        yield state


@pytest.fixture
def prometheus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PromState]:
    """A Prometheus stand-in that --ow-monitoring=on uses (see :func:`serve_prometheus`)."""
    yield from serve_prometheus(monkeypatch)


@pytest.fixture
def kubeconfig(tmp_path: Path, kube_api: tuple[str, KubeState]) -> Path:
    """A kubeconfig pointing at the Kubernetes API stand-in."""
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(KUBECONFIG.format(url=kube_api[0], name="existing"))
    return path


@pytest.fixture
def release(kube_api: tuple[str, KubeState]) -> KubeState:
    """The stand-in cluster holds a ready OpenWhisk release (controller, invoker, two action pods)."""
    kube_api[1].default_release()
    return kube_api[1]


def settings(kubeconfig: Path, ow_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {"cluster": "existing", "kubeconfig": kubeconfig, "apihost": ow_url,
                              "sources": {"cluster": "cli", "kubeconfig": "cli", "apihost": "cli"}}
    values.update(changes)
    return Settings(**values)


def action_pods(state: KubeState) -> list[str]:
    return [p["metadata"]["name"] for p in state.pods if "user-action-pod" in p["metadata"]["labels"]]


def test_installs_the_release_uses_its_guest_key_and_leaves_it_installed(
    fake_tools: FakeTools, release: KubeState, kubeconfig: Path, ow_api: tuple[str, OpenWhiskState],
    tmp_path: Path,
) -> None:
    ow_url, ow_state = ow_api
    backend = ExistingBackend(settings(kubeconfig, ow_url, chart_version="0.9.9"), tmp_path / "work")
    assert backend.apihost == ow_url  # from --ow-apihost; the key is not known before start
    with backend:
        assert backend.apihost == ow_url
        assert backend.auth == CHART_GUEST_AUTH  # no --ow-auth: the chart's guest key
        helm = fake_tools.calls("helm")
        assert [c["argv"][0] for c in helm] == ["version", "status", "pull", "show", "upgrade"]
        pull = helm[2]["argv"]
        assert pull[pull.index("--version") + 1] == "0.9.9"  # --ow-chart-version reaches helm pull
        upgrade = helm[4]
        assert upgrade["argv"][upgrade["argv"].index("--kubeconfig") + 1] == str(kubeconfig)
        assert upgrade["stdin"]["whisk"]["ingress"]["apiHostName"] == "172.18.0.2"  # first node address
        # the API stand-in saw our client's checks with the guest key (Basic auth), never without it
        paths = [(method, path) for method, path, _ in ow_state.requests]
        assert ("GET", "/api/v1") in paths
        assert all(auth.startswith("Basic ") for _, _, auth in ow_state.requests)

        info = backend.fingerprint()
        assert info["backend"] == "existing"
        assert info["chart_version"] == "1.0.1"  # what the (fake) repository served
        assert info["release"] == "owdev"
        assert info["images"] == {"controller": "openwhisk/controller:ef725a6",
                                  "invoker": "openwhisk/invoker:ef725a6"}
        assert info["container_factory"] == "kubernetes"
        assert "values_limits" in info  # the values' limits; `limits` stays the API's
        assert CHART_GUEST_AUTH.split(":")[1] not in json.dumps(info)
        assert backend.monitor(0.0, 1.0) == {}  # no --ow-monitoring

        with OpenWhiskClient(backend.apihost, backend.auth, "guest") as client:
            backend.force_cold(client, "hello")
        assert ow_state.actions["hello"]["version"] == "0.0.2"  # revision bumped first
        assert action_pods(release) == ["wskowdev-invoker-00-2-guest-other"]  # then hello's pod deleted
    assert [c["argv"][0] for c in fake_tools.calls("helm")][-1] == "upgrade"  # no uninstall at stop
    assert (fake_tools.state / "release-owdev").exists()
    assert backend.kept_message is None


def test_open_window_waits_for_a_scrape_after_the_warmup_with_monitoring(
    fake_tools: FakeTools, release: KubeState, kubeconfig: Path, ow_api: tuple[str, OpenWhiskState],
    prometheus: PromState, tmp_path: Path,
) -> None:
    with ExistingBackend(settings(kubeconfig, ow_api[0], monitoring=True), tmp_path) as backend:
        before = time.time()
        backend.open_window()
    assert prometheus.queries.count(UP_TIMESTAMP) == 2  # the stale scrape did not open the window
    assert prometheus.answers[-1] >= before


def test_open_window_does_nothing_without_monitoring(
    fake_tools: FakeTools, release: KubeState, kubeconfig: Path, ow_api: tuple[str, OpenWhiskState],
    tmp_path: Path,
) -> None:
    with ExistingBackend(settings(kubeconfig, ow_api[0]), tmp_path) as backend:
        started = time.monotonic()
        backend.open_window()
        assert time.monotonic() - started < 1.0


def test_installed_release_without_values_is_only_connected(
    fake_tools: FakeTools, release: KubeState, kubeconfig: Path, ow_api: tuple[str, OpenWhiskState],
    tmp_path: Path,
) -> None:
    (fake_tools.state / "release-owdev").write_text("installed")
    with ExistingBackend(settings(kubeconfig, ow_api[0]), tmp_path) as backend:
        assert backend.auth == CHART_GUEST_AUTH
        assert backend.fingerprint()["release"] == "owdev"
    assert "upgrade" not in [c["argv"][0] for c in fake_tools.calls("helm")]


def test_without_kubeconfig_nothing_of_kubernetes_is_used(
    fake_tools: FakeTools, ow_api: tuple[str, OpenWhiskState], tmp_path: Path
) -> None:
    plain = Settings(cluster="existing", apihost=ow_api[0], auth=CHART_GUEST_AUTH)
    with ExistingBackend(plain, tmp_path) as backend:
        with OpenWhiskClient(backend.apihost, backend.auth, "guest") as client:
            backend.force_cold(client, "hello")
        assert backend.monitor(0.0, 1.0) == {}
        backend.open_window()  # no release, no Prometheus: nothing to wait for
        assert "release" not in backend.fingerprint()
    assert fake_tools.calls("helm") == []


def test_missing_apihost_and_auth_without_kubeconfig_names_both_fixes(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"--ow-apihost and --ow-auth .* or --ow-kubeconfig"):
        ExistingBackend(Settings(cluster="existing"), tmp_path)


def test_missing_helm_names_the_install_step(
    fake_tools: FakeTools, kubeconfig: Path, ow_api: tuple[str, OpenWhiskState], tmp_path: Path
) -> None:
    (fake_tools.bin / "helm").unlink()
    backend = ExistingBackend(settings(kubeconfig, ow_api[0]), tmp_path)
    missing = r"'helm' was not found on PATH \(needed by --ow-cluster=existing\)"
    with pytest.raises(ToolMissing, match=missing):
        backend.__enter__()
    assert backend.pod_dump is None


def test_failed_install_writes_a_pod_dump_and_keeps_the_error(
    fake_tools: FakeTools, release: KubeState, kubeconfig: Path, ow_api: tuple[str, OpenWhiskState],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "helm:upgrade")
    backend = ExistingBackend(settings(kubeconfig, ow_api[0]), tmp_path)
    with pytest.raises(BackendError, match="fake helm upgrade failure") as info:
        backend.__enter__()
    assert backend.pod_dump == tmp_path / "existing-pod-dump.txt"
    assert f"pods of the failed OpenWhisk start: {backend.pod_dump}" in info.value.__notes__
    assert "owdev-controller-0 (Running)" in backend.pod_dump.read_text()


def test_plugin_names_the_pod_dump_when_the_release_fails(
    pytester: pytest.Pytester, fake_tools: FakeTools, release: KubeState, kubeconfig: Path,
    ow_api: tuple[str, OpenWhiskState], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "helm:upgrade")
    pytester.makepyfile("def test_uses_cluster(ow_cluster):\n    pass\n")
    result = pytester.runpytest(*FAST, "--ow-cluster=existing", f"--ow-kubeconfig={kubeconfig}",
                                f"--ow-apihost={ow_api[0]}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*BackendError: helm upgrade --install owdev failed: Error: fake helm upgrade failure",
        "*pods of the failed OpenWhisk start: *existing-pod-dump.txt",
    ])
    # the terminal summary repeats where the dump is
    [line] = [ln for ln in result.outlines if ln.startswith("openwhisk: pods of the failed OpenWhisk start")]
    dump = Path(line.rsplit(": ", 1)[1])
    assert line == f"openwhisk: pods of the failed OpenWhisk start (states, events, logs): {dump}"
    assert "owdev-controller-0 (Running)" in dump.read_text()
    assert "plugin.py" not in result.stdout.str()  # the hook wrapper hides itself from the traceback


def test_plugin_runs_against_the_release(
    pytester: pytest.Pytester, fake_tools: FakeTools, release: KubeState, kubeconfig: Path,
    ow_api: tuple[str, OpenWhiskState],
) -> None:
    pytester.makepyfile(
        """
        def test_cluster(ow_cluster):
            assert ow_cluster.name == "existing"
            assert ow_cluster.fingerprint()["release"] == "owdev"
            assert ow_cluster.monitor(0.0, 1.0) == {}
        """
    )
    result = pytester.runpytest(*FAST, "--ow-cluster=existing", f"--ow-kubeconfig={kubeconfig}",
                                f"--ow-apihost={ow_api[0]}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["openwhisk: kubeconfig=*kubeconfig.yaml (cli), helm-release=owdev*"])
    assert CHART_GUEST_AUTH.split(":")[1] not in result.stdout.str()
