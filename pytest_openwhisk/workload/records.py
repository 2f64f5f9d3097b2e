"""Copy what an OpenWhisk activation record says about one invocation into a :class:`Sample`."""

from __future__ import annotations

from typing import Any

from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, Sample, annotation

#: status of a scheduled request the sender did not send (in-flight bound, interrupt); reason in ``error``
DROPPED = "dropped"
#: status classes that did not come from an activation record
CLIENT_SIDE = (DROPPED, CLIENT_ERROR)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def apply_record(sample: Sample, record: dict[str, Any]) -> None:
    """Fill ``sample`` from an activation record (ids, times, waitTime, initTime, status, error)."""
    sample.activation_id = record.get("activationId", sample.activation_id)
    start, end = record.get("start"), record.get("end")
    sample.start_ms = int(start) if isinstance(start, int | float) and start else None
    sample.end_ms = int(end) if isinstance(end, int | float) and end else None
    sample.duration_ms = _number(record.get("duration"))
    sample.wait_ms = _number(annotation(record, "waitTime"))
    sample.init_ms = _number(annotation(record, "initTime"))
    sample.cold = sample.init_ms is not None  # FaaSProfiler's rule: initTime present (non-zero) = cold
    response = record.get("response") or {}
    status = response.get("status")
    if isinstance(status, str):
        sample.status = status
    result = response.get("result")
    if isinstance(result, dict) and "error" in result and sample.status != "success":
        sample.error = str(result["error"])[:500]
    elif sample.status == "success":
        sample.error = None


def error_class(sample: Sample) -> str | None:
    """The class an unsuccessful sample is counted under (None when it succeeded).

    An accepted (non-blocking) request whose activation record never appeared counts as
    ``"no activation record"``: its outcome is unknown.
    """
    if sample.ok:
        return None
    if sample.status == ACCEPTED_NO_RESULT:
        return "no activation record"
    if sample.status == CLIENT_ERROR and sample.http_status:
        return f"HTTP {sample.http_status}"
    return sample.status
