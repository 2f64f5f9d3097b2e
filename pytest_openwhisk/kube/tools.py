"""The external programs of the Kubernetes backends (docker, kind, helm, kubectl): finding and running them.

Every "not found" error names the program, what needs it and the install step; every failed run
quotes the command and the tail of its stderr.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence

from pytest_openwhisk.errors import BackendError, ToolMissing

INSTALL_HINTS: dict[str, str] = {
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/) and check that "
    "`docker info` works",
    "kind": "install kind (`go install sigs.k8s.io/kind@v0.23.0`, or a release binary from "
    "https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
    "helm": "install Helm 3 (https://helm.sh/docs/intro/install/, e.g. `curl -fsSL "
    "https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | bash`)",
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
}


def find_tool(name: str, needed_by: str) -> str:
    """Absolute path of ``name`` on PATH, or :class:`ToolMissing` naming the install step."""
    found = shutil.which(name)
    if found is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise ToolMissing(
            f"'{name}' was not found on PATH (needed by {needed_by}); {hint}; "
            "or run without a cluster: --ow-cluster=local"
        )
    return found


def tail(text: str | bytes | None, lines: int = 15) -> str:
    """The last ``lines`` lines of a process output, for error messages."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 600.0, what: str = ""
) -> str:
    """Run ``argv``, return its stdout; :class:`BackendError` quoting the command and stderr when it fails."""
    shown = " ".join(argv)
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackendError(
            f"{what or shown} did not finish within {timeout:g}s: `{shown}`; "
            f"output: {tail(exc.stderr) or tail(exc.stdout)}"
        ) from exc
    except OSError as exc:
        raise BackendError(f"{what or shown} could not start `{shown}`: {exc}") from exc
    if done.returncode != 0:
        raise BackendError(
            f"{what or shown} failed (exit {done.returncode}): `{shown}`\n"
            f"{tail(done.stderr) or tail(done.stdout)}"
        )
    return done.stdout


def check_docker(docker: str, env: Mapping[str, str] | None = None) -> None:
    """Fail fast when the Docker daemon does not answer (kind needs it)."""
    try:
        run([docker, "info", "--format", "{{.ServerVersion}}"], env=env, timeout=30, what="docker info")
    except BackendError as exc:
        raise BackendError(
            f"docker is installed but its daemon does not answer ({exc}); start Docker "
            "(e.g. `sudo systemctl start docker`) and make sure your user may use it "
            "(`docker info`), or use --ow-cluster=local"
        ) from exc
