"""Contract between the embedded controller (REST API) and the embedded invoker (container pool).

The controller resolves an action revision into an :class:`ActionSpec`, wraps one invocation in a
:class:`RunRequest` and awaits ``Invoker.run``, which always returns a :class:`RunOutcome` (it never
raises for action faults: those are status codes 1-3, as in OpenWhisk's ``ActivationResponse``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: statusCode values of OpenWhisk's ActivationResponse (internal) and the status strings clients see.
SUCCESS, APPLICATION_ERROR, DEVELOPER_ERROR, WHISK_ERROR = 0, 1, 2, 3
STATUS_STRINGS: Mapping[int, str] = {
    SUCCESS: "success",
    APPLICATION_ERROR: "application error",
    DEVELOPER_ERROR: "action developer error",
    WHISK_ERROR: "whisk internal error",
}


class Fault(enum.Enum):
    """Why the controller refused a request, in OpenWhisk's terms (the HTTP layer maps each to a status)."""

    BAD_REQUEST = "bad request"  # 400
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not found"  # 404
    NOT_ALLOWED = "method not allowed"  # 405
    CONFLICT = "conflict"  # 409
    TOO_LARGE = "too large"  # 413
    UNPROCESSABLE = "unprocessable"  # 422
    THROTTLED = "throttled"  # 429
    UNAVAILABLE = "unavailable"  # 503


class ControllerError(Exception):
    """A refused request raised by the controller's domain code (entities, sequences, controller).

    It carries OpenWhisk's message; the HTTP layer answers it in the error envelope with the fault's
    status."""

    def __init__(self, fault: Fault, message: str) -> None:
        super().__init__(message)
        self.fault = fault
        self.message = message


def malformed_content(message: str) -> ControllerError:
    """A request body that does not deserialise (Pekko's MalformedRequestContentRejection wording)."""
    return ControllerError(Fault.BAD_REQUEST, f"The request content was malformed:\n{message}")


@dataclass(frozen=True)
class ActionSpec:
    """One immutable revision of a primitive action, as the invoker needs it."""

    namespace: str  # namespace that owns the action, e.g. "guest"
    path: str  # "guest/name" or "guest/pkg/name" (no leading slash), the record's `path` annotation
    name: str  # simple name
    version: str  # semver "0.0.1"
    revision: str  # changes on every update; warm containers only serve the same revision
    kind: str  # resolved kind, e.g. "python:3.11", "nodejs:20"
    code: str  # source text, or base64 zip when binary
    binary: bool
    main: str  # entry point, "main" by default
    timeout_ms: int
    memory_mb: int
    logs_mb: int
    concurrency: int
    init_env: Mapping[str, str] = field(default_factory=dict)  # init-flagged params, stringified
    provide_api_key: bool = False
    binding: str | None = None  # "ns/binding" when invoked through a package binding (record annotation)


@dataclass
class RunRequest:
    """One activation of a primitive action handed from the controller to the invoker."""

    action: ActionSpec
    params: dict[str, Any] | list[Any]  # merged stored params + request body
    activation_id: str  # 32 lowercase hex
    transaction_id: str  # 32 chars
    invoker_namespace: str  # namespace of the invoking identity (warm reuse is per namespace + revision)
    api_key: str  # "uuid:key" of the caller; only forwarded when action.provide_api_key
    received_at: float  # time.time() when the controller accepted the request (waitTime origin)
    # called once with the outcome as soon as the result is known and the container is healthy, before
    # the logs are collected (outcome.logs is still empty then); the invoker may not call it at all
    on_result: Callable[[RunOutcome], None] | None = None


@dataclass
class RunOutcome:
    """What happened to one RunRequest; the controller turns it into an activation record."""

    status_code: int  # SUCCESS .. WHISK_ERROR
    result: Any  # success: the action's object/array; errors: {"error": ...}
    start_ms: int  # epoch ms; on a cold start = /init start (run start - init time)
    end_ms: int  # epoch ms, end of /run (or of the failure)
    wait_ms: int  # received_at -> start of /init (cold) or /run (warm)
    init_ms: int | None = None  # set only on a cold start (the cold-start marker)
    timed_out: bool = False  # run or init hit the action's time limit
    size: int | None = None  # length of the container's response body when known
    logs: list[str] = field(default_factory=list)  # formatted "<ts> stdout: text" lines
    container_id: str = ""  # which runtime process served it
    isolation: str = "none"  # "bwrap" or "none"
    prewarmed: bool = False  # served by a prewarmed stem cell (initialised on demand)
    annotations: list[dict[str, Any]] = field(default_factory=list)  # extra record annotations (invoker's)


class InvokerProtocol(Protocol):
    """What the controller needs from the container pool."""

    async def start(self) -> None:
        """Start the pool (spawn prewarmed stem cells)."""

    async def stop(self) -> None:
        """Kill every runtime process; idempotent."""

    async def run(self, request: RunRequest) -> RunOutcome:
        """Schedule, run and interpret one activation; never raises for action faults."""

    async def evict(self, namespace: str | None = None, path: str | None = None) -> int:
        """Destroy idle and busy-after-finish containers of an action (all when path is None).

        Returns the number of containers removed; the next invocation is a cold start."""

    def stats(self) -> dict[str, Any]:
        """Pool state for /metrics and the fingerprint: containers by state, memory used, settings."""
