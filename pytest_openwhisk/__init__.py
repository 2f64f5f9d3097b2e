"""pytest-openwhisk: serverless benchmarks as pytest tests for Apache OpenWhisk.

The public API: the client, the action factory, the settings, the backends and the errors. The
pytest side (options, fixtures, markers) is registered by the ``pytest_openwhisk.plugin`` entry point.
"""

__version__ = "0.1.0"

from pytest_openwhisk.actions import Action, ActionFactory
from pytest_openwhisk.backends import Backend, load_backend
from pytest_openwhisk.benchjson import FingerprintWarning
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
from pytest_openwhisk.options import Settings
from pytest_openwhisk.samples import Sample
from pytest_openwhisk.session import OpenWhiskSession
from pytest_openwhisk.slo import assert_slo
from pytest_openwhisk.wait import wait_until

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
