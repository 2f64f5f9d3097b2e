"""Helm releases through pyhelm3 (which drives the ``helm`` executable).

The OpenWhisk chart is pulled (or copied from a local path) into the workdir so that our runtimes
manifest and monitoring NetworkPolicy can be added to it (:mod:`pytest_openwhisk.kube.chart`); values
reach ``helm`` on stdin, never in a file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pyhelm3
from pyhelm3 import errors as helm_errors

from pytest_openwhisk.errors import BackendError, ConfigError
from pytest_openwhisk.kube.chart import check_chart_dir, prepare_chart
from pytest_openwhisk.local.config import StemCell

T = TypeVar("T")
OPENWHISK_CHART = "openwhisk"  # chart name in https://openwhisk.apache.org/charts
MONITORING_REPO = "https://prometheus-community.github.io/helm-charts"
MONITORING_CHART = "kube-prometheus-stack"


class Helm:
    """Releases of one cluster: ``helm`` at ``executable`` with ``kubeconfig``/``context``."""

    def __init__(
        self, executable: str, kubeconfig: Path | None, context: str | None = None, timeout: str = "20m"
    ) -> None:
        self.timeout = timeout
        #: the runtimes manifest and values of the last install/upgrade
        self.deployed_manifest: dict[str, Any] = {}
        self.deployed_values: dict[str, Any] = {}
        try:
            self.client = pyhelm3.Client(
                executable=executable, kubeconfig=kubeconfig, kubecontext=context, default_timeout=timeout
            )
        except Exception as exc:  # pyhelm3 runs `helm version` here
            raise BackendError(f"`{executable} version` failed: {exc}; is it Helm 3 or 4?") from exc

    def revision(self, release: str, namespace: str) -> int | None:
        """The deployed revision of ``release``, or None when it is not installed."""
        try:
            current = _run(self.client.get_current_revision(release, namespace=namespace))
        except helm_errors.ReleaseNotFoundError:
            return None
        except helm_errors.Error as exc:
            raise _error(f"helm status {release}", exc) from None
        return int(current.revision)

    def install_openwhisk(
        self,
        release: str,
        namespace: str,
        chart: str,
        version: str | None,
        values: dict[str, Any],
        prewarm: tuple[StemCell, ...] | None,
        workdir: Path,
    ) -> dict[str, Any]:
        """Install/upgrade OpenWhisk from ``chart`` (repo URL or folder); chart name, version, revision."""
        return _run(self._install_openwhisk(release, namespace, chart, version, values, prewarm, workdir))

    async def _install_openwhisk(
        self,
        release: str,
        namespace: str,
        chart: str,
        version: str | None,
        values: dict[str, Any],
        prewarm: tuple[StemCell, ...] | None,
        workdir: Path,
    ) -> dict[str, Any]:
        target = Path(workdir) / "chart" / "openwhisk"
        if "://" not in chart:
            try:
                check_chart_dir(chart)
            except ConfigError as exc:
                raise ConfigError(
                    f"{exc}; or a chart repository URL such as https://openwhisk.apache.org/charts"
                ) from None
            return await self._install_dir(
                release, namespace, Path(chart).expanduser(), target, values, prewarm
            )
        try:
            async with self.client.pull_chart(OPENWHISK_CHART, repo=chart, version=version) as pulled:
                return await self._install_dir(release, namespace, Path(pulled.ref), target, values, prewarm)
        except helm_errors.Error as exc:
            raise _error(f"helm pull {OPENWHISK_CHART} --repo {chart}", exc) from None

    async def _install_dir(
        self,
        release: str,
        namespace: str,
        source: Path,
        chart_dir: Path,
        values: dict[str, Any],
        prewarm: tuple[StemCell, ...] | None,
    ) -> dict[str, Any]:
        values, manifest = prepare_chart(source, chart_dir, values, prewarm)
        self.deployed_manifest = manifest
        self.deployed_values = values
        try:
            chart = await self.client.get_chart(chart_dir)
            revision = await self.client.install_or_upgrade_release(
                release, chart, values, namespace=namespace, create_namespace=True, timeout=self.timeout
            )
        except helm_errors.Error as exc:
            raise _error(f"helm upgrade --install {release}", exc) from None
        return {
            "chart": chart.metadata.name,
            "chart_version": str(chart.metadata.version),
            "app_version": chart.metadata.app_version,
            "revision": int(revision.revision),
        }

    def install_monitoring(
        self, namespace: str, values: dict[str, Any], release: str = "monitoring", version: str | None = None
    ) -> dict[str, Any]:
        """Install or upgrade kube-prometheus-stack (``--ow-monitoring`` on clusters)."""
        return self.install_repo_chart(release, MONITORING_CHART, MONITORING_REPO, namespace, values, version)

    def install_repo_chart(
        self,
        release: str,
        chart_name: str,
        repo: str,
        namespace: str,
        values: dict[str, Any],
        version: str | None = None,
    ) -> dict[str, Any]:
        """Install or upgrade ``chart_name`` of the chart repository ``repo`` and wait for it."""

        async def install() -> dict[str, Any]:
            try:
                chart = await self.client.get_chart(chart_name, repo=repo, version=version)
                revision = await self.client.install_or_upgrade_release(
                    release,
                    chart,
                    values,
                    namespace=namespace,
                    create_namespace=True,
                    timeout=self.timeout,
                    wait=True,
                )
            except helm_errors.Error as exc:
                raise _error(f"helm upgrade --install {release} {chart_name} --repo {repo}", exc) from None
            return {
                "chart": chart_name,
                "chart_version": str(chart.metadata.version),
                "revision": int(revision.revision),
            }

        return _run(install())

    def deployed(self, release: str, namespace: str) -> dict[str, Any]:
        """The user-supplied values of the deployed revision of ``release`` (``helm get values``)."""
        try:
            current = _run(self.client.get_current_revision(release, namespace=namespace))
            return dict(_run(current.values()) or {})
        except helm_errors.Error as exc:
            raise _error(f"helm get values {release}", exc) from None

    def uninstall(self, release: str, namespace: str) -> None:
        """``helm uninstall`` (a release that is not there counts as uninstalled)."""
        try:
            _run(self.client.uninstall_release(release, namespace=namespace, wait=True))
        except helm_errors.Error as exc:
            raise _error(f"helm uninstall {release}", exc) from None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _error(what: str, exc: Exception) -> BackendError:
    stderr = getattr(exc, "stderr", b"")
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else str(exc)
    lines = [line for line in text.strip().splitlines() if line][-8:]
    return BackendError(f"{what} failed: {' | '.join(lines) or type(exc).__name__}")
