"""The :class:`Backend` protocol every OpenWhisk backend implements, and :class:`BaseBackend`, its defaults.

A backend is created by :func:`~pytest_openwhisk.backends.load_backend` (not started) and used as a
context manager. Before anything starts, the plugin calls the class's :meth:`Backend.preflight` once
per session: a non-empty list of problems (a missing tool with its install step) ends the session with
one message and exit status 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pytest_openwhisk.options import Settings

if TYPE_CHECKING:
    from pytest_openwhisk.client import OpenWhiskClient


@dataclass(frozen=True)
class Capacity:
    """What the deployed OpenWhisk can take, read from what is deployed (None where unknown).

    ``user_memory_mb``: memory for action containers (all invokers together);
    ``concurrent_invocations`` and ``invocations_per_minute``: the namespace's throttles;
    ``max_action_memory_mb`` / ``min_action_memory_mb``: the per-action memory limit range;
    ``max_action_timeout_ms``: the per-action time limit; ``invokers``: how many invokers serve it.
    """

    user_memory_mb: int | None = None
    concurrent_invocations: int | None = None
    invocations_per_minute: int | None = None
    max_action_memory_mb: int | None = None
    min_action_memory_mb: int | None = None
    max_action_timeout_ms: int | None = None
    invokers: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """A running OpenWhisk the fixtures can deploy to (local, kind or existing)."""

    name: str  # "local" | "kind" | "existing"
    apihost: str  # "http://127.0.0.1:3233"
    auth: str  # "uuid:key" (never logged or saved)
    namespace: str  # "guest" or "_"

    @classmethod
    def preflight(cls, settings: Settings) -> list[str]:
        """Problems that stop this backend from starting with ``settings``, checked before anything starts.

        One entry per problem, naming what is missing and how to install it (e.g. ``"kind is not on PATH;
        install it: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"``); [] when ready.
        """

    def __enter__(self) -> Backend:
        """Start; tear down a half-started backend, then re-raise."""

    def __exit__(self, *exc: object) -> None:
        """Stop, unless ``keep_cluster``."""

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Make the next invocation of ``action`` a cold start."""

    def fingerprint(self) -> dict[str, Any]:
        """Backend name, versions, runtime kinds, limits, pool settings; no secrets.

        Key ``energy``: ``{"source": str, "available": bool, "why": str}`` (why energy figures are
        unavailable, "" when they are available).
        """

    def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """Metrics for the window [start, end] (epoch s); {} when there is no monitoring.

        ``sent``: invocations OpenWhisk accepted in the window (see
        :func:`~pytest_openwhisk.measure.bench.invocations_sent`). Backends whose counters arrive late
        (kind/existing: a Kafka hop into user-events) close the window once the counters reach it;
        None = no count known (they then wait until the counters are stable).
        """

    def open_window(self) -> None:
        """Called right before a measured window (after its warm-up); monitoring waits for a fresh scrape."""

    def kept_message(self) -> str | None:
        """After ``__exit__`` with ``keep_cluster``: where the kept backend runs and how to stop it."""

    def pod_dump(self) -> str:
        """Path of the pods' states, events and logs written when the start failed; "" when none."""

    def capacity(self) -> Capacity:
        """What the deployed OpenWhisk can take (memory, throttles, action limits)."""

    def bundle_packages(self, kind: str, modules: Sequence[str], cache_dir: Path) -> dict[str, bytes] | None:
        """Zip members (``virtualenv/lib/pythonX.Y/site-packages/...`` -> bytes) holding ``modules`` built for
        the runtime image of ``kind`` on this backend; None: bundle this interpreter's installed packages."""

    def tls_trust(self) -> str | bool | None:
        """What HTTPS clients of ``apihost`` should trust, as a requests-style ``verify`` value.

        A path (a PEM CA bundle, or one self-signed certificate that is then pinned, see
        :meth:`pytest_openwhisk.kube.tls.Trust.from_verify`), True for the system's certificate
        authorities, False for no checks (``--ow-insecure``), None for the client's default.
        """


class BaseBackend:
    """Defaults of the :class:`Backend` protocol and the lifecycle shared by the backends.

    Subclasses implement :meth:`start`, :meth:`stop`, :meth:`force_cold` and :meth:`fingerprint`, and
    override the rest where they have something to say. ``__enter__`` calls :meth:`start`; if it fails,
    :meth:`stop` runs (its own failure is attached as a note) and the original error is re-raised, so
    a half-started backend leaves nothing behind. ``__exit__`` calls :meth:`stop` unless
    ``settings.keep_cluster`` and :meth:`keep_hint` has a command, in which case :meth:`release` runs
    and :meth:`kept_message` tells the user how to stop it later.
    """

    name = "base"

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.apihost = ""
        self.auth = ""
        self.namespace = settings.namespace
        self._kept_message: str | None = None
        self._pod_dump = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(apihost={self.apihost!r}, namespace={self.namespace!r})"

    @classmethod
    def preflight(cls, settings: Settings) -> list[str]:
        """Nothing to check by default."""
        return []

    def start(self) -> None:
        """Start (or connect to) OpenWhisk and set ``apihost``, ``auth``, ``namespace``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop everything :meth:`start` started; must be safe after a partial start and idempotent."""
        raise NotImplementedError

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Make the next invocation of ``action`` a cold start."""
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        """Backend name, versions, runtime kinds, limits, pool settings; no secrets."""
        raise NotImplementedError

    def keep_hint(self) -> str | None:
        """The command that stops a kept backend (None when there is nothing to stop)."""
        return None

    def release(self) -> None:
        """Drop local handles (clients, files) without stopping a kept backend."""

    def __enter__(self) -> BaseBackend:
        try:
            self.start()
        except BaseException as exc:
            try:
                self.stop()
            except Exception as cleanup:
                exc.add_note(f"cleanup of the half-started {self.name} backend also failed: {cleanup}")
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        hint = self.keep_hint() if self.settings.keep_cluster else None
        if hint:
            self._kept_message = f"{self.name} backend kept running at {self.apihost}; stop it with: {hint}"
            self.release()
        else:
            self.stop()

    def kept_message(self) -> str | None:
        """Set by ``__exit__`` when the backend was kept running (``--ow-keep-cluster``); else None."""
        return self._kept_message

    def pod_dump(self) -> str:
        """Path of the pod dump a failed start wrote (see :meth:`write_pod_dump`); "" when none."""
        return self._pod_dump

    def write_pod_dump(self, text: str, filename: str) -> Path:
        """Save ``text`` (pods' states, events, logs) as ``workdir/filename``, named by :meth:`pod_dump`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / filename
        path.write_text(text)
        self._pod_dump = str(path)
        return path

    def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
        """No monitoring by default (``sent`` is not needed)."""
        return {}

    def open_window(self) -> None:
        """No monitoring by default, so nothing to wait for."""

    def capacity(self) -> Capacity:
        """Nothing known by default (every field None)."""
        return Capacity()

    def tls_trust(self) -> str | bool | None:
        """None: the client's default (the system's certificate authorities)."""
        return None

    def bundle_packages(self, kind: str, modules: Sequence[str], cache_dir: Path) -> dict[str, bytes] | None:
        """None: actions run on this host's Python (the embedded server), so its installed packages fit."""
        return None
