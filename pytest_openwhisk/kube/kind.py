"""kind clusters through pytest-kind's ``KindCluster``, with our node layout and port mappings.

pytest-kind downloads ``kind``/``kubectl`` into ``./.pytest-kind`` when not given a path; we always
give it the executables found on PATH (so nothing is downloaded) and keep its files in our workdir.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from pytest_kind import KindCluster

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.kube.tools import run

API_NODE_PORT = 31001  # nginx httpsNodePort of the chart = https://localhost:31001
PROMETHEUS_NODE_PORT = 30090  # kube-prometheus-stack Prometheus (helm/monitoring.yaml)
CORE, INVOKER = "core", "invoker"  # values of the openwhisk-role node label
ROLE_LABEL = "openwhisk-role"


def kind_config(
    workers: int = 2, ports: tuple[int, ...] = (API_NODE_PORT, PROMETHEUS_NODE_PORT)
) -> dict[str, Any]:
    """A kind ``Cluster``: one control plane and ``workers`` workers; the NodePorts mapped on 127.0.0.1."""
    if workers < 1:
        raise ValueError(f"a kind cluster for OpenWhisk needs at least 1 worker, got {workers}")
    mappings = [
        {"containerPort": p, "hostPort": p, "listenAddress": "127.0.0.1", "protocol": "TCP"} for p in ports
    ]
    nodes: list[dict[str, Any]] = [{"role": "control-plane", "extraPortMappings": mappings}]
    nodes += [{"role": "worker"} for _ in range(workers)]
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": nodes}


def node_roles(nodes: list[str]) -> dict[str, str]:
    """``openwhisk-role`` per schedulable node: the last runs the invoker and actions, the others the core.

    One node gets ``invoker`` (the core's affinity is only preferred, the invoker's is required).
    """
    ordered = sorted(nodes)
    if not ordered:
        return {}
    roles = {name: CORE for name in ordered[:-1]}
    roles[ordered[-1]] = INVOKER
    return roles


class Kind(KindCluster):  # type: ignore[misc]
    """pytest-kind's cluster with explicit executables and files under ``workdir`` (no downloads)."""

    def __init__(self, name: str, workdir: Path, kind_path: str, kubectl_path: str | None = None) -> None:
        # KindCluster.__init__ creates ./.pytest-kind/<name> in the current directory: set its fields here.
        self.name = name
        self.image = None
        self.path = Path(workdir) / "kind"
        self.path.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path = self.path / "kubeconfig"
        self.kind_path = Path(kind_path)
        self.kubectl_path = Path(kubectl_path) if kubectl_path else self.path / "kubectl-missing"
        self.platform = "linux"
        self.config_path = self.path / "kind-config.yaml"

    def exists(self) -> bool:
        """True when ``kind get clusters`` lists this cluster."""
        out = run(
            [str(self.kind_path), "get", "clusters"], env=os.environ, timeout=60, what="kind get clusters"
        )
        return self.name in out.split()

    def create_with(self, config: dict[str, Any]) -> None:
        """Create the cluster from ``config`` (pytest-kind ``create``) and write its kubeconfig."""
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        try:
            self.create(config_file=self.config_path)
        except subprocess.CalledProcessError as exc:
            raise BackendError(
                f"kind create cluster --name={self.name} failed (exit {exc.returncode}); "
                "see its output above (is Docker running with enough memory?)"
            ) from exc
        self.write_kubeconfig()

    def write_kubeconfig(self) -> Path:
        """(Re)write the kubeconfig of the cluster, e.g. when reusing one created earlier; 0600."""
        text = run(
            [str(self.kind_path), "get", "kubeconfig", f"--name={self.name}"],
            env=os.environ,
            timeout=60,
            what="kind get kubeconfig",
        )
        self.kubeconfig_path.touch(0o600, exist_ok=True)
        self.kubeconfig_path.write_text(text)
        return Path(self.kubeconfig_path)

    def remove(self) -> None:
        """``kind delete cluster`` with errors quoted (pytest-kind's ``delete`` hides stderr)."""
        run(
            [
                str(self.kind_path),
                "delete",
                "cluster",
                f"--name={self.name}",
                f"--kubeconfig={self.kubeconfig_path}",
            ],
            env=os.environ,
            timeout=300,
            what="kind delete cluster",
        )

    def delete_command(self) -> str:
        """The command a user runs to delete a kept cluster."""
        return f"kind delete cluster --name {self.name}"
