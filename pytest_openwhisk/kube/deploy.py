"""OpenWhisk on a Kubernetes cluster: install/upgrade with Helm or connect, wait, cold starts, fingerprint.

:class:`OpenWhiskRelease` is what the kind backend and the existing backend (with a kubeconfig) share.
Readiness means the new revision is rolled out (every Deployment/StatefulSet of the release updated and
ready, the install-packages Job done) and a probe action answers through the API; the API is reached
trusting the release's own certificate (:mod:`pytest_openwhisk.kube.tls`). Fingerprint and capacity come
from what is deployed (the release's values and the live objects' environment), never from the options.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests

from pytest_openwhisk.errors import BackendError, StartupTimeout
from pytest_openwhisk.kube.chart import MONITORING_NAMESPACE, monitoring_values
from pytest_openwhisk.kube.helm import Helm
from pytest_openwhisk.kube.k8s import Kube
from pytest_openwhisk.kube.live import Deployed, check_connect_options
from pytest_openwhisk.kube.probe import FatalProbe, wait_or_fail
from pytest_openwhisk.kube.tls import INSECURE, SYSTEM, Trust
from pytest_openwhisk.kube.tools import find_tool
from pytest_openwhisk.kube.values import compose, guest_auth, load_values, summary, values_dir
from pytest_openwhisk.monitoring.collect import Scope, window_metrics
from pytest_openwhisk.monitoring.kepler import (
    KEPLER_CHART,
    KEPLER_RELEASE,
    KEPLER_REPO,
    KEPLER_VALUES,
    energy_window,
    unavailable,
)
from pytest_openwhisk.monitoring.prometheus import PromClient, scraped_after
from pytest_openwhisk.wait import wait_until

READY_TIMEOUT = 1800.0  # image pulls on a fresh cluster take long
API_TIMEOUT = 300.0
#: how long :meth:`OpenWhiskRelease.open_window` waits for a fresh scrape (the shipped interval is 1 s)
WINDOW_TIMEOUT = 30.0
PROBE_CODE = "function main(params) { return {probe: 'ok'}; }"


def given(settings: Any, name: str) -> bool:
    """True when option ``name`` was set by the user (``~/.wskprops`` does not count)."""
    sources: dict[str, str] = dict(getattr(settings, "sources", {}) or {})
    return sources.get(name, "default") not in ("default", "wskprops")


def open_release(settings: Any, workdir: Path) -> OpenWhiskRelease:
    """For ``--ow-cluster=existing`` with ``--ow-kubeconfig``: install/upgrade, or only connect.

    Connects when the release is installed and no ``--ow-values`` were given (``--ow-apihost`` or the
    nginx NodePort on the first node address is the API); options that would need an upgrade
    (``--ow-idle-timeout``, ``--ow-user-memory``, ``--ow-prewarm``) and differ from the deployed release
    are then an error naming the fix. Otherwise runs ``helm upgrade --install`` and waits for readiness.
    """
    release = OpenWhiskRelease(
        settings,
        workdir,
        kubeconfig=settings.kubeconfig,
        context=settings.kube_context,
        base_values="openwhisk-cluster.yaml",
        backend="existing",
    )
    apihost = settings.apihost if given(settings, "apihost") else None
    if not settings.values and release.helm.revision(release.release, release.namespace) is not None:
        release.connect(apihost)
    else:
        release.install(apihost)
    if settings.monitoring:
        release.install_monitoring()
    return release


def energy_unavailable(settings: Any) -> dict[str, Any]:
    """The ``energy`` fingerprint entry before Kepler runs: why there are no energy figures."""
    source = energy_source(settings)
    if source == "kepler" and not settings.monitoring:
        return unavailable(
            "--ow-energy=kepler needs --ow-monitoring=on (Kepler is read through Prometheus)", "kepler"
        )
    if source == "kepler":
        return unavailable("Kepler is not installed yet", "kepler")
    if source:
        return unavailable(f"--ow-energy={source} is not available on clusters; use kepler", source)
    return unavailable("no energy source on this cluster: add --ow-energy=kepler --ow-monitoring=on")


def energy_source(settings: Any) -> str:
    """``--ow-energy`` (kepler, ...) or "" when not given (the option is read defensively)."""
    value = getattr(settings, "energy", None)
    return "" if value in (None, "", "off", "none", False) else str(value)


class OpenWhiskRelease:
    """One OpenWhisk Helm release (``settings.helm_release`` in ``settings.helm_namespace``)."""

    def __init__(
        self,
        settings: Any,
        workdir: Path,
        *,
        kubeconfig: Path | None,
        context: str | None,
        base_values: str,
        backend: str,
    ) -> None:
        self.settings = settings
        self.workdir = Path(workdir)
        self.kubeconfig = kubeconfig
        self.context = context
        self.base_values = base_values
        self.backend = backend
        self.release = str(settings.helm_release)
        self.namespace = str(settings.helm_namespace)
        self.kube = Kube(kubeconfig, context)
        self.values: dict[str, Any] = {}
        self.chart_info: dict[str, Any] = {}
        self.deployed: Deployed | None = None
        self.apihost = ""
        self.auth = ""
        self.trust = Trust(INSECURE if settings.insecure else SYSTEM)
        self.prometheus_url: str | None = None
        self.energy = energy_unavailable(settings)
        self.installed = False
        self.mode = ""  # "install" | "connect"
        self._helm: Helm | None = None
        self._session = self.trust.session()

    @property
    def helm(self) -> Helm:
        """The Helm client (``helm`` must be on PATH)."""
        if self._helm is None:
            executable = find_tool("helm", f"--ow-cluster={self.backend}")
            self._helm = Helm(executable, self.kubeconfig, self.context)
        return self._helm

    # -- start ------------------------------------------------------------------------------------
    def install(self, apihost: str | None = None) -> None:
        """``helm upgrade --install`` our values, wait for the new revision and a probe action."""
        self.mode = "install"
        self.values = compose(self.settings, self.base_values)
        ingress = self.values.setdefault("whisk", {}).setdefault("ingress", {})
        if not ingress.get("apiHostName"):
            addresses = self.kube.node_addresses()
            if not addresses:
                raise BackendError(
                    "no node address to reach OpenWhisk at; set whisk.ingress.apiHostName "
                    "in a --ow-values file"
                )
            ingress["apiHostName"] = addresses[0]
        prewarm = self.settings.prewarm if given(self.settings, "prewarm") else None
        self.chart_info = self.helm.install_openwhisk(
            self.release,
            self.namespace,
            str(self.settings.chart),
            getattr(self.settings, "chart_version", None),
            self.values,
            prewarm,
            self.workdir,
        )
        self.values = self.helm.deployed_values or self.values
        self.installed = True
        self.kube.wait_rollout(self.namespace, self.release, READY_TIMEOUT)
        self.deployed = Deployed.read(self.kube, self.namespace, self.release)
        self._connect(apihost or self._apihost_from_values())
        self.probe_action()

    def connect(self, apihost: str | None = None) -> None:
        """Use the release as it is: its deployed values and objects, its API (no Helm changes)."""
        self.mode = "connect"
        revision = self.helm.revision(self.release, self.namespace)
        if revision is None:
            raise BackendError(
                f"Helm release {self.release!r} is not installed in namespace {self.namespace!r}; "
                "drop --ow-apihost to let pytest-openwhisk install it, or check "
                "--ow-helm-release/--ow-helm-namespace"
            )
        self.values = self.helm.deployed(self.release, self.namespace)
        self.chart_info = {"revision": revision}
        self.kube.wait_rollout(self.namespace, self.release, API_TIMEOUT)
        self.deployed = deployed = Deployed.read(self.kube, self.namespace, self.release)
        check_connect_options(self.settings, deployed, self.release)
        if apihost is None:
            port = self.kube.node_port(self.namespace, f"{self.release}-nginx", "https")
            apihost = f"https://{self.kube.node_addresses()[0]}:{port}"
        self._connect(apihost)

    def _apihost_from_values(self) -> str:
        ingress = self.values.get("whisk", {}).get("ingress", {})
        proto = ingress.get("apiHostProto", "https")
        return f"{proto}://{ingress['apiHostName']}:{ingress.get('apiHostPort', 31001)}"

    def _connect(self, apihost: str) -> None:
        self.apihost = apihost.rstrip("/")
        self.auth = self.settings.auth if given(self.settings, "auth") else guest_auth(self.values)
        if not self.settings.insecure and self.apihost.startswith("https://"):
            self.trust = self.kube.release_trust(self.namespace, self.release, API_TIMEOUT)
        self._session = self.trust.session()
        wait_or_fail(self._api_answers, what=f"OpenWhisk API at {self.apihost}", timeout=API_TIMEOUT)

    def _api_answers(self) -> bool:
        try:
            response = self._request("GET", "/api/v1/namespaces")
        except requests.exceptions.SSLError as exc:
            raise FatalProbe(
                f"OpenWhisk at {self.apihost} does not present the certificate we trust "
                f"({self.trust.describe()}): {exc}; check --ow-apihost (another server?) or pass "
                "--ow-insecure"
            ) from None
        if response.status_code == 401:
            raise FatalProbe(
                f"OpenWhisk at {self.apihost} rejected the API key (HTTP 401); pass the guest key "
                "of your values (whisk.auth.guest) with --ow-auth"
            )
        return bool(response.status_code == 200)

    def key_namespace(self) -> str | None:
        """The namespace of the API key (``GET /api/v1/namespaces`` lists exactly it)."""
        reply = self._request("GET", "/api/v1/namespaces")
        names = reply.json() if reply.status_code == 200 else []
        return str(names[0]) if isinstance(names, list) and len(names) == 1 else None

    def probe_action(self, timeout: float = API_TIMEOUT) -> None:
        """Create, invoke (until it answers) and delete a tiny action: the invoker is really serving."""
        name = f"pytest-openwhisk-probe-{secrets.token_hex(4)}"
        path = f"/api/v1/namespaces/_/actions/{name}"
        body = {"exec": {"kind": "nodejs:default", "code": PROBE_CODE}}
        created = self._request("PUT", path, params={"overwrite": "true"}, json=body)
        if created.status_code != 200:
            raise BackendError(
                f"creating the probe action at {self.apihost} failed: HTTP {created.status_code} "
                f"{created.text[:300]}"
            )

        def answers() -> bool:
            reply = self._request("POST", path, params={"blocking": "true", "result": "true"}, json={})
            if reply.status_code in (400, 401, 403):
                raise FatalProbe(f"the probe action was refused: HTTP {reply.status_code} {reply.text[:300]}")
            if reply.status_code != 200:
                raise BackendError(f"probe action: HTTP {reply.status_code} {reply.text[:200]}")
            return bool(reply.json().get("probe") == "ok")

        try:
            wait_or_fail(answers, what=f"a probe action at {self.apihost}", timeout=timeout)
        finally:
            self._request("DELETE", path)

    def install_monitoring(self) -> None:
        """kube-prometheus-stack with ``helm/monitoring.yaml``, scraping the release's namespace."""
        values = monitoring_values(load_values(values_dir() / "monitoring.yaml"), self.namespace)
        self.helm.install_monitoring(MONITORING_NAMESPACE, values)
        port = values.get("prometheus", {}).get("service", {}).get("nodePort", 30090)
        host = urllib.parse.urlsplit(self.apihost).hostname or "127.0.0.1"
        self.prometheus_url = f"http://{host}:{port}"
        client = PromClient(self.prometheus_url)
        wait_until(client.ready, what=f"Prometheus at {self.prometheus_url}", timeout=API_TIMEOUT)
        if energy_source(self.settings) == "kepler":
            self.helm.install_repo_chart(
                KEPLER_RELEASE, KEPLER_CHART, KEPLER_REPO, MONITORING_NAMESPACE, KEPLER_VALUES
            )
            self.energy = {"source": "kepler", "available": True, "why": ""}

    # -- cold starts ------------------------------------------------------------------------------
    def delete_action_pods(self, action: str) -> int:
        """Delete the pods of ``action`` (label ``openwhisk/action``) and wait until they are gone.

        Call it *after* bumping the action's revision (``backends.existing.bump_revision``): the
        invoker matches warm containers by action and version, so the next activation is cold
        whatever happens to the old pods; deleting them frees node CPU and memory.
        """
        return self.kube.delete_pods(self.namespace, self.kube.action_pod_selector(action))

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        key, _, secret = self.auth.partition(":")
        return self._session.request(method, self.apihost + path, auth=(key, secret), timeout=60, **kwargs)

    # -- results ----------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """Chart, values, images, kinds, limits read from what is deployed (no secrets)."""
        info: dict[str, Any] = {
            "backend": self.backend,
            "release": self.release,
            "namespace": self.namespace,
            "mode": self.mode,
            **self.chart_info,
            **summary(self.values),
            "tls": self.trust.fingerprint_info(),
        }
        if self.deployed is not None:
            info.update(self.deployed.fingerprint())
        try:
            info["nodes"] = len(self.kube.schedulable_nodes())
        except BackendError as exc:
            info["kube_error"] = str(exc)
        return info

    def capacity(self) -> dict[str, int | None]:
        """User memory, throttles and action limits of the deployed objects (see :class:`Deployed`)."""
        if self.deployed is None:
            return {}
        return self.deployed.capacity()

    def _scope(self) -> Scope:
        return Scope(backend=self.backend, namespace=self.namespace, release=self.release)

    def open_window(self, timeout: float = WINDOW_TIMEOUT) -> float | None:
        """With monitoring: wait for a Prometheus scrape newer than now; return the window start.

        Without monitoring (no ``prometheus_url``) nothing happens and None is returned. Raises
        :class:`BackendError` naming Prometheus and the series when no fresh scrape arrives in time.
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
                f"Prometheus (Status > Targets) or run without --ow-monitoring ({exc})"
            ) from None
        return time.time()

    def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """Prometheus metrics of the window (closed once OpenWhisk's counters reach ``sent``, or at a stated
        deadline), or {} without --ow-monitoring."""
        if not self.prometheus_url:
            return {}
        prom = PromClient(self.prometheus_url)
        found = window_metrics(prom, start, end, scope=self._scope(), sent=sent)
        if self.energy.get("available"):
            activations = (found.get("openwhisk") or {}).get("activations")
            found["energy"] = energy_window(
                prom, self.namespace, start, found.get("evaluated_at") or end, activations
            )
        return found

    def dump(self) -> str:
        """Pods, states and logs of the release namespace (for a failed start)."""
        return self.kube.dump(self.namespace)

    def uninstall(self) -> None:
        """Remove the release (when this session installed it)."""
        if self.installed:
            self.helm.uninstall(self.release, self.namespace)
            self.installed = False
