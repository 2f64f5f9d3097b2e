"""Waiting for something that may also fail for good (a wrong key, an untrusted certificate)."""

from __future__ import annotations

from typing import Any

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.wait import wait_until


class FatalProbe(Exception):
    """A readiness probe saw something waiting cannot fix (wrong key, untrusted certificate)."""


def wait_or_fail(
    probe: Any, *, what: str, timeout: float, interval: float = 1.0, max_interval: float = 5.0
) -> Any:
    """:func:`wait_until` that stops at once when ``probe`` raises :class:`FatalProbe`."""
    fatal: list[FatalProbe] = []

    def checked() -> Any:
        try:
            return probe()
        except FatalProbe as exc:
            fatal.append(exc)
            return True

    result = wait_until(checked, what=what, timeout=timeout, interval=interval, max_interval=max_interval)
    if fatal:
        raise BackendError(str(fatal[0])) from None
    return result
