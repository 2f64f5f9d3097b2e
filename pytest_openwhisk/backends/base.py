"""The :class:`Backend` protocol every OpenWhisk backend implements, and a base class for the lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pytest_openwhisk.options import Settings

if TYPE_CHECKING:
    from pytest_openwhisk.client import OpenWhiskClient


@runtime_checkable
class Backend(Protocol):
    """A running OpenWhisk the fixtures can deploy to (local, kind or existing)."""

    name: str  # "local" | "kind" | "existing"
    apihost: str  # "http://127.0.0.1:3233"
    auth: str  # "uuid:key" (never logged or saved)
    namespace: str  # "guest" or "_"

    def __enter__(self) -> Backend:
        """Start; tear down a half-started backend, then re-raise."""

    def __exit__(self, *exc: object) -> None:
        """Stop, unless ``keep_cluster``."""

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Make the next invocation of ``action`` a cold start."""

    def fingerprint(self) -> dict[str, Any]:
        """Backend name, versions, runtime kinds, limits, pool settings; no secrets."""

    def monitor(self, start: float, end: float) -> dict[str, Any]:
        """Metrics for the window [start, end] (epoch s); {} when there is no monitoring."""


class BaseBackend:
    """Lifecycle shared by the backends: ``start()``/``stop()`` wrapped in a safe context manager.

    ``__enter__`` calls :meth:`start`; if it fails, :meth:`stop` runs (its own failure is attached as
    a note) and the original error is re-raised, so a half-started backend leaves nothing behind.
    ``__exit__`` calls :meth:`stop` unless ``settings.keep_cluster``, in which case :attr:`kept_message`
    tells the user how to stop it later.
    """

    name = "base"

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.apihost = ""
        self.auth = ""
        self.namespace = settings.namespace
        self.kept_message: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(apihost={self.apihost!r}, namespace={self.namespace!r})"

    def start(self) -> None:
        """Start (or connect to) OpenWhisk and set ``apihost``, ``auth``, ``namespace``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop everything :meth:`start` started; must be safe after a partial start and idempotent."""
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
            self.kept_message = f"{self.name} backend kept running at {self.apihost}; stop it with: {hint}"
            self.release()
        else:
            self.stop()

    def monitor(self, start: float, end: float) -> dict[str, Any]:
        """No monitoring by default."""
        return {}

    def open_window(self) -> None:
        """Called right before a measured window (after its warm-up); monitoring backends wait there
        for a fresh scrape so that earlier activity is not counted in the window. No-op by default."""
