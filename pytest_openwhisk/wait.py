"""The one place that waits: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pytest_openwhisk.errors import StartupTimeout

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.05,
    max_interval: float = 2.0,
) -> T:
    """Call ``probe`` until it returns a truthy value and return it.

    Exceptions raised by ``probe`` count as "not yet" and the last one is quoted. After ``timeout``
    seconds, raise :class:`StartupTimeout` naming ``what`` and the last error. The interval backs off
    geometrically up to ``max_interval``.
    """
    deadline = time.monotonic() + timeout
    last: str = "condition never held"
    delay = interval
    while True:
        try:
            value = probe()
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if value:
                return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StartupTimeout(f"{what} not ready after {timeout:g}s; last error: {last}")
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, max_interval)
