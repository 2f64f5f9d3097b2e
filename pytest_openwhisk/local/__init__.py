"""The embedded OpenWhisk: controller (REST API) + invoker (container pool over runtime processes).

``LocalOpenWhisk`` runs it in a thread of this process, ``LocalOpenWhiskProcess`` in a child process
(``python -m pytest_openwhisk.local serve``); both are context managers with the same attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_openwhisk.local.config import LocalConfig

if TYPE_CHECKING:
    from pytest_openwhisk.local.process import LocalOpenWhiskProcess
    from pytest_openwhisk.local.server import LocalOpenWhisk

__all__ = ["LocalConfig", "LocalOpenWhisk", "LocalOpenWhiskProcess"]


def __getattr__(name: str) -> Any:  # lazy: importing the package must not pull in aiohttp
    if name == "LocalOpenWhisk":
        from pytest_openwhisk.local.server import LocalOpenWhisk

        return LocalOpenWhisk
    if name == "LocalOpenWhiskProcess":
        from pytest_openwhisk.local.process import LocalOpenWhiskProcess

        return LocalOpenWhiskProcess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
