"""The few Kubernetes API calls the backends make, over the official ``kubernetes`` client.

Node labels, readiness of the controller and the install-packages job (naming the pod that holds
things up), action pods by label (cold starts), NodePorts, image tags, and a pod dump for failures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.kube.tls import Trust
from pytest_openwhisk.wait import wait_until

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
#: labels KubernetesContainerFactory puts on action pods (WhiskPodBuilder, KubernetesContainer.initialize)
ACTION_POD = "user-action-pod=true"
ACTION_LABEL = "openwhisk/action"


class Kube:
    """A connection to one cluster (kubeconfig file + optional context)."""

    def __init__(self, kubeconfig: Path | None, context: str | None = None) -> None:
        try:
            api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None, context=context
            )
        except (k8s_config.ConfigException, OSError) as exc:
            raise BackendError(
                f"cannot load kubeconfig {str(kubeconfig or '~/.kube/config')!r}"
                f"{f' (context {context!r})' if context else ''}: {exc}"
            ) from exc
        self.core = k8s.CoreV1Api(api)
        self.batch = k8s.BatchV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.api = api
        self.server = api.configuration.host

    # -- nodes -----------------------------------------------------------------------------------
    def schedulable_nodes(self) -> list[str]:
        """Names of the nodes workloads may run on (control-plane nodes excluded when workers exist)."""
        nodes = self._call("list nodes", self.core.list_node).items
        workers = [n.metadata.name for n in nodes if CONTROL_PLANE not in (n.metadata.labels or {})]
        return sorted(workers or [n.metadata.name for n in nodes])

    def node_addresses(self) -> list[str]:
        """InternalIP/ExternalIP addresses of all nodes (ExternalIP first)."""
        found: list[str] = []
        for node in self._call("list nodes", self.core.list_node).items:
            for kind in ("ExternalIP", "InternalIP"):
                found += [a.address for a in (node.status.addresses or []) if a.type == kind]
        return found

    def label_node(self, name: str, labels: dict[str, str]) -> None:
        """Set ``labels`` on node ``name`` (merge patch)."""
        self._call(f"label node {name}", self.core.patch_node, name, {"metadata": {"labels": labels}})

    # -- readiness -------------------------------------------------------------------------------
    def pods(self, namespace: str, selector: str = "") -> list[Any]:
        """Pods of ``namespace`` matching the label ``selector``."""
        return list(
            self._call(
                f"list pods in {namespace}", self.core.list_namespaced_pod, namespace, label_selector=selector
            ).items
        )

    def wait_rollout(self, namespace: str, release: str, timeout: float) -> None:
        """Wait until the release's current revision runs: every Deployment/StatefulSet/DaemonSet labelled
        ``release=<release>`` has observed its latest spec and has all replicas updated and ready, and the
        ``<release>-install-packages`` Job has succeeded.

        An old Ready controller does not count while a new one rolls out (``observedGeneration`` and
        ``updatedReplicas`` follow the latest spec). The :class:`StartupTimeout` names what was missing.
        """
        wait_until(
            lambda: self._rolled_out(namespace, release),
            what=f"rollout of OpenWhisk release {release!r} in namespace {namespace!r}",
            timeout=timeout,
            interval=0.5,
            max_interval=5.0,
        )

    def workloads(self, namespace: str, release: str) -> list[dict[str, Any]]:
        """The release's Deployments, StatefulSets and DaemonSets as plain dicts (``kind`` set)."""
        found: list[dict[str, Any]] = []
        selector = f"release={release}"
        for kind, fn in (
            ("Deployment", self.apps.list_namespaced_deployment),
            ("StatefulSet", self.apps.list_namespaced_stateful_set),
            ("DaemonSet", self.apps.list_namespaced_daemon_set),
        ):
            items = self._call(f"list {kind}s in {namespace}", fn, namespace, label_selector=selector).items
            for item in items:
                data = self.api.sanitize_for_serialization(item)
                data["kind"] = kind
                found.append(data)
        return found

    def workload(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The StatefulSet, Deployment or DaemonSet ``name`` as a plain dict, or None."""
        for kind, fn in (
            ("StatefulSet", self.apps.read_namespaced_stateful_set),
            ("Deployment", self.apps.read_namespaced_deployment),
            ("DaemonSet", self.apps.read_namespaced_daemon_set),
        ):
            try:
                item = fn(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise BackendError(
                    f"Kubernetes API at {self.server}: read {kind} {name} failed: HTTP "
                    f"{exc.status} {exc.reason}"
                ) from None
            data: dict[str, Any] = self.api.sanitize_for_serialization(item)
            data["kind"] = kind
            return data
        return None

    def _rolled_out(self, namespace: str, release: str) -> bool:
        workloads = self.workloads(namespace, release)
        if not any(w["metadata"]["name"] == f"{release}-controller" for w in workloads):
            raise BackendError(
                f"no controller workload ({release}-controller) yet; {_describe_pods(self.pods(namespace))}"
            )
        for item in workloads:
            waiting = _rollout_gap(item)
            if waiting:
                name = item["metadata"]["name"]
                pods = self.pods(namespace, f"name={name}")
                raise BackendError(f"{item['kind']} {name}: {waiting}; {_describe_pods(pods)}")
        job_name = f"{release}-install-packages"
        try:
            job = self.batch.read_namespaced_job(job_name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise BackendError(f"job {job_name} does not exist yet") from None
            raise BackendError(f"reading job {job_name}: HTTP {exc.status} {exc.reason}") from None
        if not (job.status and job.status.succeeded):
            pods = self.pods(namespace, f"name={job_name}")
            raise BackendError(f"job {job_name} has not completed; {_describe_pods(pods)}")
        return True

    def release_trust(self, namespace: str, release: str, timeout: float) -> Trust:
        """Pin the certificate of the release's nginx (TLS Secret ``<release>-nginx``, made by gen-certs)."""
        name = f"{release}-nginx"

        def read() -> Trust:
            try:
                secret = self.core.read_namespaced_secret(name, namespace)
            except ApiException as exc:
                raise BackendError(
                    f"secret {namespace}/{name}: HTTP {exc.status} {exc.reason} (the chart's "
                    "gen-certs job creates it)"
                ) from None
            data = {str(k): str(v) for k, v in (secret.data or {}).items()}
            if "tls.crt" not in data:
                raise BackendError(f"secret {namespace}/{name} has no tls.crt")
            return Trust.from_secret(data, f"secret {namespace}/{name}")

        result: Trust = wait_until(
            read,
            what=f"the certificate of release {release!r}",
            timeout=timeout,
            interval=0.5,
            max_interval=5.0,
        )
        return result

    # -- action pods (cold starts) ---------------------------------------------------------------
    def action_pod_selector(self, action: str) -> str:
        """Label selector of the pods running ``action`` (the name without namespace/package)."""
        name = action.rsplit("/", 1)[-1]
        return f"{ACTION_POD},{ACTION_LABEL}={name}"

    def delete_pods(self, namespace: str, selector: str, timeout: float = 120.0) -> int:
        """Delete the pods matching ``selector`` and wait until they are gone; how many there were."""
        names = [p.metadata.name for p in self.pods(namespace, selector)]
        for name in names:
            try:
                self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise BackendError(f"deleting pod {name}: HTTP {exc.status} {exc.reason}") from None
        if names:
            wait_until(
                lambda: not self.pods(namespace, selector),
                what=f"deletion of pods {', '.join(names)} ({selector})",
                timeout=timeout,
            )
        return len(names)

    # -- services, images, dumps -----------------------------------------------------------------
    def node_port(self, namespace: str, service: str, port: int | str) -> int:
        """The nodePort of ``service``'s port (number or name)."""
        svc = self._call(f"read service {service}", self.core.read_namespaced_service, service, namespace)
        for item in svc.spec.ports or []:
            if port in (item.port, item.name) and item.node_port:
                return int(item.node_port)
        raise BackendError(
            f"service {namespace}/{service} has no NodePort for port {port!r}; "
            "set whisk.ingress.type=NodePort in the values"
        )

    def images(self, namespace: str, release: str) -> dict[str, str]:
        """Image of the controller and invoker containers (for the fingerprint)."""
        found: dict[str, str] = {}
        for component in ("controller", "invoker"):
            for pod in self.pods(namespace, f"name={release}-{component}"):
                for container in pod.spec.containers:
                    found[component] = container.image
        return found

    def dump(self, namespace: str, log_lines: int = 40) -> str:
        """Pods, their states and recent logs of the pods that are not ready: for failure reports."""
        lines = [f"# pods in {namespace} ({self.server})"]
        try:
            pods = self.pods(namespace)
        except BackendError as exc:
            return f"{lines[0]}\n{exc}"
        for pod in pods:
            lines.append(_describe(pod))
        for pod in pods:
            if _is_ready(pod) or (pod.status and pod.status.phase == "Succeeded"):
                continue
            for container in pod.spec.containers:
                try:
                    log = self.core.read_namespaced_pod_log(
                        pod.metadata.name, namespace, container=container.name, tail_lines=log_lines
                    )
                except ApiException as exc:
                    log = f"(no log: HTTP {exc.status})"
                lines.append(f"## {pod.metadata.name}/{container.name}\n{log}")
        return "\n".join(lines)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise BackendError(
                f"Kubernetes API at {self.server}: {what} failed: HTTP {exc.status} {exc.reason}"
            ) from None
        except urllib3.exceptions.MaxRetryError as exc:
            raise BackendError(
                f"Kubernetes API at {self.server} unreachable ({what}): {exc.reason}"
            ) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # connection refused, DNS, TLS
            raise BackendError(f"Kubernetes API at {self.server} unreachable ({what}): {exc}") from None


def _rollout_gap(item: dict[str, Any]) -> str:
    """What keeps a workload (plain dict) from being rolled out, or "" when it is."""
    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return "the latest spec is not observed yet"
    if item["kind"] == "DaemonSet":
        want = int(status.get("desiredNumberScheduled") or 0)
        if (
            int(status.get("updatedNumberScheduled") or 0) < want
            or int(status.get("numberReady") or 0) < want
        ):
            return f"{status.get('numberReady') or 0}/{want} updated pods ready"
        return ""
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated, ready = int(status.get("updatedReplicas") or 0), int(status.get("readyReplicas") or 0)
    if updated < want or ready < want:
        return f"{min(updated, ready)}/{want} replicas of the new revision ready"
    if (
        item["kind"] == "StatefulSet"
        and status.get("updateRevision")
        and status.get("currentRevision") != status.get("updateRevision")
    ):
        return "pods still run the previous revision"
    if int(status.get("replicas") or 0) > want:
        return "old replicas still terminating"
    return ""


def _is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _describe(pod: Any) -> str:
    """``name (Phase: reason)``, the reason taken from the first waiting/terminated container."""
    status = pod.status
    phase = status.phase if status else "Unknown"
    reason = ""
    for cs in [*(status.init_container_statuses or []), *(status.container_statuses or [])] if status else []:
        state = cs.state
        if state and state.waiting:
            reason = state.waiting.reason or ""
            break
        if state and state.terminated and state.terminated.exit_code:
            reason = f"{state.terminated.reason} exit {state.terminated.exit_code}"
            break
    return f"{pod.metadata.name} ({phase}{': ' + reason if reason else ''})"


def _describe_pods(pods: list[Any]) -> str:
    waiting = [_describe(p) for p in pods if not _is_ready(p) and p.status and p.status.phase != "Succeeded"]
    return "waiting for " + ", ".join(waiting) if waiting else "no pods waiting"
