"""OpenWhisk on a Kubernetes cluster: install/upgrade with Helm or connect, wait, cold starts, fingerprint.

:class:`OpenWhiskRelease` is what the kind backend and the existing backend (with a kubeconfig)
share. Cold starts bump the action's revision (see :meth:`OpenWhiskRelease.force_cold`).
"""

from __future__ import annotations

import time
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import requests
import urllib3

from pytest_openwhisk.errors import BackendError, StartupTimeout
from pytest_openwhisk.kube.helm import Helm
from pytest_openwhisk.kube.k8s import Kube
from pytest_openwhisk.kube.tools import find_tool
from pytest_openwhisk.kube.values import compose, guest_auth, load_values, summary, values_dir
from pytest_openwhisk.monitoring.collect import Scope, window_metrics
from pytest_openwhisk.monitoring.prometheus import PromClient, scraped_after
from pytest_openwhisk.wait import wait_until

READY_TIMEOUT = 1800.0  # image pulls on a fresh cluster take long
API_TIMEOUT = 300.0
MONITORING_NAMESPACE = "monitoring"
#: how long :meth:`OpenWhiskRelease.open_window` waits for a fresh scrape (the shipped interval is 1 s)
WINDOW_TIMEOUT = 30.0


def _given(settings: Any, name: str) -> bool:
    sources: dict[str, str] = dict(getattr(settings, "sources", {}) or {})
    return sources.get(name, "default") != "default"


def open_release(settings: Any, workdir: Path) -> OpenWhiskRelease:
    """For ``--ow-cluster=existing`` with ``--ow-kubeconfig``: install/upgrade, or only connect.

    Connects when the release is installed and no ``--ow-values`` were given (``--ow-apihost`` or the
    nginx NodePort on the first node address is the API); otherwise runs ``helm upgrade --install``
    with ``helm/openwhisk-cluster.yaml`` + options + ``--ow-values`` and waits for readiness.
    """
    release = OpenWhiskRelease(settings, workdir, kubeconfig=settings.kubeconfig,
                               context=settings.kube_context, base_values="openwhisk-cluster.yaml",
                               backend="existing",
                               verify_tls=not settings.insecure)
    if not settings.values and release.helm.revision(release.release, release.namespace) is not None:
        release.values = compose(settings, "openwhisk-cluster.yaml")
        release.connect(settings.apihost)
    else:
        release.install(settings.apihost)
    if settings.monitoring:
        release.install_monitoring()
    return release


class OpenWhiskRelease:
    """One OpenWhisk Helm release (``settings.helm_release`` in ``settings.helm_namespace``)."""

    def __init__(self, settings: Any, workdir: Path, *, kubeconfig: Path | None, context: str | None,
                 base_values: str, backend: str, verify_tls: bool = False) -> None:
        self.settings = settings
        self.workdir = Path(workdir)
        self.kubeconfig = kubeconfig
        self.context = context
        self.base_values = base_values
        self.backend = backend
        self.verify = verify_tls
        self.release = str(settings.helm_release)
        self.namespace = str(settings.helm_namespace)
        self.kube = Kube(kubeconfig, context)
        self.values: dict[str, Any] = {}
        self.chart_info: dict[str, Any] = {}
        self.apihost = ""
        self.auth = ""
        self.prometheus_url: str | None = None
        self.installed = False
        self._helm: Helm | None = None

    @property
    def helm(self) -> Helm:
        """The Helm client (``helm`` must be on PATH)."""
        if self._helm is None:
            executable = find_tool("helm", f"--ow-cluster={self.backend}")
            self._helm = Helm(executable, self.kubeconfig, self.context)
        return self._helm

    def install(self, apihost: str | None = None) -> None:
        """``helm upgrade --install`` our values, then wait for the controller and the packages job."""
        self.values = compose(self.settings, self.base_values)
        ingress = self.values.setdefault("whisk", {}).setdefault("ingress", {})
        if not ingress.get("apiHostName"):
            addresses = self.kube.node_addresses()
            if not addresses:
                raise BackendError("no node address to reach OpenWhisk at; set whisk.ingress.apiHostName "
                                   "in a --ow-values file")
            ingress["apiHostName"] = addresses[0]
        prewarm = self.settings.prewarm if _given(self.settings, "prewarm") else None
        self.chart_info = self.helm.install_openwhisk(
            self.release, self.namespace, str(self.settings.chart),
            getattr(self.settings, "chart_version", None), self.values, prewarm, self.workdir)
        self.installed = True
        self.kube.wait_openwhisk_ready(self.namespace, self.release, READY_TIMEOUT)
        self._connect(apihost or self._apihost_from_values())

    def connect(self, apihost: str | None = None) -> None:
        """Use the release as it is: check it runs, then reach its API (no Helm changes)."""
        if self.helm.revision(self.release, self.namespace) is None:
            raise BackendError(f"Helm release {self.release!r} is not installed in namespace "
                               f"{self.namespace!r}; "
                               "drop --ow-apihost to let pytest-openwhisk install it, or check "
                               "--ow-helm-release/--ow-helm-namespace")
        self.kube.wait_openwhisk_ready(self.namespace, self.release, API_TIMEOUT)
        port = self.kube.node_port(self.namespace, f"{self.release}-nginx", "https")
        if apihost is None:
            apihost = f"https://{self.kube.node_addresses()[0]}:{port}"
        self._connect(apihost)

    def _apihost_from_values(self) -> str:
        ingress = self.values.get("whisk", {}).get("ingress", {})
        proto = ingress.get("apiHostProto", "https")
        return f"{proto}://{ingress['apiHostName']}:{ingress.get('apiHostPort', 31001)}"

    def _connect(self, apihost: str) -> None:
        self.apihost = apihost.rstrip("/")
        self.auth = self.settings.auth or guest_auth(self.values)
        wait_until(self._api_answers, what=f"OpenWhisk API at {self.apihost}", timeout=API_TIMEOUT,
                   interval=1.0, max_interval=5.0)

    def _api_answers(self) -> bool:
        response = self._request("GET", "/api/v1/namespaces")
        if response.status_code == 401:
            raise BackendError(f"OpenWhisk at {self.apihost} rejected the API key (HTTP 401); pass the "
                               "guest key of your values (whisk.auth.guest) with --ow-auth")
        return bool(response.status_code == 200)

    def install_monitoring(self) -> None:
        """kube-prometheus-stack with ``helm/monitoring.yaml``; Prometheus on NodePort 30090."""
        values = load_values(values_dir() / "monitoring.yaml")
        self.helm.install_monitoring(MONITORING_NAMESPACE, values)
        port = values.get("prometheus", {}).get("service", {}).get("nodePort", 30090)
        host = urllib.parse.urlsplit(self.apihost).hostname or "127.0.0.1"
        self.prometheus_url = f"http://{host}:{port}"
        client = PromClient(self.prometheus_url)
        wait_until(client.ready, what=f"Prometheus at {self.prometheus_url}", timeout=API_TIMEOUT)

    # -- cold starts ----------------------------------------------------------------------------
    def delete_action_pods(self, action: str) -> int:
        """Delete the pods of ``action`` (label ``openwhisk/action``) and wait until they are gone.

        Call it *after* bumping the action's revision (``backends.existing.bump_revision``): the
        invoker matches warm containers by action and version, so the next activation is cold
        whatever happens to the old pods. Deleting a warm pod without the bump makes the invoker
        retry the vanished pod until the action timeout and fail that activation. Deleting them
        after the bump frees node CPU and memory for the measurement.
        """
        return self.kube.delete_pods(self.namespace, self.kube.action_pod_selector(action))

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        key, _, secret = self.auth.partition(":")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return requests.request(method, self.apihost + path, auth=(key, secret), verify=self.verify,
                                    timeout=30, **kwargs)

    # -- results --------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """Chart, images, nodes, container factory and limits (no secrets)."""
        info: dict[str, Any] = {"backend": self.backend, "release": self.release, "namespace": self.namespace,
                                **self.chart_info, **summary(self.values)}
        try:
            info["images"] = self.kube.images(self.namespace, self.release) or info.get("images")
            info["nodes"] = len(self.kube.schedulable_nodes())
        except BackendError as exc:
            info["kube_error"] = str(exc)
        return info

    def _scope(self) -> Scope:
        return Scope(backend=self.backend, namespace=self.namespace, release=self.release)

    def open_window(self, timeout: float = WINDOW_TIMEOUT) -> float | None:
        """With monitoring: wait for a Prometheus scrape newer than now; return the window start.

        Call it between a warm-up and the measured invocations: the baseline of :meth:`monitor` for a
        window starting at the returned time (epoch s) is then a scrape taken after the warm-up, so the
        warm-up is not counted. Uses the ``up`` series :meth:`monitor` closes its window with (same
        PromQL helper as the local backend); costs up to one scrape interval. Without monitoring
        (no ``prometheus_url``) nothing happens and None is returned. Raises :class:`BackendError`
        naming Prometheus and the series when no fresh scrape arrives within ``timeout`` seconds.
        """
        if not self.prometheus_url:
            return None
        selector = self._scope().up_selector()
        moment = time.time()
        try:
            scraped_after(PromClient(self.prometheus_url), moment, selector, timeout)
        except StartupTimeout as exc:
            raise BackendError(
                f"Prometheus at {self.prometheus_url} took no scrape of {selector} within {timeout:g}s "
                f"after the warm-up, so the monitoring window cannot be opened; check that target in "
                f"Prometheus (Status > Targets) or run without --ow-monitoring ({exc})") from None
        return time.time()

    def monitor(self, start: float, end: float) -> dict[str, Any]:
        """Prometheus metrics of the window, or {} without --ow-monitoring."""
        if not self.prometheus_url:
            return {}
        return window_metrics(PromClient(self.prometheus_url), start, end, scope=self._scope())

    def dump(self) -> str:
        """Pods, states and logs of the release namespace (for a failed start)."""
        return self.kube.dump(self.namespace)

    def uninstall(self) -> None:
        """Remove the release (when this session installed it)."""
        if self.installed:
            self.helm.uninstall(self.release, self.namespace)
            self.installed = False
