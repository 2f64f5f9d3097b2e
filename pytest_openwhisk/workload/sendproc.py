"""The open-loop sender in its own process: ``python -m pytest_openwhisk.workload.sendproc`` (started by
:class:`~pytest_openwhisk.workload.sender.OpenLoopSender`; not a command for users).

Why a process: the sender then shares no GIL, garbage collector or event loop with the pytest process (nor
with an embedded server running in it), and the OS can schedule it on its own: it starts in a new session,
hence (with Linux autogroups) its own scheduling group, and raises its priority as configured
(:mod:`pytest_openwhisk.workload.priority`).

Protocol (pipes, frames of a 4-byte big-endian length and a pickle; both ends are this package):

* stdin, parent -> child: one job ``(config, targets, offsets, which, authorization, trust, duration_s)``,
  then any number of ``("stop", reason)``; EOF also stops (the parent is gone).
* stdout, child -> parent: ``("start", t0, epoch0, scheduling, timer)``, then ``("rows", sent, in_flight,
  rows)`` batches every ``flush_s`` (rows as in :mod:`~pytest_openwhisk.workload.sendloop`), then
  ``("end", ended, stopped, cpu)`` or ``("error", text)``; ``cpu`` is what the sender's thread got from the
  scheduler during the run: CPU seconds, seconds spent runnable but waiting for a CPU (starvation), and
  the number of times it was put on a CPU (``/proc/self/schedstat``; empty elsewhere).

Rows are flushed as they finish, so an interrupted or killed run keeps what was reported; the parent records
every request the child never reported as a client error naming why.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

from pytest_openwhisk.loops import new_event_loop
from pytest_openwhisk.workload.priority import apply_scheduling
from pytest_openwhisk.workload.sendloop import LoopState, Row, SendLoop
from pytest_openwhisk.workload.trust import aiohttp_ssl

HEADER = struct.Struct(">I")
FLUSH_S = 0.05


def frame(message: Any) -> bytes:
    """One message as a frame (length + pickle)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def read_frame(read: Callable[[int], bytes]) -> Any:
    """The next message from ``read`` (a blocking pipe's); None at EOF, also mid-frame (the writer died)."""
    head = _read_exactly(read, HEADER.size)
    if head is None:
        return None
    data = _read_exactly(read, HEADER.unpack(head)[0])
    return None if data is None else pickle.loads(data)  # our own parent or child, over a pipe


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes | None:
    parts, left = [], size
    while left:
        part = read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class _StopReader(asyncio.Protocol):
    """Frames from the parent after the job: ``("stop", reason)``; EOF means the parent is gone."""

    def __init__(self, sender: SendLoop) -> None:
        self._sender = sender
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if len(self._buffer) < HEADER.size + size:
                return
            message = pickle.loads(self._buffer[HEADER.size : HEADER.size + size])
            self._buffer = self._buffer[HEADER.size + size :]
            if message[0] == "stop":
                self._sender.stop(str(message[1]))

    def eof_received(self) -> bool | None:
        self._sender.stop("the parent process is gone")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._sender.stop("the parent process is gone")


def _schedstat() -> tuple[int, ...] | None:
    try:
        with open("/proc/self/schedstat") as handle:
            return tuple(int(part) for part in handle.read().split()[:3])
    except (OSError, ValueError):
        return None


def cpu_use(before: tuple[int, ...] | None) -> dict[str, float]:
    """CPU seconds, runqueue-wait seconds and slices of this thread since ``before`` (empty without it)."""
    after = _schedstat()
    if before is None or after is None or len(after) < 3:
        return {}
    return {
        "cpu_s": round((after[0] - before[0]) / 1e9, 4),
        "runqueue_wait_s": round((after[1] - before[1]) / 1e9, 4),
        "slices": after[2] - before[2],
    }


def write(fd: int, message: Any) -> None:
    """Write one frame to the blocking pipe ``fd`` (the parent reads it continuously)."""
    view = memoryview(frame(message))
    while view:
        view = view[os.write(fd, view) :]


async def _serve(job: tuple[Any, ...], out: int, scheduling: dict[str, Any]) -> None:
    config, targets, offsets, which, authorization, trust, duration_s = job
    loop = asyncio.get_running_loop()
    rows: list[Row] = []
    sender = SendLoop(
        targets, offsets, which, authorization, config, aiohttp_ssl(trust, config.verify_tls), rows.append
    )
    await loop.connect_read_pipe(lambda: _StopReader(sender), sys.stdin.buffer)
    state = sender.state

    def flush() -> None:
        if rows:
            batch = rows[:]
            rows.clear()
            write(out, ("rows", state.sent, state.in_flight, batch))

    async def flusher() -> None:
        while True:
            await asyncio.sleep(config.flush_s)
            flush()

    def started(state: LoopState) -> None:
        write(out, ("start", state.t0, state.epoch0, scheduling, state.timer))

    before = _schedstat()
    task = loop.create_task(flusher())
    try:
        final = await sender.run(duration_s, started)
    finally:
        task.cancel()
        flush()
    write(out, ("end", final.ended, final.stopped, cpu_use(before)))


def main() -> int:
    """Read the job from stdin, send it, report on stdout; exit 0 (1 after reporting an error)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent gets Ctrl-C and tells us to stop
    job = read_frame(lambda size: os.read(0, size))  # unbuffered: later frames are the stop reader's
    if job is None:
        return 2
    out = sys.stdout.fileno()
    try:
        scheduling = apply_scheduling(job[0])
        loop = new_event_loop(job[0].use_uvloop)
        try:
            loop.run_until_complete(_serve(job, out, scheduling))
        finally:
            loop.close()
    except Exception:
        write(out, ("error", traceback.format_exc()[-4000:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
