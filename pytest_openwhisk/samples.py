"""The per-invocation record every measurement produces (closed-loop benchmarks and open-loop workloads).

A :class:`Sample` joins what the client saw (send/receive times, HTTP status) with the activation
record (start, end, duration, waitTime, initTime, status, cost). Everything downstream (SLOs,
pytest-benchmark JSON, the regression gate, the workload analyzer) reads samples, never raw HTTP.
:func:`apply_record` is the one place an activation record is read into a sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: activation ``response.status`` strings, plus client-side outcomes that never reached a record
STATUS_SUCCESS = "success"
CLIENT_ERROR = "client error"  # connection refused/reset, HTTP error without a record
ACCEPTED_NO_RESULT = "accepted"  # 202 after the blocking wait, record fetched later or not at all
#: status of a record whose ``response`` says neither its status nor success
STATUS_UNKNOWN = "unknown"
#: annotation (our own name, never OpenWhisk's) with what an activation cost:
#: ``{"cpu_ms", "memory_peak_mb", "memory_rss_mb", "attribution", "energy_j"?}``
COST_ANNOTATION = "pytest-openwhisk/cost"
#: longest error message kept in a sample
MAX_ERROR_CHARS = 500
#: the per-sample columns saved in ``extra_info.ow_samples`` (and read back by the regression gate)
SAMPLE_COLUMNS = (
    "latency_ms", "duration_ms", "wait_ms", "init_ms", "cpu_ms", "memory_mb", "energy_j", "cold", "error",
)  # fmt: skip


@dataclass
class Sample:
    """One invocation as measured by the client and recorded by OpenWhisk (times in ms)."""

    action: str  # action name as invoked
    sent: float  # epoch seconds when the request was sent
    received: float  # epoch seconds when the response was complete
    latency_ms: float  # client latency: (received - sent) * 1000
    http_status: int  # 0 when no HTTP response
    status: str  # activation response.status, or CLIENT_ERROR / ACCEPTED_NO_RESULT
    activation_id: str | None = None
    start_ms: int | None = None  # activation start (epoch ms)
    end_ms: int | None = None
    duration_ms: float | None = None  # activation duration (includes init on cold start)
    wait_ms: float | None = None  # waitTime annotation
    init_ms: float | None = None  # initTime annotation (cold starts only)
    cold: bool = False  # initTime present
    error: str | None = None  # error message (result.error or client exception)
    intended: float | None = None  # open loop: epoch seconds the schedule intended to send at
    mode: str = "warm"  # "warm", "cold", "concurrent", "open-loop", ...
    cpu_ms: float | None = None  # CPU time (user + sys) of the activation's container (cost annotation)
    memory_mb: float | None = None  # peak RSS of the container's process tree during the activation
    energy_j: float | None = None  # energy attributed to the activation (joules), where measurable

    @property
    def ok(self) -> bool:
        """True when the activation succeeded."""
        return self.status == STATUS_SUCCESS

    @property
    def overhead_ms(self) -> float | None:
        """Client latency minus activation duration (platform + network overhead)."""
        if self.duration_ms is None:
            return None
        return self.latency_ms - self.duration_ms

    @property
    def latency_from_intended_ms(self) -> float | None:
        """Open loop: latency measured from the intended send time (no coordinated omission)."""
        if self.intended is None:
            return None
        return (self.received - self.intended) * 1000.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no results, no secrets)."""
        return asdict(self)

    def column(self, name: str) -> float | int | None:
        """This sample's value in one of :data:`SAMPLE_COLUMNS` (``cold``/``error`` as 0/1)."""
        if name == "cold":
            return int(self.cold)
        if name == "error":
            return int(not self.ok)
        if name not in SAMPLE_COLUMNS:
            raise ValueError(f"unknown sample column {name!r}; allowed: {', '.join(SAMPLE_COLUMNS)}")
        value: float | None = getattr(self, name)
        return value


def annotation(record: Mapping[str, Any], key: str) -> Any:
    """The value of annotation ``key`` in an activation record, or None."""
    for item in record.get("annotations") or ():
        if isinstance(item, Mapping) and item.get("key") == key:
            return item.get("value")
    return None


def number(value: Any) -> float | None:
    """``value`` as a float when it is a JSON number (booleans are not numbers here); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _epoch_ms(value: Any) -> int | None:
    found = number(value)
    return int(found) if found else None  # 0 means "not set" in a record


def apply_record(sample: Sample, record: Mapping[str, Any]) -> Sample:
    """Fill ``sample`` from an activation record (in place) and return it.

    Reads the id, ``start``/``end`` (0 counts as absent), ``duration``, the ``waitTime`` and
    ``initTime`` annotations (numbers only; a sample is cold when ``initTime`` is present, OpenWhisk
    sets it on cold starts only), ``response.status`` (or ``success`` when a record has no status),
    the error (``result.error``, else the status, cut to :data:`MAX_ERROR_CHARS`) and the
    :data:`COST_ANNOTATION` (``cpu_ms``, ``memory_peak_mb`` -> ``memory_mb``, ``energy_j``).
    """
    found_id = record.get("activationId")
    if isinstance(found_id, str):
        sample.activation_id = found_id
    sample.start_ms, sample.end_ms = _epoch_ms(record.get("start")), _epoch_ms(record.get("end"))
    sample.duration_ms = number(record.get("duration"))
    sample.wait_ms = number(annotation(record, "waitTime"))
    sample.init_ms = number(annotation(record, "initTime"))
    sample.cold = sample.init_ms is not None
    raw_response = record.get("response")
    response: Mapping[str, Any] = raw_response if isinstance(raw_response, Mapping) else {}
    status = response.get("status")
    if isinstance(status, str) and status:
        sample.status = status
    elif isinstance(response.get("success"), bool):
        sample.status = STATUS_SUCCESS if response["success"] else STATUS_UNKNOWN
    elif response:
        sample.status = STATUS_UNKNOWN
    result = response.get("result")
    if sample.status == STATUS_SUCCESS:
        sample.error = None
    elif response:
        error = result.get("error") if isinstance(result, Mapping) and "error" in result else sample.status
        sample.error = str(error)[:MAX_ERROR_CHARS]
    cost = annotation(record, COST_ANNOTATION)
    if isinstance(cost, Mapping):
        sample.cpu_ms = number(cost.get("cpu_ms"))
        sample.memory_mb = number(cost.get("memory_peak_mb"))
        sample.energy_j = number(cost.get("energy_j"))
    return sample


def sample_from_record(
    action: str,
    record: Mapping[str, Any],
    *,
    sent: float,
    received: float,
    latency_ms: float,
    http_status: int,
    mode: str,
) -> Sample:
    """A new Sample joining the client's timing with an activation record (see :func:`apply_record`)."""
    sample = Sample(
        action=action,
        sent=sent,
        received=received,
        latency_ms=latency_ms,
        http_status=http_status,
        status=STATUS_UNKNOWN,
        mode=mode,
    )
    return apply_record(sample, record)
