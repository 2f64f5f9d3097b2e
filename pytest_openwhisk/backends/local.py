"""Backend running the embedded OpenWhisk (``pytest_openwhisk.local``) for the session."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_openwhisk import __version__
from pytest_openwhisk.backends.base import BaseBackend, Capacity
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.manifest import resolve_kind
from pytest_openwhisk.names import slug
from pytest_openwhisk.options import Settings

if TYPE_CHECKING:
    from pytest_openwhisk.monitoring.prometheus import LocalPrometheus


#: the fingerprint's ``energy`` when the embedded server did not say (an older server process)
NO_ENERGY_REPORT = {
    "source": "none",
    "available": False,
    "why": "the embedded server reported no energy source",
}


class _Server(Protocol):
    apihost: str
    auth: str
    namespace: str

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> Any: ...
    def evict(self, path: str | None = None) -> int: ...
    def pool_stats(self) -> dict[str, Any]: ...


#: the embedded server's activation records and logs, in the results folder (SQLite, see local/store.py)
ACTIVATION_STORE = "activations.sqlite"


def activation_store_path(settings: Settings) -> Path:
    """``<results dir>/activations.sqlite`` (``activations-<worker>.sqlite`` in a pytest-xdist worker, whose
    own server must not share the file); queryable after the run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    name = f"activations-{slug(worker)}.sqlite" if worker else ACTIVATION_STORE
    return Path(settings.results_dir) / name


def local_config(settings: Settings) -> LocalConfig:
    """The embedded server's configuration for ``settings`` (benchmark preset, pool from the options,
    activation store in the results folder)."""
    prewarm = tuple(replace(cell, kind=resolve_kind(cell.kind)) for cell in settings.prewarm)
    pool = PoolConfig(
        user_memory_mb=settings.user_memory,
        prewarm=prewarm,
        idle_container_timeout_s=settings.idle_timeout,
        isolation=settings.isolation,
    )
    config = LocalConfig.benchmark(pool=pool, activation_store=str(activation_store_path(settings)))
    profile = getattr(settings, "profile", None)  # --ow-profile: its concurrency, rate and action limits
    return replace(config, limits=profile.local_limits(config.limits)) if profile is not None else config


class LocalBackend(BaseBackend):
    """The embedded OpenWhisk on 127.0.0.1 with a fresh random key, in a child process (or a thread)."""

    name = "local"

    def __init__(self, settings: Settings, workdir: Path) -> None:
        super().__init__(settings, workdir)
        self.config = local_config(settings)
        self.server: _Server | None = None
        self._client: OpenWhiskClient | None = None
        self._prom: LocalPrometheus | None = None

    @classmethod
    def preflight(cls, settings: Settings) -> list[str]:
        """With ``--ow-monitoring=on``: a ``prometheus`` binary (the error names the install step)."""
        if not settings.monitoring:
            return []
        from pytest_openwhisk.errors import ToolMissing
        from pytest_openwhisk.monitoring.prometheus import find_prometheus

        try:
            find_prometheus()
        except ToolMissing as exc:
            return [f"{exc}; or drop --ow-monitoring=on"]
        return []

    def _make_server(self) -> _Server:
        if self.settings.local_mode == "thread":
            from pytest_openwhisk.local.server import LocalOpenWhisk

            return LocalOpenWhisk(self.config)
        from pytest_openwhisk.local.process import LocalOpenWhiskProcess

        return LocalOpenWhiskProcess(self.config)

    def start(self) -> None:
        """Start the server (on a new activation store: a previous session's file is replaced), then check it
        answers with our key."""
        if self.config.activation_store:
            remove_store(Path(self.config.activation_store))
        server = self._make_server()
        server.__enter__()
        self.server = server
        self.apihost, self.auth, self.namespace = server.apihost, server.auth, server.namespace
        self._client = OpenWhiskClient(self.apihost, self.auth, "_", verify=self.tls_trust())
        self._client.limits()  # fails fast (typed error) if the server is not serving our key
        if self.settings.monitoring:
            self._start_prometheus()

    def _start_prometheus(self) -> None:
        """A local Prometheus scraping the server's ``/metrics`` every second (``--ow-monitoring=on``).

        Raises :class:`~pytest_openwhisk.errors.ToolMissing` (with the install step) without a
        ``prometheus`` binary. Prometheus applies its scrape target a few seconds after start, so this
        waits for the first successful scrape once, here, rather than in the first measurement.
        """
        from pytest_openwhisk.monitoring.prometheus import LocalPrometheus

        prom = LocalPrometheus(f"{self.apihost}/metrics", self.workdir / "prometheus")
        prom.__enter__()
        self._prom = prom  # stop() now stops it, also when the first scrape never comes
        prom.wait_first_scrape()

    def _stop_prometheus(self) -> None:
        prom, self._prom = self._prom, None
        if prom is not None:
            prom.__exit__(None, None, None)

    def stop(self) -> None:
        """Stop Prometheus (if any), close our client and stop the server (idempotent)."""
        self._stop_prometheus()
        if self._client is not None:
            self._client.close()
            self._client = None
        server, self.server = self.server, None
        if server is not None:
            server.__exit__(None, None, None)

    def keep_hint(self) -> str | None:
        """How to stop a kept child process; a thread-mode server cannot outlive pytest."""
        if self.settings.local_mode == "thread" or self.server is None:
            return None
        pid = getattr(self.server, "pid", None)
        return f"kill {pid}" if pid else "kill the `python -m pytest_openwhisk.local serve` process"

    def release(self) -> None:
        """Keep the child process running; drop our client and handle (Prometheus is stopped)."""
        self._stop_prometheus()
        if self._client is not None:
            self._client.close()
            self._client = None
        server, self.server = self.server, None
        detach = getattr(server, "detach", None)
        if server is not None and callable(detach):
            detach()  # __exit__ then only closes our handles; the child keeps serving
            server.__exit__(None, None, None)
        elif server is not None:  # cannot outlive pytest (thread mode): stop rather than leak
            server.__exit__(None, None, None)
            self._kept_message = None

    def _require(self) -> tuple[_Server, OpenWhiskClient]:
        if self.server is None or self._client is None:
            raise BackendError("the local backend is not started; use it as a context manager")
        return self.server, self._client

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Evict the action's warm containers (admin API), so the next invocation starts cold."""
        server, _ = self._require()
        name = action.lstrip("/")
        if action.startswith("/"):
            namespace, _, rest = name.partition("/")
            path = f"{self.namespace if namespace == '_' else namespace}/{rest}"
        else:
            path = f"{self.namespace}/{name}"
        doc = client.get_action(action, code=False)
        components = (doc.get("exec") or {}).get("components")
        if components:  # a sequence: every component must start cold
            for component in components:
                self.force_cold(client, component)
            return
        server.evict(path)

    def fingerprint(self) -> dict[str, Any]:
        """Backend, package version, runtime kinds, limits, pool settings, isolation and energy; no secrets.

        ``energy``: the server's ``{"source", "available", "why"}`` (RAPL/powercap on this host, or why not).
        """
        server, client = self._require()
        info = client.info()
        runtimes = info.get("runtimes") or {}
        kinds = sorted(entry["kind"] for family in runtimes.values() for entry in family if "kind" in entry)
        pool = server.pool_stats()
        return {
            "backend": self.name,
            "plugin_version": __version__,
            "version": __version__,
            "local_mode": self.settings.local_mode,
            "kinds": kinds,
            "limits": client.limits(),
            "pool": pool.get("settings", pool),
            "isolation": pool.get("isolation", self.settings.isolation),
            "energy": pool.get("energy") or dict(NO_ENERGY_REPORT),
        }

    def tls_trust(self) -> str | bool | None:
        """The server's own certificate (``LocalConfig.tls_cert``) when it serves HTTPS (False with
        ``--ow-insecure``); None for plain HTTP."""
        if self.config.tls_cert is None:
            return None
        return False if self.settings.insecure else self.config.tls_cert

    def capacity(self) -> Capacity:
        """The pool's memory, the configured throttles and action limits (the server's own settings)."""
        limits = self.config.limits
        return Capacity(
            user_memory_mb=self.config.pool.user_memory_mb,
            concurrent_invocations=limits.concurrent_invocations,
            invocations_per_minute=limits.invocations_per_minute,
            max_action_memory_mb=limits.memory_mb_max,
            min_action_memory_mb=limits.memory_mb_min,
            max_action_timeout_ms=limits.timeout_ms_max,
            invokers=1,
        )

    def open_window(self) -> None:
        """With ``--ow-monitoring=on``: wait for a scrape after everything so far (e.g. a warm-up), so
        the next window's counters start from it (up to one scrape interval, 1 s); else nothing."""
        if self._prom is not None and self._prom.client is not None:
            self._prom.open_window()

    def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """Prometheus metrics of the window ``[start, end]`` (epoch s) with ``--ow-monitoring=on``; else {}.

        Waits for the first scrape after ``end``: the embedded server counts an activation before it
        answers, so that scrape already holds every one of the window (``sent`` is not needed).
        """
        if self._prom is None or self._prom.client is None:
            return {}
        from pytest_openwhisk.monitoring.collect import Scope, window_metrics

        return window_metrics(self._prom.client, start, end, scope=Scope(backend="local"))


def remove_store(path: Path) -> None:
    """Delete the SQLite file ``path`` with its ``-wal``/``-shm`` companions (what a previous session left),
    so the session's store holds its own activations only, as a fresh OpenWhisk would."""
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
