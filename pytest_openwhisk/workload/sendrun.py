"""One run of the open-loop sender: its send loop in the sender process or in a thread, rows -> records.

In process mode the loop runs in ``python -m pytest_openwhisk.workload.sendproc`` (its own session, hence its
own autogroup), fed one job frame on stdin and read back as frames of finished rows; in thread mode the same
:class:`~pytest_openwhisk.workload.sendloop.SendLoop` runs on a new event loop in a thread of this process.
Each row becomes the :class:`~pytest_openwhisk.samples.Sample` of its record (202 accepted, an activation
record, a web result, or an error). Bounds: a sender process that overruns its deadline is killed, and a
request it never reported is recorded as a client error saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import orjson

from pytest_openwhisk.loops import new_event_loop
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, STATUS_SUCCESS, Sample, apply_record
from pytest_openwhisk.workload.records import DROPPED
from pytest_openwhisk.workload.schedule import Arrival, Schedule
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sendloop import CANCELLED, RESPONSE, LoopState, Row, SendLoop, Target
from pytest_openwhisk.workload.sendloop import DROPPED as ROW_DROPPED
from pytest_openwhisk.workload.sendproc import frame, read_frame
from pytest_openwhisk.workload.sendresult import Counters, Record, SendResult
from pytest_openwhisk.workload.spec import Workload, WorkloadError
from pytest_openwhisk.workload.trust import aiohttp_ssl


class SendRun:
    """One run of a sender: the loop (own process or thread), and the records its rows become.

    ``targets``: where each instance's requests go, by instance name; ``authorization``: the header's value.
    """

    def __init__(
        self,
        config: SenderConfig,
        targets: dict[str, Target],
        authorization: str,
        workload: Workload,
        schedule: Schedule,
    ) -> None:
        self.config = cfg = config
        self.workload, self.schedule = workload, schedule
        names = list(targets)
        self.targets = [targets[name] for name in names]
        index = {name: i for i, name in enumerate(names)}
        self.offsets = [a.offset for a in schedule.arrivals]
        self.which = [index[a.instance] for a in schedule.arrivals]
        self.records = [Record(a, _pending(a)) for a in schedule.arrivals]
        self.reported = bytearray(len(self.records))
        self.counters = Counters(scheduled=len(schedule), duration_s=workload.duration_s)
        self.authorization = authorization
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

    @property
    def process_id(self) -> int | None:
        """The pid of the sender process while it runs (None in thread mode, or once it ended)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

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
