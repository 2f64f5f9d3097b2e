"""Activation records (``WhiskActivation``) built from the invoker's :class:`RunOutcome`.

Field meanings follow docs/local.md "Activation records": ``namespace``/``subject`` of the invoking identity,
``start``/``end`` from the invoker (cold: start = /init start), ``duration = end - start`` for primitives
and the sum of component durations for sequences, ``response`` without ``statusCode``, annotations in
the order OpenWhisk emits them plus our ``isolation`` (how the "container" was isolated).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.local.logs import format_line
from pytest_openwhisk.local.store import Activation, filter_key
from pytest_openwhisk.local.types import STATUS_STRINGS, SUCCESS, WHISK_ERROR, ActionSpec, RunOutcome

PROVISION_ERROR = "Failed to provision resources to run the action."


def now_ms() -> int:
    return int(time.time() * 1000)


def new_activation_id() -> str:
    """32 lowercase hex characters (a UUID without dashes), like ``ActivationId.generate``."""
    return f"{random.getrandbits(128):032x}"  # ids are not secrets: no system call per id


def response_json(status_code: int, result: Any, size: int | None = None) -> dict[str, Any]:
    """The API view of ``ActivationResponse`` (``statusCode`` stripped, ``success``/``status`` added)."""
    if status_code != SUCCESS and isinstance(result, dict) and set(result) != {"error"} and "error" in result:
        result = {"error": result["error"]}  # only the error field survives an error response
    response: dict[str, Any] = {
        "status": STATUS_STRINGS[status_code],
        "success": status_code == SUCCESS,
        "result": result,
    }
    if size is not None:
        response["size"] = size
    return response


@dataclass(frozen=True)
class Caller:
    """The invoking identity as the records show it."""

    namespace: str
    subject: str


def _limits(spec: ActionSpec) -> dict[str, int]:
    return {
        "concurrency": spec.concurrency,
        "logs": spec.logs_mb,
        "memory": spec.memory_mb,
        "timeout": spec.timeout_ms,
    }


def primitive(
    caller: Caller, spec: ActionSpec, activation_id: str, outcome: RunOutcome, cause: str | None
) -> Activation:
    """The stored record of one primitive activation."""
    annotations: list[dict[str, Any]] = [
        {"key": "limits", "value": _limits(spec)},
        {"key": "path", "value": spec.path},
        {"key": "kind", "value": spec.kind},
        {"key": "timeout", "value": outcome.timed_out},
    ]
    if cause is not None:
        annotations.append({"key": "causedBy", "value": "sequence"})
    if outcome.init_ms is not None:
        annotations.append({"key": "initTime", "value": outcome.init_ms})
    annotations.append({"key": "waitTime", "value": outcome.wait_ms})
    if spec.binding is not None:  # ContainerProxy: invoked through a package binding
        annotations.append({"key": "binding", "value": spec.binding})
    annotations.append({"key": "isolation", "value": outcome.isolation})
    annotations.extend(outcome.annotations)
    record: dict[str, Any] = {
        "namespace": caller.namespace,
        "name": spec.name,
        "version": spec.version,
        "subject": caller.subject,
        "activationId": activation_id,
        "start": outcome.start_ms,
        "end": outcome.end_ms,
        "duration": outcome.end_ms - outcome.start_ms,
        "response": response_json(outcome.status_code, outcome.result, outcome.size),
        "logs": outcome.logs,
        "annotations": annotations,
        "publish": False,
    }
    if cause is not None:
        record["cause"] = cause
    return Activation(record, outcome.status_code, filter_key(caller.namespace, spec.name, spec.path))


def internal_error(received_at: float, detail: str) -> RunOutcome:
    """The outcome recorded when the invoker raised instead of returning (whisk internal error)."""
    end = now_ms()
    return RunOutcome(
        status_code=WHISK_ERROR,
        result={"error": PROVISION_ERROR},
        start_ms=end,
        end_ms=end,
        wait_ms=max(0, end - int(received_at * 1000)),
        logs=[format_line(time.time_ns(), "stderr", detail)],
    )


def sequence(
    caller: Caller,
    *,
    name: str,
    version: str,
    path: str,
    activation_id: str,
    start: int,
    end: int,
    status_code: int,
    result: Any,
    size: int | None,
    component_ids: list[str],
    duration: int,
    limits: dict[str, int],
    wait_ms: int,
    cause: str | None,
    conductor: bool = False,
    binding: str | None = None,
) -> Activation:
    """The stored record of a sequence activation (logs = component ids, duration = their sum).

    ``conductor``: a composition's record (annotation ``conductor: true`` after ``kind``); ``binding``: the
    package binding it was invoked through (annotation ``binding``, as ``SequenceActions`` adds it)."""
    annotations: list[dict[str, Any]] = [
        {"key": "topmost", "value": cause is None},
        {"key": "path", "value": path},
        {"key": "kind", "value": "sequence"},
    ]
    if conductor:
        annotations.append({"key": "conductor", "value": True})
    if cause is not None:
        annotations.append({"key": "causedBy", "value": "sequence"})
    annotations.append({"key": "waitTime", "value": wait_ms})
    if binding is not None:
        annotations.append({"key": "binding", "value": binding})
    annotations.append({"key": "limits", "value": limits})
    record: dict[str, Any] = {
        "namespace": caller.namespace,
        "name": name,
        "version": version,
        "subject": caller.subject,
        "activationId": activation_id,
        "start": start,
        "end": end,
        "duration": duration,
        "response": response_json(status_code, result, size),
        "logs": component_ids,
        "annotations": annotations,
        "publish": False,
    }
    if cause is not None:
        record["cause"] = cause
    return Activation(record, status_code, filter_key(caller.namespace, name, path))


def blocking_view(activation: Activation) -> dict[str, Any]:
    """What a blocking invoke returns: the record with ``logs: []`` (logs only in the stored record)."""
    view = dict(activation.record)
    view["logs"] = []
    return view
