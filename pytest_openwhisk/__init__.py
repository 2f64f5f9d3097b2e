"""pytest-openwhisk: serverless benchmarks as pytest tests for Apache OpenWhisk.

The public API: the client, the action factory, the settings, the backends and the errors. The
pytest side (options, fixtures, markers) is registered by the ``pytest_openwhisk.plugin`` entry point.

Exports are loaded lazily (PEP 562): ``import pytest_openwhisk`` imports nothing else, so the embedded
server's process (``python -m pytest_openwhisk.local serve``) never loads pytest, numpy, requests or
pytest-benchmark through this package.
"""

import importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

__version__ = "0.1.0"

if _TYPE_CHECKING:
    from pytest_openwhisk.actions import Action, ActionFactory
    from pytest_openwhisk.backends import Backend, load_backend
    from pytest_openwhisk.client import InvokeResult, OpenWhiskClient
    from pytest_openwhisk.errors import (
        ActivationFailed,
        ApiError,
        BackendError,
        BadRequest,
        ConfigError,
        Conflict,
        Forbidden,
        NotFound,
        OpenWhiskError,
        PayloadTooLarge,
        SloViolation,
        StartupTimeout,
        Throttled,
        ToolMissing,
        Unauthorized,
    )
    from pytest_openwhisk.measure import Measurement
    from pytest_openwhisk.measure.compare import FingerprintWarning
    from pytest_openwhisk.options import Settings
    from pytest_openwhisk.samples import Sample
    from pytest_openwhisk.session import OpenWhiskSession
    from pytest_openwhisk.slo import assert_slo
    from pytest_openwhisk.wait import wait_until

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Action": "pytest_openwhisk.actions",
    "ActionFactory": "pytest_openwhisk.actions",
    "Backend": "pytest_openwhisk.backends",
    "load_backend": "pytest_openwhisk.backends",
    "InvokeResult": "pytest_openwhisk.client",
    "OpenWhiskClient": "pytest_openwhisk.client",
    **{
        name: "pytest_openwhisk.errors"
        for name in (
            "ActivationFailed",
            "ApiError",
            "BackendError",
            "BadRequest",
            "ConfigError",
            "Conflict",
            "Forbidden",
            "NotFound",
            "OpenWhiskError",
            "PayloadTooLarge",
            "SloViolation",
            "StartupTimeout",
            "Throttled",
            "ToolMissing",
            "Unauthorized",
        )
    },
    "FingerprintWarning": "pytest_openwhisk.measure.compare",
    "Measurement": "pytest_openwhisk.measure",
    "Settings": "pytest_openwhisk.options",
    "Sample": "pytest_openwhisk.samples",
    "OpenWhiskSession": "pytest_openwhisk.session",
    "assert_slo": "pytest_openwhisk.slo",
    "wait_until": "pytest_openwhisk.wait",
}

__all__ = [
    "Action",
    "ActionFactory",
    "ActivationFailed",
    "ApiError",
    "Backend",
    "BackendError",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "FingerprintWarning",
    "Forbidden",
    "InvokeResult",
    "Measurement",
    "NotFound",
    "OpenWhiskClient",
    "OpenWhiskError",
    "OpenWhiskSession",
    "PayloadTooLarge",
    "Sample",
    "Settings",
    "SloViolation",
    "StartupTimeout",
    "Throttled",
    "ToolMissing",
    "Unauthorized",
    "__version__",
    "assert_slo",
    "load_backend",
    "wait_until",
]


def __getattr__(name: str) -> _Any:
    """Import a public name's module on first use (PEP 562) and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
