"""Helm releases through pyhelm3 (which drives the ``helm`` executable).

The OpenWhisk chart is pulled (or copied from a local path) into the workdir so that our runtime
manifest can be added to it (the chart reads ``whisk.runtimes`` with ``.Files.Get``); values reach
``helm`` on stdin, never in a file.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pyhelm3
from pyhelm3 import errors as helm_errors

from pytest_openwhisk.errors import BackendError, ConfigError
from pytest_openwhisk.kube.values import RUNTIMES_FILE, runtimes_manifest
from pytest_openwhisk.local.config import StemCell

T = TypeVar("T")
OPENWHISK_CHART = "openwhisk"  # chart name in https://openwhisk.apache.org/charts
MONITORING_REPO = "https://prometheus-community.github.io/helm-charts"
MONITORING_CHART = "kube-prometheus-stack"


def prepare_chart(chart_dir: Path, values: dict[str, Any],
                  prewarm: tuple[StemCell, ...] | None) -> dict[str, Any]:
    """Write our runtime manifest into ``chart_dir`` and return ``values`` selecting it.

    The manifest is the chart's own (``whisk.runtimes`` of ``values``, default ``runtimes.json``)
    with the stem cells of ``prewarm`` (None keeps the chart's, ``()`` removes them all).
    """
    source_name = str(values.get("whisk", {}).get("runtimes") or "runtimes.json")
    source = chart_dir / source_name
    if not source.is_file():
        raise ConfigError(f"the chart at {chart_dir} has no runtime manifest {source_name!r} "
                          "(whisk.runtimes); point --ow-chart at the openwhisk chart folder (helm/openwhisk)")
    manifest = runtimes_manifest(json.loads(source.read_text()), prewarm)
    (chart_dir / RUNTIMES_FILE).write_text(json.dumps(manifest, indent=2))
    whisk = dict(values.get("whisk", {}))
    whisk["runtimes"] = RUNTIMES_FILE
    return {**values, "whisk": whisk}


class Helm:
    """Releases of one cluster: ``helm`` at ``executable`` with ``kubeconfig``/``context``."""

    def __init__(self, executable: str, kubeconfig: Path | None, context: str | None = None,
                 timeout: str = "20m") -> None:
        self.timeout = timeout
        try:
            self.client = pyhelm3.Client(executable=executable, kubeconfig=kubeconfig, kubecontext=context,
                                         default_timeout=timeout)
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

    def install_openwhisk(self, release: str, namespace: str, chart: str, version: str | None,
                          values: dict[str, Any], prewarm: tuple[StemCell, ...] | None,
                          workdir: Path) -> dict[str, Any]:
        """Install/upgrade OpenWhisk from ``chart`` (repo URL or folder); chart name, version, revision."""
        return _run(self._install_openwhisk(release, namespace, chart, version, values, prewarm, workdir))

    async def _install_openwhisk(self, release: str, namespace: str, chart: str, version: str | None,
                                 values: dict[str, Any], prewarm: tuple[StemCell, ...] | None,
                                 workdir: Path) -> dict[str, Any]:
        local = Path(chart).expanduser()
        if "://" not in chart:
            if not (local / "Chart.yaml").is_file():
                raise ConfigError(f"chart {chart!r} (--ow-chart) is neither a chart repository URL nor a "
                                  "chart folder with Chart.yaml; use https://openwhisk.apache.org/charts or "
                                  "the path of openwhisk-deploy-kube/helm/openwhisk")
            target = Path(workdir) / "chart" / local.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(local, target)
            return await self._install_dir(release, namespace, target, values, prewarm)
        try:
            async with self.client.pull_chart(OPENWHISK_CHART, repo=chart, version=version) as pulled:
                return await self._install_dir(release, namespace, Path(pulled.ref), values, prewarm)
        except helm_errors.Error as exc:
            raise _error(f"helm pull {OPENWHISK_CHART} --repo {chart}", exc) from None

    async def _install_dir(self, release: str, namespace: str, chart_dir: Path, values: dict[str, Any],
                           prewarm: tuple[StemCell, ...] | None) -> dict[str, Any]:
        values = prepare_chart(chart_dir, values, prewarm)
        try:
            chart = await self.client.get_chart(chart_dir)
            revision = await self.client.install_or_upgrade_release(
                release, chart, values, namespace=namespace, create_namespace=True, timeout=self.timeout)
        except helm_errors.Error as exc:
            raise _error(f"helm upgrade --install {release}", exc) from None
        return {"chart": chart.metadata.name, "chart_version": str(chart.metadata.version),
                "app_version": chart.metadata.app_version, "revision": int(revision.revision)}

    def install_monitoring(self, namespace: str, values: dict[str, Any], release: str = "monitoring",
                           version: str | None = None) -> dict[str, Any]:
        """Install or upgrade kube-prometheus-stack (``--ow-monitoring`` on clusters)."""

        async def install() -> dict[str, Any]:
            try:
                chart = await self.client.get_chart(MONITORING_CHART, repo=MONITORING_REPO, version=version)
                revision = await self.client.install_or_upgrade_release(
                    release, chart, values, namespace=namespace, create_namespace=True, timeout=self.timeout,
                    wait=True)
            except helm_errors.Error as exc:
                raise _error(f"helm upgrade --install {release} {MONITORING_CHART}", exc) from None
            return {"chart": MONITORING_CHART, "chart_version": str(chart.metadata.version),
                    "revision": int(revision.revision)}

        return _run(install())

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
