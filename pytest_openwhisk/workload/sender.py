"""The open-loop sender: fire every scheduled request at its intended time, never waiting on responses.

The sender runs an asyncio loop (the default loop; uvloop on request) with one aiohttp session in a
dedicated thread, so a slow action never delays the next arrival (no coordinated omission). Timing:
sleep until ``spin_s`` before the intended time, then yield to the loop until it is reached, so responses keep
being processed while the sender waits. Each request records its intended and actual send time.

Bounds: at most ``max_in_flight`` requests are outstanding (an arrival beyond it is recorded as
``dropped`` with the reason); everything still in flight at ``duration + drain_s`` is cancelled and
recorded as a client error. :meth:`OpenLoopSender.run` also stops cleanly on KeyboardInterrupt: unsent
arrivals become ``dropped``, outstanding ones get a short grace, and the partial result is returned with
``interrupted=True`` (the caller saves it and re-raises).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from pytest_openwhisk.loops import new_event_loop
from pytest_openwhisk.names import ACTIVATION_ID_HEADER
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, STATUS_SUCCESS, Sample, apply_record
from pytest_openwhisk.workload.records import DROPPED
from pytest_openwhisk.workload.schedule import Arrival, Schedule, build_schedule
from pytest_openwhisk.workload.spec import Workload, WorkloadError


@dataclass(frozen=True)
class SenderConfig:
    """Knobs of the sender (all bounded: nothing here can make it run forever)."""

    max_in_flight: int = 512  # outstanding requests; arrivals beyond it are dropped (recorded)
    drain_s: float = 30.0  # after the test duration, wait this long for responses, then cancel
    spin_s: float = 0.002  # sleep until this much before the intended time, then yield-spin
    lead_s: float = 0.05  # t=0 of the schedule is this far after run() starts (warm-up of the loop)
    interrupt_grace_s: float = 1.0  # on KeyboardInterrupt, outstanding requests get this long
    connect_timeout_s: float = 10.0
    verify_tls: bool = True  # False for self-signed kind/existing clusters (like FaaSProfiler)
    use_uvloop: bool = False  # uvloop's millisecond timers overshoot the spin window (measured)
    #: nice of the sender's scheduling group while it runs (Linux autogroup; < 0 needs root), e.g. -5 when the
    #: server under test shares the machine; None leaves it (docs/workload.md, "Sharing a small machine")
    autogroup_nice: int | None = None

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise WorkloadError(
                f"max_in_flight = {self.max_in_flight!r} is invalid: must be >= 1; "
                "raise it (it bounds outstanding requests)"
            )
        if self.autogroup_nice is not None and not -20 <= self.autogroup_nice <= 19:
            raise WorkloadError(f"autogroup_nice = {self.autogroup_nice!r} is invalid: must be -20..19 "
                                "(a nice value); use e.g. -5, or None to leave the priority alone")
        for name in ("drain_s", "spin_s", "lead_s", "interrupt_grace_s", "connect_timeout_s"):
            value = getattr(self, name)
            if value < 0:
                raise WorkloadError(f"{name} = {value!r} is invalid: must be >= 0; use e.g. 1.0")


@dataclass
class Counters:
    """Live counters, written by the sender thread and read by the progress display."""

    scheduled: int = 0
    sent: int = 0
    completed: int = 0
    failed: int = 0
    dropped: int = 0
    in_flight: int = 0
    elapsed_s: float = 0.0
    duration_s: float = 0.0


@dataclass
class Record:
    """One scheduled request and its outcome."""

    arrival: Arrival
    sample: Sample

    @property
    def instance(self) -> str:
        """Name of the instance that scheduled this request."""
        return self.arrival.instance


@dataclass
class SendResult:
    """Everything the sender observed (records in schedule order)."""

    workload: Workload
    schedule: Schedule
    records: list[Record]
    started: float  # epoch s of schedule t=0
    ended: float  # epoch s when the sender stopped
    interrupted: bool = False
    config: SenderConfig = field(default_factory=SenderConfig)

    @property
    def samples(self) -> list[Sample]:
        """The samples, in schedule order."""
        return [r.sample for r in self.records]


def invoke_url(apihost: str, namespace: str, action: str, *, blocking: bool, web: bool = False) -> str:
    """URL of an invoke (``result=false``, like FaaSProfiler) or of a web action (``data_file``)."""
    path = "/".join(quote(part, safe="@.&-_") for part in action.strip("/").split("/"))
    if web:
        if "/" not in action.strip("/"):
            path = f"default/{path}"
        return f"{apihost.rstrip('/')}/api/v1/web/{quote(namespace)}/{path}"
    flag = "true" if blocking else "false"
    base = f"{apihost.rstrip('/')}/api/v1/namespaces/{quote(namespace)}/actions/{path}"
    return f"{base}?blocking={flag}&result=false"


@dataclass(frozen=True)
class _Target:
    url: str
    body: bytes | None
    headers: dict[str, str]
    web: bool


class OpenLoopSender:
    """Sends a workload's schedule to one OpenWhisk API host (see the module docstring)."""

    def __init__(self, apihost: str, auth: str, namespace: str, config: SenderConfig | None = None) -> None:
        if ":" not in auth:
            raise WorkloadError(
                "auth is invalid: expected 'uuid:key' (the value is not shown); "
                "pass the API key of the target namespace"
            )
        self.apihost = apihost
        self.namespace = namespace
        self.config = config or SenderConfig()
        self._authorization = "Basic " + base64.b64encode(auth.encode("utf-8")).decode("ascii")
        self.counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._cancel_reason = "cancelled"

    # -- public -------------------------------------------------------------------------------
    def run(
        self,
        workload: Workload,
        schedule: Schedule | None = None,
        on_tick: Callable[[Counters], None] | None = None,
        tick_s: float = 0.5,
    ) -> SendResult:
        """Send ``workload`` (its schedule is built unless given) and return every record.

        Blocks until the sender stops. ``on_tick`` is called from the calling thread about every
        ``tick_s`` seconds with the live counters (for a progress line).
        """
        schedule = schedule or build_schedule(workload)
        targets = self._targets(workload)
        box: dict[str, Any] = {}
        self.counters = Counters(scheduled=len(schedule), duration_s=workload.duration_s)
        ready = threading.Event()

        def thread_main() -> None:
            loop = new_event_loop(self.config.use_uvloop)
            try:
                box["result"] = loop.run_until_complete(self._main(workload, schedule, targets, ready))
            except BaseException as exc:  # handed to the calling thread
                box["error"] = exc
                ready.set()
            finally:
                loop.close()

        thread = threading.Thread(target=thread_main, name="ow-workload-sender", daemon=True)
        previous = set_autogroup_nice(self.config.autogroup_nice)
        thread.start()
        interrupted = False
        try:
            while thread.is_alive():
                try:
                    thread.join(timeout=tick_s)
                    if on_tick is not None:
                        on_tick(self.counters)
                except KeyboardInterrupt:
                    interrupted = True
                    self.stop("interrupted (KeyboardInterrupt)")
        finally:
            set_autogroup_nice(previous)
        if "error" in box:
            raise box["error"]
        result: SendResult = box["result"]
        result.interrupted = result.interrupted or interrupted
        return result

    def stop(self, reason: str = "stopped") -> None:
        """Ask a running sender to stop: unsent arrivals are dropped, in-flight ones get a grace period."""
        loop, stop = self._loop, self._stop
        self._cancel_reason = reason
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)

    # -- internals ------------------------------------------------------------------------------
    def _targets(self, workload: Workload) -> dict[str, _Target]:
        out = {}
        for inst in workload.instances:
            body = inst.body(workload.base_dir)
            web = inst.data_file is not None
            headers = {"Content-Type": inst.content_type if web else "application/json"}
            url = invoke_url(
                self.apihost, self.namespace, inst.action, blocking=workload.is_blocking(inst), web=web
            )
            out[inst.name] = _Target(
                url=url, body=body if body is not None else (None if web else b"{}"), headers=headers, web=web
            )
        return out

    async def _main(
        self, workload: Workload, schedule: Schedule, targets: dict[str, _Target], ready: threading.Event
    ) -> SendResult:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._loop, self._stop = loop, asyncio.Event()
        ready.set()
        records = [Record(a, _pending(a)) for a in schedule.arrivals]
        tasks: set[asyncio.Task[None]] = set()
        connector = aiohttp.TCPConnector(
            limit=cfg.max_in_flight, limit_per_host=cfg.max_in_flight, ssl=True if cfg.verify_tls else False
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout_s)
        headers = {"Authorization": self._authorization}
        async with aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=timeout, skip_auto_headers=("User-Agent",)
        ) as session:
            t0 = time.perf_counter() + cfg.lead_s
            epoch0 = time.time() + cfg.lead_s
            clock = _Clock(t0, epoch0)
            counters = self.counters
            for record in records:
                arrival = record.arrival
                if self._stop.is_set():
                    _drop(record, clock, self._cancel_reason)
                    counters.dropped += 1
                    continue
                await self._sleep_until(t0 + arrival.offset)
                counters.elapsed_s = time.perf_counter() - t0
                if self._stop.is_set():
                    _drop(record, clock, self._cancel_reason)
                    counters.dropped += 1
                    continue
                if len(tasks) >= cfg.max_in_flight:
                    _drop(record, clock, f"max in-flight ({cfg.max_in_flight}) reached")
                    counters.dropped += 1
                    continue
                task = loop.create_task(self._send(session, targets[arrival.instance], record, clock))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                counters.in_flight = len(tasks)
            # drain: until duration + drain_s, or a short grace after stop()
            deadline = t0 + workload.duration_s + cfg.drain_s
            while tasks:
                now = time.perf_counter()
                if self._stop.is_set():
                    deadline = min(deadline, now + cfg.interrupt_grace_s)
                if now >= deadline:
                    break
                stop_wait = loop.create_task(self._stop.wait())
                await asyncio.wait(
                    {*tasks, stop_wait}, timeout=deadline - now, return_when=asyncio.FIRST_COMPLETED
                )
                stop_wait.cancel()
                counters.in_flight = len(tasks)
                counters.elapsed_s = time.perf_counter() - t0
            if tasks:
                if not self._stop.is_set():
                    self._cancel_reason = (
                        f"no response within the drain deadline ({cfg.drain_s:g}s after the test)"
                    )
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            counters.in_flight = 0
        return SendResult(
            workload=workload,
            schedule=schedule,
            records=records,
            started=epoch0,
            ended=clock.epoch(time.perf_counter()),
            interrupted=self._stop.is_set(),
            config=cfg,
        )

    async def _sleep_until(self, target: float) -> None:
        spin = self.config.spin_s
        assert self._stop is not None
        while not self._stop.is_set():
            remaining = target - time.perf_counter()
            if remaining <= 0:
                return
            if remaining > spin:
                await asyncio.sleep(remaining - spin)
            else:
                await asyncio.sleep(0)  # yield: responses keep flowing while we spin

    async def _send(
        self, session: aiohttp.ClientSession, target: _Target, record: Record, clock: _Clock
    ) -> None:
        sample, counters = record.sample, self.counters
        counters.sent += 1
        sample.intended = clock.epoch0 + record.arrival.offset
        sample.sent = clock.epoch(time.perf_counter())
        try:
            async with session.post(target.url, data=target.body, headers=target.headers) as resp:
                raw = await resp.read()
                sample.http_status = resp.status
                activation_id = resp.headers.get(ACTIVATION_ID_HEADER)
            sample.received = clock.epoch(time.perf_counter())
            sample.latency_ms = (sample.received - sample.sent) * 1000.0
            _outcome(sample, raw, target.web, activation_id)
        except asyncio.CancelledError:
            _finish_error(sample, clock, self._cancel_reason)
            counters.failed += 1
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            _finish_error(sample, clock, f"{type(exc).__name__}: {exc}"[:500])
        counters.completed += 1
        if sample.status not in (STATUS_SUCCESS, ACCEPTED_NO_RESULT):
            counters.failed += 1


def set_autogroup_nice(nice: int | None) -> int | None:
    """Set the nice value of this process's scheduling group (``/proc/self/autogroup``); the previous one.

    None (nothing to set), or no autogroups / no permission: nothing changes and None is returned."""
    if nice is None:
        return None
    path = "/proc/self/autogroup"
    try:
        with open(path) as handle:
            previous = int(handle.read().rsplit("nice", 1)[1])
        with open(path, "w") as handle:
            handle.write(str(nice))
    except (OSError, ValueError, IndexError):
        return None
    return previous


@dataclass(frozen=True)
class _Clock:
    """Maps perf_counter readings to epoch seconds (one epoch reading, monotonic afterwards)."""

    t0: float
    epoch0: float

    def epoch(self, perf: float) -> float:
        return self.epoch0 + (perf - self.t0)


def _pending(arrival: Arrival) -> Sample:
    return Sample(
        action=arrival.action,
        sent=0.0,
        received=0.0,
        latency_ms=0.0,
        http_status=0,
        status=DROPPED,
        mode="open-loop",
    )


def _drop(record: Record, clock: _Clock, reason: str) -> None:
    sample = record.sample
    sample.intended = clock.epoch0 + record.arrival.offset
    sample.sent = sample.received = clock.epoch(time.perf_counter())
    sample.status, sample.error = DROPPED, reason


def _finish_error(sample: Sample, clock: _Clock, reason: str) -> None:
    sample.received = clock.epoch(time.perf_counter())
    sample.latency_ms = (sample.received - sample.sent) * 1000.0
    sample.status, sample.error = CLIENT_ERROR, reason


def _outcome(sample: Sample, raw: bytes, web: bool, activation_id: str | None) -> None:
    """Classify a response: 202 accepted, an activation record (blocking), a web result, or an error."""
    body: Any = None
    if raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
    status = sample.http_status
    if isinstance(body, dict) and isinstance(body.get("activationId"), str):
        sample.activation_id = body["activationId"]
    elif activation_id:
        sample.activation_id = activation_id
    if web:
        ok = 200 <= status < 300
        sample.status = (
            STATUS_SUCCESS if ok else (CLIENT_ERROR if sample.activation_id is None else "application error")
        )
        if not ok:
            sample.error = _error_text(body, raw, status)
        return
    if status == 202:
        sample.status = ACCEPTED_NO_RESULT
    elif status in (200, 500, 502) and isinstance(body, dict) and "response" in body:
        apply_record(sample, body)
    else:
        sample.status = CLIENT_ERROR
        sample.error = _error_text(body, raw, status)


def _error_text(body: Any, raw: bytes, status: int) -> str:
    if isinstance(body, dict) and "error" in body:
        return f"HTTP {status}: {body['error']}"[:500]
    return f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
