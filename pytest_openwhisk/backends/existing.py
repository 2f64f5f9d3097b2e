"""Backend for an OpenWhisk that is already running (any cluster, or the standalone local server).

With ``--ow-kubeconfig`` the OpenWhisk Helm release on that cluster is installed/upgraded or connected
to (:func:`pytest_openwhisk.kube.deploy.open_release`): its API address and guest key are used unless
``--ow-apihost``/``--ow-auth`` are given, cold starts also delete the old action pods, the fingerprint
includes the chart and values, and ``--ow-monitoring=on`` attaches kube-prometheus-stack metrics. The
release stays installed after the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_openwhisk import __version__
from pytest_openwhisk.backends.base import BaseBackend
from pytest_openwhisk.client import OpenWhiskClient, normalize_apihost
from pytest_openwhisk.errors import (
    ApiError,
    BackendError,
    Forbidden,
    StartupTimeout,
    ToolMissing,
    Unauthorized,
)
from pytest_openwhisk.options import Settings
from pytest_openwhisk.wait import wait_until

if TYPE_CHECKING:
    from pytest_openwhisk.kube.deploy import OpenWhiskRelease

#: how long to wait for the API to answer at session start
CONNECT_TIMEOUT_S = 30.0


def bump_revision(client: OpenWhiskClient, action: str, *, _depth: int = 0) -> None:
    """Re-PUT ``action`` unchanged (overwrite): the new revision never matches a warm container.

    For a sequence, every component in the client's namespace is bumped instead.
    """
    doc = client.get_action(action, code=True)
    exec_ = doc.get("exec") or {}
    if exec_.get("kind") == "sequence":
        if _depth > 10:
            raise BackendError(f"sequence {action!r} nests deeper than 10 levels; cannot force a cold start")
        for component in exec_.get("components") or []:
            bump_revision(client, component, _depth=_depth + 1)
        return
    keys = ("exec", "limits", "parameters", "annotations")
    body: dict[str, Any] = {key: doc[key] for key in keys if key in doc}
    client.put_action(action, body, overwrite=True)


class ExistingBackend(BaseBackend):
    """Connects to ``--ow-apihost`` with ``--ow-auth``; starts and stops nothing."""

    name = "existing"
    connect_timeout = CONNECT_TIMEOUT_S

    def __init__(self, settings: Settings, workdir: Path) -> None:
        super().__init__(settings, workdir)
        if settings.kubeconfig is None and (not settings.apihost or not settings.auth):
            raise BackendError(
                "the existing backend needs an apihost and an auth key; "
                "pass --ow-apihost and --ow-auth (or OW_APIHOST/OW_AUTH, or a ~/.wskprops), "
                "or --ow-kubeconfig to use the Helm release's address and guest key"
            )
        self.apihost = normalize_apihost(settings.apihost) if settings.apihost else ""
        self.auth = settings.auth or ""
        self._client: OpenWhiskClient | None = None
        self._release: OpenWhiskRelease | None = None
        #: pods' states and logs written when the Helm release failed to start (kubeconfig only)
        self.pod_dump: Path | None = None

    def start(self) -> None:
        """Open the Helm release (with a kubeconfig), then check the API answers and accepts the key."""
        if self.settings.kubeconfig is not None:
            self._open_release()
        self._client = client = OpenWhiskClient(
            self.apihost, self.auth, self.namespace, verify=not self.settings.insecure
        )
        tls_hint = "" if self.settings.insecure else " (self-signed certificate? add --ow-insecure)"
        try:
            wait_until(
                client.api_info,
                what=f"OpenWhisk API at {self.apihost}/api/v1",
                timeout=self.connect_timeout,
                interval=0.2,
            )
        except StartupTimeout as exc:
            raise BackendError(
                f"{exc}. Check --ow-apihost (is the cluster up and reachable from here?){tls_hint}"
            ) from None
        try:
            client.list_actions(limit=1)
        except Unauthorized as exc:
            raise BackendError(
                f"OpenWhisk at {self.apihost} rejected the auth key ({exc.error}); check --ow-auth, "
                "OW_AUTH or AUTH in ~/.wskprops (`wsk property get --auth`)"
            ) from None
        except Forbidden as exc:
            raise BackendError(
                f"the auth key may not access namespace {self.namespace!r} at {self.apihost} ({exc.error}); "
                "use --ow-namespace=_ or the key's own namespace"
            ) from None

    def _open_release(self) -> None:
        from pytest_openwhisk.kube.deploy import open_release

        try:
            self._release = release = open_release(self.settings, self.workdir)
        except ToolMissing:
            raise
        except Exception as exc:
            self._dump_pods(exc)
            raise
        self.apihost, self.auth = normalize_apihost(release.apihost), release.auth

    def _dump_pods(self, exc: BaseException) -> None:
        """Write the release namespace's pods (states, logs) next to the session and note it on ``exc``."""
        from pytest_openwhisk.kube.k8s import Kube

        try:
            kube = Kube(self.settings.kubeconfig, self.settings.kube_context)
            text = kube.dump(self.settings.helm_namespace)
            self.workdir.mkdir(parents=True, exist_ok=True)
            dump = self.workdir / "existing-pod-dump.txt"
            dump.write_text(text)
        except Exception as failed:  # the cluster may be unreachable: keep the original error
            exc.add_note(f"no pod dump: {failed}")
            return
        self.pod_dump = dump
        exc.add_note(f"pods of the failed OpenWhisk start: {dump}")

    def stop(self) -> None:
        """Close the connection pool (the cluster and any Helm release keep running)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._release = None

    def release(self) -> None:
        """Same as :meth:`stop`: nothing of ours runs on an existing cluster."""
        self.stop()

    def _require_client(self) -> OpenWhiskClient:
        if self._client is None:
            raise BackendError("the existing backend is not started; use it as a context manager")
        return self._client

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Bump the action's revision so no warm container can serve the next invocation.

        With a kubeconfig the action's old pods are then deleted (and awaited) to free the node.
        """
        bump_revision(client, action)
        if self._release is not None:
            self._release.delete_action_pods(action)

    def open_window(self) -> None:
        """With a kubeconfig and ``--ow-monitoring=on``: wait for a Prometheus scrape after everything
        so far (e.g. a warm-up), so the next window's counters start from it; else nothing."""
        if self._release is not None:
            self._release.open_window()

    def monitor(self, start: float, end: float) -> dict[str, Any]:
        """kube-prometheus-stack metrics of the window (kubeconfig and --ow-monitoring=on); else {}."""
        if self._release is None:
            return {}
        return self._release.monitor(start, end)

    def fingerprint(self) -> dict[str, Any]:
        """Build, runtime kinds and limits reported by the cluster; no secrets."""
        client = self._require_client()
        info: dict[str, Any] = {}
        try:
            info = client.info()
        except (ApiError, BackendError):
            info = {}
        api: dict[str, Any] = {}
        try:
            api = client.api_info()
        except (ApiError, BackendError):
            api = {}
        limits: dict[str, Any] = {}
        try:
            limits = client.limits()
        except (ApiError, BackendError):
            limits = {}
        runtimes = info.get("runtimes") or {}
        kinds = (
            sorted(entry.get("kind") for family in runtimes.values() for entry in family if entry.get("kind"))
            if isinstance(runtimes, dict)
            else []
        )
        found: dict[str, Any] = {
            "backend": self.name,
            "plugin_version": __version__,
            "apihost": self.apihost,
            "build": api.get("build"),
            "buildno": api.get("buildno"),
            "api_version": api.get("api_version"),
            "kinds": kinds,
            "limits": limits,
            "system_limits": info.get("limits", {}),
        }
        if self._release is not None:  # chart, images, nodes, values; the API's limits stay `limits`
            release = self._release.fingerprint()
            if "limits" in release:
                release["values_limits"] = release.pop("limits")
            found.update(release)
        return found
