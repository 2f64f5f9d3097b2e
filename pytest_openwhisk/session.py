"""The one object pytest-openwhisk keeps in ``config.stash``: settings, backend, client, measurements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_openwhisk.options import Settings

if TYPE_CHECKING:
    from pytest_openwhisk.backends.base import Backend
    from pytest_openwhisk.client import OpenWhiskClient


@dataclass
class OpenWhiskSession:
    """State shared by the hooks and fixtures of one pytest run.

    ``backend`` and ``client`` are set by the session fixtures once OpenWhisk is running;
    ``measurements`` is appended to by ``ow_bench`` and read by the terminal summary;
    ``deployed`` holds the names of actions the fixtures created and have not deleted yet (a safety
    net swept when the session's client closes, e.g. after Ctrl-C).
    """

    settings: Settings
    backend: Backend | None = None
    client: OpenWhiskClient | None = None
    measurements: list[Any] = field(default_factory=list)
    deployed: set[str] = field(default_factory=set)
    cleanup_failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed in the terminal summary (e.g. kept cluster)

    def sweep(self) -> list[str]:
        """Delete every action still recorded in ``deployed``; return the names that could not be deleted."""
        if self.client is None:
            return sorted(self.deployed)
        failed: list[str] = []
        for name in sorted(self.deployed):
            try:
                self.client.delete_action(name, missing_ok=True)
            except Exception:
                failed.append(name)
            else:
                self.deployed.discard(name)
        return failed


SESSION_KEY = pytest.StashKey[OpenWhiskSession]()
