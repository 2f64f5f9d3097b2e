"""Errors of the function catalogue: an invalid manifest, a failed output check."""

from __future__ import annotations

from pytest_openwhisk.errors import ConfigError, OpenWhiskError


class ManifestError(ConfigError):
    """A manifest is invalid; the message names the file, the field and the fix."""


class CheckFailed(OpenWhiskError, AssertionError):
    """A function's output did not pass its manifest check."""


class KindUnavailable(ConfigError):
    """The backend has no runtime for a function's kind; the message names the kinds it has."""
