"""Exception hierarchy of pytest-openwhisk."""

from __future__ import annotations

from typing import Any


class OpenWhiskError(Exception):
    """Base of every error this package raises."""


class BackendError(OpenWhiskError):
    """A backend (local, kind, existing) could not start, answer or stop."""


class StartupTimeout(BackendError):
    """Something did not become ready before its deadline."""


class ToolMissing(BackendError):
    """An external tool (docker, kind, helm, kubectl, node) is not installed."""


class ConfigError(OpenWhiskError):
    """A configuration file or value is invalid (the message names the value and the fix)."""


class ApiError(OpenWhiskError):
    """The OpenWhisk REST API answered with an HTTP error.

    ``status`` is the HTTP status, ``error`` the server's message, ``code`` its transaction id and
    ``body`` the decoded body.
    """

    def __init__(
        self,
        status: int,
        error: str,
        code: str | None = None,
        body: Any = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.error = error
        self.code = code
        self.body = body
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"HTTP {status}{where}: {error}")


class BadRequest(ApiError):
    """400."""


class Unauthorized(ApiError):
    """401: missing or invalid auth key."""


class Forbidden(ApiError):
    """403: the key may not access that namespace."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: exists (without overwrite) or concurrent modification."""


class PayloadTooLarge(ApiError):
    """413."""


class Throttled(ApiError):
    """429: invocations per minute or concurrent invocations exceeded."""


class ActivationFailed(ApiError):
    """502/500 on a blocking invoke: the activation ended with an error (record in ``body``)."""


class SloViolation(OpenWhiskError, AssertionError):
    """One or more SLO targets were missed; the message is the table of metric/target/observed."""


STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: Throttled,
    500: ActivationFailed,
    502: ActivationFailed,
}
