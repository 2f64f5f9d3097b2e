"""The open-loop sender's knobs (:class:`SenderConfig`), each checked when the config is made.

All are bounded: nothing here can make the sender run forever. docs/workload.md has what the process,
priority and CPU knobs buy.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_openwhisk.workload.spec import WorkloadError
from pytest_openwhisk.workload.trust import Trust

PRIORITIES = ("off", "nice", "realtime")


@dataclass(frozen=True)
class SenderConfig:
    """Knobs of the sender (all bounded: nothing here can make it run forever)."""

    max_in_flight: int = 512  # outstanding requests; arrivals beyond it are dropped (recorded)
    drain_s: float = 30.0  # after the test duration, wait this long for responses, then cancel
    spin_s: float = (
        0.002  # without a timerfd: sleep until this much before the intended time, then yield-spin
    )
    lead_s: float = 0.05  # t=0 of the schedule is this far after the loop is ready (warm-up of the loop)
    interrupt_grace_s: float = 1.0  # on KeyboardInterrupt, outstanding requests get this long
    connect_timeout_s: float = 10.0
    verify_tls: bool = True  # False: no certificate checks (--ow-insecure)
    #: the backend's TLS trust (``Backend.tls_trust()``, a requests-style ``verify``): None = system CAs,
    #: a path = that certificate pinned (one non-CA certificate) or that CA bundle (docs/workload.md)
    tls_trust: Trust = None
    use_uvloop: bool = False  # uvloop's millisecond timers overshoot (measured); the timerfd needs no spin
    #: the sender in its own process (default) or in a thread of the calling process
    process: bool = True
    #: wait for arrivals on a timerfd (Linux); False: asyncio sleep + yield-spin for the last ``spin_s``
    precise_timer: bool = True
    #: the sender process's scheduling: "realtime" (SCHED_FIFO at the lowest priority, with the timerfd only;
    #: falls back to "nice"), "nice" (``nice`` for the process and its own autogroup) or "off"; each step is
    #: skipped (and noted in ``SendResult.scheduling``) when not permitted. docs/workload.md has the figures
    priority: str = "realtime"
    nice: int = -10
    #: CPU affinity of the sender process: "auto" (one CPU of its own when more than two are allowed), "off",
    #: or the CPUs to use
    cpus: str | tuple[int, ...] = "auto"
    flush_s: float = 0.05  # the sender process reports finished requests this often
    #: the HTTP client: "raw" (pre-built requests written on kept-alive connections, see workload/rawhttp.py)
    #: or "aiohttp" (a task per request)
    http: str = "raw"
    warm_connections: int = 4  # connections opened before t=0 (no request is sent on them until then)
    #: nice of the calling process's scheduling group while run() runs (Linux autogroup; < 0 needs root); the
    #: sender process (in its own group) takes it too. None leaves it (docs/workload.md)
    autogroup_nice: int | None = None

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise WorkloadError(
                f"max_in_flight = {self.max_in_flight!r} is invalid: must be >= 1; "
                "raise it (it bounds outstanding requests)"
            )
        for name in ("autogroup_nice", "nice"):
            value = getattr(self, name)
            if value is not None and not -20 <= value <= 19:
                raise WorkloadError(
                    f"{name} = {value!r} is invalid: must be -20..19 "
                    "(a nice value); use e.g. -5, or None to leave the priority alone"
                )
        if self.priority not in PRIORITIES:
            raise WorkloadError(
                f"priority = {self.priority!r} is invalid: must be one of {', '.join(PRIORITIES)}; "
                "use 'realtime' (the default), 'nice' or 'off'"
            )
        if self.http not in ("raw", "aiohttp"):
            raise WorkloadError(
                f"http = {self.http!r} is invalid: must be 'raw' or 'aiohttp'; use 'raw' (the default)"
            )
        if self.warm_connections < 0:
            raise WorkloadError(
                f"warm_connections = {self.warm_connections!r} is invalid: must be >= 0; use e.g. 4"
            )
        if isinstance(self.cpus, str) and self.cpus not in ("auto", "off"):
            raise WorkloadError(
                f"cpus = {self.cpus!r} is invalid: must be 'auto', 'off' or a tuple of CPU "
                "numbers; use e.g. (3,)"
            )
        for name in ("drain_s", "spin_s", "lead_s", "interrupt_grace_s", "connect_timeout_s", "flush_s"):
            value = getattr(self, name)
            if value < 0:
                raise WorkloadError(f"{name} = {value!r} is invalid: must be >= 0; use e.g. 1.0")
