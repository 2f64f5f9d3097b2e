"""Waking an asyncio loop at an exact time, without spinning.

asyncio's timers wake through ``epoll_wait``, whose timeout has millisecond resolution: a sleep overshoots by
up to 1 ms, which is why the sender used to sleep until 2 ms before an arrival and then busy-yield to the
loop until it was due. At 1,000 arrivals/s that spin never ends: the sender used a whole core, competing with
the server it measures and looking like a CPU hog to the scheduler (which then preempts it).

On Linux :class:`PreciseTimer` arms a ``timerfd`` (nanosecond resolution, ``CLOCK_MONOTONIC``, the clock of
``time.monotonic`` and ``time.perf_counter``) at the absolute deadline and waits for it to become readable in
the loop, so responses keep being processed while the sender sleeps and the process uses no CPU between
arrivals. Elsewhere (or when ``timerfd_create`` fails) it falls back to ``asyncio.sleep`` until ``spin_s``
before the deadline, then yields to the loop until it is reached.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import time

_CLOCK_MONOTONIC = 1
_TFD_CLOEXEC = 0o2000000
_TFD_NONBLOCK = 0o4000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
    except (OSError, AttributeError):
        return None
    return libc


class PreciseTimer:
    """Exact wake-ups in a running loop: ``await timer.wait_until(deadline)``, then ``close()``.

    ``deadline`` is in ``time.monotonic()`` seconds. ``kind`` says which mechanism is in use: ``"timerfd"``
    or ``"sleep+spin"`` (the fallback, or forced with ``precise=False``).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, spin_s: float = 0.002, precise: bool = True) -> None:
        self._loop = loop
        self._spin_s = spin_s
        self._fd = -1
        self._libc = _libc() if precise else None
        self._waiter: asyncio.Future[None] | None = None
        self._woken = False
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                try:
                    loop.add_reader(fd, self._fired)
                except (NotImplementedError, OSError, ValueError):
                    os.close(fd)
                else:
                    self._fd = fd
        self.kind = "timerfd" if self._fd >= 0 else "sleep+spin"

    async def wait_until(self, deadline: float) -> None:
        """Return at ``deadline`` (monotonic seconds), at once when it has passed, or on :meth:`wake`."""
        self._woken = False
        if self._fd >= 0:
            assert self._libc is not None
            if deadline <= time.monotonic():
                return
            sec = int(deadline)
            spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, int((deadline - sec) * 1e9)))
            if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) == 0:
                self._waiter = waiter = self._loop.create_future()
                await waiter
                return
        while not self._woken:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if remaining > self._spin_s:
                self._waiter = waiter = self._loop.create_future()
                handle = self._loop.call_later(remaining - self._spin_s, self._resolve)
                try:
                    await waiter
                finally:
                    handle.cancel()
            else:
                await asyncio.sleep(0)  # yield: responses keep flowing while we spin

    def wake(self) -> None:
        """End the current wait now (from the loop's thread), e.g. when the sender is asked to stop."""
        self._woken = True
        self._resolve()

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:  # re-armed before this callback ran: not expired yet
            return
        self._resolve()

    def _resolve(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Release the timerfd (idempotent)."""
        if self._fd >= 0:
            try:
                self._loop.remove_reader(self._fd)
            except (OSError, ValueError, RuntimeError):
                pass
            os.close(self._fd)
            self._fd = -1
