"""The per-invocation record every measurement produces (closed-loop benchmarks and open-loop workloads).

A :class:`Sample` joins what the client saw (send/receive times, HTTP status) with the activation
record (start, end, duration, waitTime, initTime, status). Everything downstream (SLOs, pytest-benchmark
JSON, the regression gate, the workload analyzer) reads samples, never raw HTTP.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: activation ``response.status`` strings, plus client-side outcomes that never reached a record
STATUS_SUCCESS = "success"
CLIENT_ERROR = "client error"  # connection refused/reset, HTTP error without a record
ACCEPTED_NO_RESULT = "accepted"  # 202 after the blocking wait, record fetched later or not at all


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


def annotation(record: dict[str, Any], key: str) -> Any:
    """The value of annotation ``key`` in an activation record, or None."""
    for item in record.get("annotations") or ():
        if item.get("key") == key:
            return item.get("value")
    return None
