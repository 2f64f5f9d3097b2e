"""Backend for an OpenWhisk that is already running (any cluster, or the standalone local server).

With ``--ow-kubeconfig`` the OpenWhisk Helm release on that cluster is installed/upgraded or connected
to (:func:`pytest_openwhisk.kube.deploy.open_release`): its API address and guest key are used unless
``--ow-apihost``/``--ow-auth`` are given, cold starts also delete the old action pods, the fingerprint
includes the chart and values, and ``--ow-monitoring=on`` attaches kube-prometheus-stack metrics. The
release stays installed after the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_openwhisk import __version__
from pytest_openwhisk.backends.base import BaseBackend, Capacity
from pytest_openwhisk.client import OpenWhiskClient, normalize_apihost
from pytest_openwhisk.errors import (
    ApiError,
    BackendError,
    Forbidden,
    StartupTimeout,
    ToolMissing,
    Unauthorized,
)
from pytest_openwhisk.kube.probe import FatalProbe, wait_or_fail
from pytest_openwhisk.kube.tls import INSECURE, SYSTEM, Trust
from pytest_openwhisk.kube.tools import find_tool
from pytest_openwhisk.options import Settings

if TYPE_CHECKING:
    from pytest_openwhisk.kube.deploy import OpenWhiskRelease

#: how long to wait for the API to answer at session start
CONNECT_TIMEOUT_S = 30.0


def bump_revision(client: OpenWhiskClient, action: str, *, _depth: int = 0) -> list[str]:
    """Re-PUT ``action`` unchanged (overwrite): the new revision never matches a warm container.

    For a sequence, every component is bumped instead (a sequence has no container of its own).
    Returns the names of the actions bumped, whose old pods a cluster backend then deletes.
    """
    doc = client.get_action(action, code=True)
    exec_ = doc.get("exec") or {}
    if exec_.get("kind") == "sequence":
        if _depth > 10:
            raise BackendError(f"sequence {action!r} nests deeper than 10 levels; cannot force a cold start")
        bumped: list[str] = []
        for component in exec_.get("components") or []:
            bumped += [
                name for name in bump_revision(client, component, _depth=_depth + 1) if name not in bumped
            ]
        return bumped
    keys = ("exec", "limits", "parameters", "annotations")
    body: dict[str, Any] = {key: doc[key] for key in keys if key in doc}
    client.put_action(action, body, overwrite=True)
    return [action]


def key_namespace(client: OpenWhiskClient) -> str | None:
    """The namespace of the client's key (``GET /api/v1/namespaces``): web action URLs need it, not ``_``."""
    try:
        reply = client._http.get(f"{client.apihost}/api/v1/namespaces", timeout=client.timeout)
        names = reply.json() if reply.status_code == 200 else []
    except (ValueError, OSError):
        return None
    return str(names[0]) if isinstance(names, list) and len(names) == 1 else None


def missing_tools(tools: tuple[str, ...], needed_by: str) -> list[str]:
    """One line per tool of ``tools`` missing from PATH, naming its install step."""
    problems = []
    for tool in tools:
        try:
            find_tool(tool, needed_by)
        except ToolMissing as exc:
            problems.append(str(exc))
    return problems


def preflight(settings: Settings) -> list[str]:
    """With ``--ow-kubeconfig``: helm on PATH (install/upgrade and the release check use it)."""
    if settings.kubeconfig is None:
        return []
    return missing_tools(("helm",), "--ow-cluster=existing with --ow-kubeconfig")


def capacity_of(found: dict[str, int | None]) -> Capacity:
    """A :class:`Capacity` from the fields read from a release (unknown keys ignored)."""
    names = set(Capacity.__dataclass_fields__)
    return Capacity(**{key: value for key, value in found.items() if key in names})


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
        #: what HTTPS to the API trusts: the release's own certificate with a kubeconfig, else CAs/insecure
        self.tls = Trust(INSECURE if settings.insecure else SYSTEM)

    @classmethod
    def preflight(cls, settings: Settings) -> list[str]:
        """helm on PATH when a kubeconfig is given."""
        return preflight(settings)

    def start(self) -> None:
        """Open the Helm release (with a kubeconfig), then check the API answers and accepts the key."""
        if self.settings.kubeconfig is not None:
            self._open_release()
        self._client = client = OpenWhiskClient(
            self.apihost, self.auth, self.namespace, verify=self.tls_trust()
        )
        tls_hint = "" if self.settings.insecure else " (self-signed certificate? add --ow-insecure)"
        try:
            wait_or_fail(
                lambda: _api_info(client, self.apihost, tls_hint),
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
        if self.namespace == "_":
            self.namespace = key_namespace(client) or "_"

    def _open_release(self) -> None:
        from pytest_openwhisk.kube.deploy import open_release

        try:
            self._release = release = open_release(self.settings, self.workdir)
        except ToolMissing:
            raise
        except Exception as exc:
            self._dump_pods(exc)
            raise
        self.apihost, self.auth, self.tls = normalize_apihost(release.apihost), release.auth, release.trust

    def _dump_pods(self, exc: BaseException) -> None:
        """Write the release namespace's pods (states, logs) next to the session and note it on ``exc``."""
        from pytest_openwhisk.kube.k8s import Kube

        try:
            kube = Kube(self.settings.kubeconfig, self.settings.kube_context)
            dump = self.write_pod_dump(kube.dump(self.settings.helm_namespace), "existing-pod-dump.txt")
        except Exception as failed:  # the cluster may be unreachable: keep the original error
            exc.add_note(f"no pod dump: {failed}")
            return
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
        bumped = bump_revision(client, action)
        if self._release is not None:
            for name in bumped:
                self._release.delete_action_pods(name)

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
        """From the deployed controller/invoker with a kubeconfig; else the API's limits (memory unknown)."""
        if self._release is not None:
            return capacity_of(self._release.capacity())
        limits: dict[str, Any] = {}
        try:
            limits = self._require_client().limits()
        except (ApiError, BackendError):
            limits = {}
        return Capacity(
            concurrent_invocations=limits.get("concurrentInvocations"),
            invocations_per_minute=limits.get("invocationsPerMinute"),
            max_action_memory_mb=(limits.get("maxActionMemory") or 0) // (1024 * 1024) or None,
            min_action_memory_mb=(limits.get("minActionMemory") or 0) // (1024 * 1024) or None,
            max_action_timeout_ms=limits.get("maxActionDuration"),
        )

    def open_window(self) -> None:
        """With a kubeconfig and ``--ow-monitoring=on``: wait for a Prometheus scrape after everything
        so far (e.g. a warm-up), so the next window's counters start from it; else nothing."""
        if self._release is not None:
            self._release.open_window()

    def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """kube-prometheus-stack metrics of the window (kubeconfig and --ow-monitoring=on); else {}.

        ``sent``: invocations sent in the window; the window closes when the counters reach it."""
        if self._release is None:
            return {}
        return self._release.monitor(start, end, sent)

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
        if self._release is not None:  # chart, deployed kinds/images/limits; the API's limits stay `limits`
            release = self._release.fingerprint()
            if "limits" in release:
                release["values_limits"] = release.pop("limits")
            found.update(release)
        else:
            found["tls"] = self.tls.fingerprint_info()
        from pytest_openwhisk.kube.deploy import energy_unavailable

        found.setdefault("energy", energy_unavailable(self.settings))
        return found


def _api_info(client: OpenWhiskClient, apihost: str, tls_hint: str) -> dict[str, Any]:
    """``GET /api/v1``; a certificate problem stops waiting at once (it will not fix itself)."""
    import requests

    try:
        return client.api_info()
    except BackendError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.exceptions.SSLError) or "CERTIFICATE" in str(exc).upper():
            raise FatalProbe(f"TLS to {apihost} failed: {exc}{tls_hint}") from None
        raise
