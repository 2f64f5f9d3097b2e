"""``--ow-cluster=kind``: a kind cluster (pytest-kind) with OpenWhisk installed by Helm.

Start: create the cluster (or reuse one of the same name, which is then never deleted), label the
nodes ``openwhisk-role=core|invoker``, ``helm upgrade --install`` the openwhisk-deploy-kube chart with
``helm/openwhisk-kind.yaml`` + options + ``--ow-values``, wait for the new revision to roll out and a
probe action to answer, then use ``https://localhost:31001`` (kind maps the nginx NodePort) trusting
the release's own certificate, with the chart's guest key unless ``--ow-auth`` overrides it. Stop:
delete the cluster this session created unless ``--ow-keep-cluster``. A failed start writes a pod dump.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_openwhisk.backends.base import BaseBackend, Capacity
from pytest_openwhisk.backends.existing import bump_revision, capacity_of, missing_tools
from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.kube.deploy import OpenWhiskRelease, energy_unavailable, given
from pytest_openwhisk.kube.k8s import Kube
from pytest_openwhisk.kube.kind import API_NODE_PORT, ROLE_LABEL, Kind, kind_config, node_roles
from pytest_openwhisk.kube.tls import Trust
from pytest_openwhisk.kube.tools import check_docker, find_tool
from pytest_openwhisk.options import Settings

if TYPE_CHECKING:
    from pytest_openwhisk.client import OpenWhiskClient

NEEDED_BY = "--ow-cluster=kind"


def preflight(settings: Settings) -> list[str]:
    """docker, kind and helm on PATH (each missing one named with its install step)."""
    return missing_tools(("docker", "kind", "helm"), NEEDED_BY)


class KindBackend(BaseBackend):
    """OpenWhisk on a local kind cluster (needs Docker, kind and Helm)."""

    name = "kind"
    api_url = f"https://localhost:{API_NODE_PORT}"  # the nginx NodePort, mapped to 127.0.0.1 by kind

    def __init__(self, settings: Settings, workdir: Path) -> None:
        super().__init__(settings, workdir)
        self.cluster_name = settings.kind_cluster_name
        self.kind: Kind | None = None
        self.deployment: OpenWhiskRelease | None = None
        self.created = False
        if not given(settings, "namespace"):  # ~/.wskprops NAMESPACE belongs to another OpenWhisk
            self.namespace = "_"
        self.tls = Trust("insecure" if settings.insecure else "system")

    @classmethod
    def preflight(cls, settings: Settings) -> list[str]:
        """docker, kind and helm on PATH."""
        return preflight(settings)

    def start(self) -> None:
        """Create or reuse the cluster, install OpenWhisk, wait until it serves a probe action."""
        docker = find_tool("docker", NEEDED_BY)
        kind = find_tool("kind", NEEDED_BY)
        find_tool("helm", NEEDED_BY)  # fail before creating a cluster we could not install into
        check_docker(docker)
        self.kind = Kind(self.cluster_name, self.workdir, kind, shutil.which("kubectl"))
        if self.kind.exists():
            kubeconfig = self.kind.write_kubeconfig()
        else:
            self.created = True
            self.kind.create_with(kind_config())
            kubeconfig = Path(self.kind.kubeconfig_path)
        self.deployment = deployment = OpenWhiskRelease(
            self.settings,
            self.workdir,
            kubeconfig=kubeconfig,
            context=None,
            base_values="openwhisk-kind.yaml",
            backend=self.name,
        )
        try:
            label_nodes(deployment.kube)
            deployment.install(apihost=self.api_url)
            if self.settings.monitoring:
                deployment.install_monitoring()
        except BaseException as exc:
            path = self.write_pod_dump(deployment.dump(), "kind-pod-dump.txt")
            exc.add_note(f"pods of the failed OpenWhisk start: {path}")
            raise
        self.apihost, self.auth, self.tls = deployment.apihost, deployment.auth, deployment.trust
        if self.namespace == "_":  # web action URLs need the key's namespace itself
            self.namespace = deployment.key_namespace() or "_"

    def stop(self) -> None:
        """Delete the kind cluster if this session created it (everything in it goes with it)."""
        kind, self.kind = self.kind, None
        self.deployment = None
        if kind is not None and self.created:
            kind.remove()

    def release(self) -> None:
        """Keep the cluster; drop our handles."""
        self.kind = None
        self.deployment = None

    def keep_hint(self) -> str | None:
        """How to delete a kept cluster (only one this session created)."""
        return f"kind delete cluster --name {self.cluster_name}" if self.created else None

    def _require_release(self) -> OpenWhiskRelease:
        if self.deployment is None:
            raise BackendError("the kind backend is not started; use it as a context manager")
        return self.deployment

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Bump the revision of the action (of every component of a sequence), then delete their old pods.

        The revision bump is what makes the next activation cold (warm containers are matched by
        action version); deleting the old pods frees the node for the measurement.
        """
        release = self._require_release()
        for name in bump_revision(client, action):
            release.delete_action_pods(name)

    def fingerprint(self) -> dict[str, Any]:
        """Chart, deployed kinds/images/limits, nodes; no secrets."""
        info = self._require_release().fingerprint()
        info["kind_cluster"] = self.cluster_name
        info["kind_cluster_created"] = self.created
        info.setdefault("energy", energy_unavailable(self.settings))
        return info

    def bundle_packages(self, kind: str, modules: Sequence[str], cache_dir: Path) -> dict[str, bytes]:
        """Site-packages members for a zipped action of ``kind`` bundling ``modules``: binary wheels for the
        Python and platform of the cluster's runtime image (not this host's), see ``kube.wheels``."""
        from pytest_openwhisk.kube.wheels import cluster_bundle

        return cluster_bundle(modules, kind, cache_dir)

    def tls_trust(self) -> str | bool | None:
        """The release's own certificate (a file in the session's folder, pinned by the clients) once
        started with a kubeconfig; True (system CAs) without one; False with ``--ow-insecure``."""
        return self.tls.verify_value(self.workdir / "tls")

    def capacity(self) -> Capacity:
        """User memory, throttles and action limits of the deployed controller and invoker."""
        return capacity_of(self._require_release().capacity())

    def open_window(self) -> None:
        """With ``--ow-monitoring=on``: wait for a Prometheus scrape after everything so far; else nothing."""
        if self.deployment is not None:
            self.deployment.open_window()

    def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """Prometheus (kube-prometheus-stack) metrics of the window; {} without --ow-monitoring.

        ``sent``: invocations sent in the window; the window closes when the counters reach it."""
        return self._require_release().monitor(start, end, sent)


def label_nodes(kube: Kube) -> dict[str, str]:
    """Label the schedulable nodes ``openwhisk-role=core|invoker`` (see ``kube.kind.node_roles``)."""
    roles = node_roles(kube.schedulable_nodes())
    if not roles:
        raise BackendError("the kind cluster has no schedulable node")
    for node, role in roles.items():
        kube.label_node(node, {ROLE_LABEL: role})
    return roles
