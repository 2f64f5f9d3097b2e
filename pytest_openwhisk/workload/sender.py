"""The open-loop sender: fire every scheduled request at its intended time, never waiting on responses.

By default the send loop (:mod:`~pytest_openwhisk.workload.sendloop`: asyncio, one aiohttp session) runs in
the sender's **own process** (:mod:`~pytest_openwhisk.workload.sendproc`), so it shares no GIL, garbage
collector or loop with the pytest process, and the OS schedules it on its own (its own session, hence its own
autogroup; ``priority``/``nice``/``cpus``, see :mod:`~pytest_openwhisk.workload.priority`). It waits for each
arrival on a timerfd (:mod:`~pytest_openwhisk.workload.timer`): exact wake-ups without spinning. A slow
action never delays the next arrival (no coordinated omission). ``SenderConfig(process=False)`` runs the same
loop in a thread of the calling process instead. Each request records its intended and actual send time.

Bounds: at most ``max_in_flight`` requests are outstanding (an arrival beyond it is recorded as
``dropped`` with the reason); everything still in flight at ``duration + drain_s`` is cancelled and
recorded as a client error. :meth:`OpenLoopSender.run` also stops cleanly on KeyboardInterrupt: unsent
arrivals become ``dropped``, outstanding ones get a short grace, and the partial result is returned with
``interrupted=True`` (the caller saves it and re-raises). The sender process reports finished requests every
``flush_s``; a request it never reported (the process died) is recorded as a client error saying so.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import orjson

from pytest_openwhisk.loops import new_event_loop
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, STATUS_SUCCESS, Sample, apply_record
from pytest_openwhisk.workload.priority import set_autogroup_nice
from pytest_openwhisk.workload.records import DROPPED
from pytest_openwhisk.workload.schedule import Arrival, Schedule, build_schedule
from pytest_openwhisk.workload.sendloop import CANCELLED, RESPONSE, LoopState, Row, SendLoop, Target
from pytest_openwhisk.workload.sendloop import DROPPED as ROW_DROPPED
from pytest_openwhisk.workload.sendproc import frame, read_frame
from pytest_openwhisk.workload.spec import Workload, WorkloadError
from pytest_openwhisk.workload.trust import Trust, aiohttp_ssl

_Target = Target  # the name benchmarks use
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
    #: how the sender ran: own process or not, timer, scheduling policy/nice/autogroup/cpus it obtained
    scheduling: dict[str, Any] = field(default_factory=dict)

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
        self._stopper: Callable[[str], None] | None = None
        self._cancel_reason = "cancelled"
        self._run: _Run | None = None

    @property
    def process_id(self) -> int | None:
        """The pid of the running sender process (None in thread mode, or when not running)."""
        run = self._run
        proc = run._proc if run is not None else None
        return proc.pid if proc is not None and proc.poll() is None else None

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
        run = self._run = _Run(self, workload, schedule)
        self.counters = run.counters
        previous = set_autogroup_nice(self.config.autogroup_nice)
        interrupted = False
        try:
            worker = run.start()
            self._stopper = run.stop
            while worker.is_alive():
                try:
                    worker.join(timeout=tick_s)
                    run.tick()
                    if on_tick is not None:
                        on_tick(self.counters)
                except KeyboardInterrupt:
                    interrupted = True
                    run.stop("interrupted (KeyboardInterrupt)")
        finally:
            self._stopper = None
            run.abandon()
            self._run = None
            set_autogroup_nice(previous)
        result = run.result()
        result.interrupted = result.interrupted or interrupted
        return result

    def stop(self, reason: str = "stopped") -> None:
        """Ask a running sender to stop: unsent arrivals are dropped, in-flight ones get a grace period."""
        self._cancel_reason = reason
        if self._stopper is not None:
            self._stopper(reason)

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


class _Run:
    """One run of a sender: the loop (own process or thread), and the records its rows become."""

    def __init__(self, sender: OpenLoopSender, workload: Workload, schedule: Schedule) -> None:
        self.config = cfg = sender.config
        self.workload, self.schedule = workload, schedule
        by_name = sender._targets(workload)
        names = list(by_name)
        self.targets = [by_name[name] for name in names]
        index = {name: i for i, name in enumerate(names)}
        self.offsets = [a.offset for a in schedule.arrivals]
        self.which = [index[a.instance] for a in schedule.arrivals]
        self.records = [Record(a, _pending(a)) for a in schedule.arrivals]
        self.reported = bytearray(len(self.records))
        self.counters = Counters(scheduled=len(schedule), duration_s=workload.duration_s)
        self.authorization = sender._authorization
        self.t0 = 0.0
        self.epoch0 = time.time() + cfg.lead_s
        self.ended: float | None = None
        self.stopped = False
        self.scheduling: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.failure = ""  # why unreported requests ended (the sender process died)
        self._stop_reason: str | None = None
        self._loop: SendLoop | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: deque[bytes] = deque(maxlen=64)
        self._stderr_reader: threading.Thread | None = None
        self._deadline = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Start the loop; the thread to join (it ends when the loop or the sender process ends)."""
        cfg = self.config
        self._deadline = time.monotonic() + 60 + cfg.lead_s + self.workload.duration_s + cfg.drain_s
        target = self._process_main if cfg.process else self._thread_main
        if cfg.process:
            aiohttp_ssl(cfg.tls_trust, cfg.verify_tls)  # a bad trust file: explained here, not in a traceback
            self._proc = self._spawn()
        worker = threading.Thread(target=target, name="ow-workload-sender", daemon=True)
        worker.start()
        return worker

    def stop(self, reason: str) -> None:
        """Stop the loop (unsent arrivals dropped with ``reason``, in-flight ones get the grace)."""
        self._stop_reason = reason
        self._deadline = min(self._deadline, time.monotonic() + self.config.interrupt_grace_s + 30)
        if self._loop is not None:
            self._loop.stop(reason)
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.write(frame(("stop", reason)))
                proc.stdin.flush()
            except (OSError, ValueError):  # it is gone or going: its rows so far are kept
                pass

    def tick(self) -> None:
        """Refresh the live counters; kill a sender process that overran every bound it was given."""
        if self._loop is not None:
            self.counters.sent, self.counters.in_flight = self._loop.state.sent, self._loop.state.in_flight
        if self.t0:
            self.counters.elapsed_s = time.monotonic() - self.t0
        proc = self._proc
        if proc is not None and proc.poll() is None and time.monotonic() > self._deadline:
            self.failure = "the sender process overran its deadline and was killed"
            proc.kill()

    def abandon(self) -> None:
        """Make sure no sender process outlives run() (only acts when run() is left by an exception)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self.stop("the calling process stopped waiting for the sender")
        try:
            proc.wait(timeout=self.config.interrupt_grace_s + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def result(self) -> SendResult:
        """The records once the loop has ended; raises what the loop raised."""
        if self.error is not None:
            raise self.error
        ended = self._epoch(self.ended) if self.ended is not None else time.time()
        reason = self.failure or self._stop_reason or "the sender ended before reporting it"
        for i, record in enumerate(self.records):
            if not self.reported[i]:  # the sender process died: kept as a recorded error, never lost
                sample = record.sample
                sample.intended = self.epoch0 + record.arrival.offset
                sample.sent = sample.received = ended
                sample.status, sample.error = CLIENT_ERROR, f"not reported: {reason}"[:500]
                self.counters.failed += 1
        return SendResult(
            workload=self.workload,
            schedule=self.schedule,
            records=self.records,
            started=self.epoch0,
            ended=ended,
            interrupted=self.stopped or self._stop_reason is not None,
            config=self.config,
            scheduling=self.scheduling,
        )

    # -- in a thread of this process ----------------------------------------------------------
    def _thread_main(self) -> None:
        cfg = self.config
        loop = new_event_loop(cfg.use_uvloop)
        try:
            ssl = aiohttp_ssl(cfg.tls_trust, cfg.verify_tls)
            self._loop = sender = SendLoop(
                self.targets, self.offsets, self.which, self.authorization, cfg, ssl, self._apply
            )
            if self._stop_reason is not None:
                sender.stop(self._stop_reason)
            state = loop.run_until_complete(sender.run(self.workload.duration_s, self._started))
            self.ended, self.stopped = state.ended, state.stopped
            self.scheduling = {"own_process": False, "timer": state.timer}
        except BaseException as exc:  # handed to the calling thread
            self.error = exc
        finally:
            loop.close()

    def _started(self, state: LoopState) -> None:
        self.t0, self.epoch0 = state.t0, state.epoch0
        self.counters.in_flight = 0

    # -- in the sender process ----------------------------------------------------------------
    def _spawn(self) -> subprocess.Popen[bytes]:
        root = str(Path(__file__).resolve().parents[2])  # the folder holding pytest_openwhisk
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_openwhisk.workload.sendproc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own session: its own autogroup, and Ctrl-C reaches only us
        )
        assert proc.stdin is not None
        cfg = self.config
        job = (
            cfg,
            self.targets,
            self.offsets,
            self.which,
            self.authorization,
            cfg.tls_trust,
            self.workload.duration_s,
        )
        try:
            proc.stdin.write(frame(job))
            proc.stdin.flush()
        except OSError:  # it died at once: its stderr says why (reported by result())
            pass
        self._stderr_reader = threading.Thread(target=self._drain_stderr, args=(proc.stderr,), daemon=True)
        self._stderr_reader.start()
        return proc

    def _drain_stderr(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for line in stream:
            self._stderr.append(line[:500])

    def _process_main(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        read = proc.stdout.read
        try:
            while (message := read_frame(read)) is not None:
                kind = message[0]
                if kind == "rows":
                    _, self.counters.sent, self.counters.in_flight, rows = message
                    for row in rows:
                        self._apply(row)
                elif kind == "start":
                    _, self.t0, self.epoch0, self.scheduling, timer = message
                    self.scheduling = {**self.scheduling, "timer": timer}
                elif kind == "end":
                    _, self.ended, self.stopped, cpu = message
                    self.scheduling = {**self.scheduling, **cpu}
                elif kind == "error":
                    self.failure = "the sender process failed"
                    self.error = WorkloadError(f"the sender process failed:\n{message[1]}")
        except BaseException as exc:  # a broken frame: what was reported so far is kept
            self.failure = f"reading the sender process failed ({type(exc).__name__}: {exc})"
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:  # unflushed bytes to a process that is gone
                    pass
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=5)
        if self.ended is None and not self.failure:
            tail = b"".join(self._stderr).decode("utf-8", "replace")[-2000:]
            self.failure = f"the sender process exited with code {code} before it finished"
            if not any(self.reported):
                self.error = WorkloadError(f"{self.failure}; its stderr:\n{tail or '(empty)'}")

    # -- rows -> records ------------------------------------------------------------------------
    def _epoch(self, monotonic: float) -> float:
        return self.epoch0 + (monotonic - self.t0)

    def _apply(self, row: Row) -> None:
        index, sent, received, status, activation_id, raw, error, outcome = row
        if self.reported[index]:
            return
        self.reported[index] = 1
        record, counters = self.records[index], self.counters
        sample = record.sample
        sample.intended = self.epoch0 + record.arrival.offset
        sample.sent, sample.received = self._epoch(sent), self._epoch(received)
        if outcome == ROW_DROPPED:
            sample.status, sample.error = DROPPED, error
            counters.dropped += 1
            return
        sample.latency_ms = (sample.received - sample.sent) * 1000.0
        if outcome == RESPONSE:
            sample.http_status = status
            _outcome(sample, raw or b"", self.targets[self.which[index]].web, activation_id)
        else:
            sample.status, sample.error = CLIENT_ERROR, error
        if outcome != CANCELLED:
            counters.completed += 1
        if sample.status not in (STATUS_SUCCESS, ACCEPTED_NO_RESULT):
            counters.failed += 1
        counters.elapsed_s = time.monotonic() - self.t0 if self.t0 else 0.0


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
