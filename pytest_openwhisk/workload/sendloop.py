"""The open-loop send loop: one asyncio loop, arrivals fired at their times, responses parsed as they come.

The client is :mod:`~pytest_openwhisk.workload.rawhttp` (pre-built requests on kept-alive connections, one
write per send) unless ``SenderConfig(http="aiohttp")`` (a task per request in one aiohttp session).

Used in the sender's own process (:mod:`pytest_openwhisk.workload.sendproc`, the default) and in a thread of
the calling process (``SenderConfig(process=False)``). It knows nothing about samples: each scheduled request
ends as one *row* handed to ``sink`` (in the loop's thread), which the caller turns into a record::

    (index, sent, received, http_status, activation id header, body, error, outcome)

``sent``/``received`` are ``time.monotonic()`` readings; ``outcome`` is one of :data:`RESPONSE`,
:data:`ERROR` (connection error), :data:`CANCELLED` (drain deadline or stop), :data:`DROPPED` (never sent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from pytest_openwhisk.names import ACTIVATION_ID_HEADER
from pytest_openwhisk.workload.rawhttp import Done, Pool, build_request
from pytest_openwhisk.workload.timer import PreciseTimer

RESPONSE, ERROR, CANCELLED, DROPPED = 0, 1, 2, 3
Row = tuple[int, float, float, int, "str | None", "bytes | None", "str | None", int]


@dataclass(frozen=True)
class Target:
    """Where one instance's requests go, prepared once: URL, body and headers."""

    url: str
    body: bytes | None
    headers: dict[str, str]
    web: bool


@dataclass
class LoopState:
    """What the loop reports while it runs (read by progress displays)."""

    sent: int = 0
    in_flight: int = 0
    t0: float = 0.0  # monotonic time of schedule t=0
    epoch0: float = 0.0  # the same instant as epoch seconds
    ended: float = 0.0
    stopped: bool = False
    timer: str = ""


class SendLoop:
    """Fire ``offsets[i]`` seconds after t=0 a request to ``targets[which[i]]``; rows go to ``sink``."""

    def __init__(
        self,
        targets: Sequence[Target],
        offsets: Sequence[float],
        which: Sequence[int],
        authorization: str,
        config: Any,  # SenderConfig (not imported: this module is also the child's, kept small)
        ssl: Any,
        sink: Callable[[Row], None],
    ) -> None:
        self.targets = [
            Target(t.url, t.body, {**t.headers, "Authorization": authorization}, t.web) for t in targets
        ]
        self.offsets, self.which = offsets, which
        self.config, self.ssl, self.sink = config, ssl, sink
        self.state = LoopState()
        self.cancel_reason = "cancelled"
        self._timer: PreciseTimer | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requested = False

    def stop(self, reason: str) -> None:
        """Stop from any thread: unsent arrivals are dropped with ``reason``, in-flight ones get a grace."""
        self.cancel_reason = reason
        self._requested = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._timer is not None:
            self._timer.wake()

    async def run(self, duration_s: float, started: Callable[[LoopState], None] | None = None) -> LoopState:
        """Send the whole schedule, drain until ``duration_s + drain_s``; the final state."""
        if self.config.http == "raw":
            return await self._run_raw(duration_s, started)
        return await self._run_aiohttp(duration_s, started)

    def _setup(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event, PreciseTimer]:
        """The running loop, the stop event (set if stop() came before the loop ran) and the timer."""
        loop = self._loop = asyncio.get_running_loop()
        stop = self._stop = asyncio.Event()
        if self._requested:
            stop.set()
        timer = self._timer = PreciseTimer(loop, self.config.spin_s, precise=self.config.precise_timer)
        self.state.timer = timer.kind
        return loop, stop, timer

    async def _run_raw(self, duration_s: float, started: Callable[[LoopState], None] | None) -> LoopState:
        """The default client (:mod:`~pytest_openwhisk.workload.rawhttp`): each send is one write, here."""
        cfg, state, sink = self.config, self.state, self.sink
        loop, stop, timer = self._setup()
        prepared = [build_request(t.url, t.body, t.headers) for t in self.targets]
        pools: dict[tuple[str, str, int], Pool] = {}
        for address, _ in prepared:
            if address not in pools:
                pools[address] = Pool(loop, address, self.ssl, cfg.connect_timeout_s)
        payloads = [(pools[address], payload) for address, payload in prepared]
        outstanding: dict[int, float] = {}
        idle = asyncio.Event()
        idle.set()

        def finisher(index: int, sent: float) -> Done:
            def done(status: int, activation: str | None, body: bytes | None, error: str | None) -> None:
                if outstanding.pop(index, None) is None:  # already recorded (cancelled at the deadline)
                    return
                now = time.monotonic()
                if error is None:
                    sink((index, sent, now, status, activation, body, None, RESPONSE))
                else:
                    sink((index, sent, now, 0, None, None, error, ERROR))
                if not outstanding:
                    idle.set()

            return done

        try:
            if cfg.warm_connections:
                await asyncio.gather(*(pool.warm(cfg.warm_connections) for pool in pools.values()))
            state.t0 = t0 = time.monotonic() + cfg.lead_s
            state.epoch0 = time.time() + cfg.lead_s
            if started is not None:
                started(state)
            which = self.which

            def fire(k: int) -> None:
                state.sent += 1
                sent = time.monotonic()
                outstanding[k] = sent
                idle.clear()
                pool, payload = payloads[which[k]]
                pool.request(payload, finisher(k, sent))

            await self._schedule(fire, outstanding.__len__)
            deadline = t0 + duration_s + cfg.drain_s
            while outstanding:
                now = time.monotonic()
                if stop.is_set():
                    deadline = min(deadline, now + cfg.interrupt_grace_s)
                if now >= deadline:
                    break
                waits = {loop.create_task(idle.wait()), loop.create_task(stop.wait())}
                await asyncio.wait(waits, timeout=deadline - now, return_when=asyncio.FIRST_COMPLETED)
                for task in waits:
                    task.cancel()
                state.in_flight = len(outstanding)
            if outstanding:
                if not stop.is_set():
                    self.cancel_reason = (
                        f"no response within the drain deadline ({cfg.drain_s:g}s after the test)"
                    )
                now = time.monotonic()
                for index, sent in list(outstanding.items()):
                    sink((index, sent, now, 0, None, None, self.cancel_reason, CANCELLED))
                outstanding.clear()
        finally:
            for pool in pools.values():
                pool.close()
            timer.close()
        state.in_flight = 0
        state.ended = time.monotonic()
        state.stopped = stop.is_set()
        return state

    async def _run_aiohttp(self, duration_s: float, started: Callable[[LoopState], None] | None) -> LoopState:
        """The aiohttp client (``SenderConfig(http="aiohttp")``): a task per request."""
        cfg, state = self.config, self.state
        loop, stop, timer = self._setup()
        tasks: set[asyncio.Task[None]] = set()
        connector = aiohttp.TCPConnector(
            limit=cfg.max_in_flight, limit_per_host=cfg.max_in_flight, ssl=self.ssl, force_close=False
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout_s)
        try:
            async with aiohttp.ClientSession(
                connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
            ) as session:
                state.t0 = t0 = time.monotonic() + cfg.lead_s
                state.epoch0 = time.time() + cfg.lead_s
                if started is not None:
                    started(state)
                which, targets = self.which, self.targets

                def fire(k: int) -> None:
                    task = loop.create_task(self._send(session, k, targets[which[k]]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

                await self._schedule(fire, tasks.__len__)
                await self._drain(tasks, t0 + duration_s + cfg.drain_s)
        finally:
            timer.close()
        state.in_flight = 0
        state.ended = time.monotonic()
        state.stopped = stop.is_set()
        return state

    async def _schedule(self, fire: Callable[[int], None], in_flight: Callable[[], int]) -> None:
        """Fire arrival ``k`` at ``t0 + offsets[k]`` (all that are due at once when late); an arrival beyond
        ``max_in_flight`` is dropped, and after stop() every unsent one."""
        assert self._stop is not None
        assert self._timer is not None
        stop, timer, sink, offsets = self._stop, self._timer, self.sink, self.offsets
        t0, n, k, limit = self.state.t0, len(self.offsets), 0, self.config.max_in_flight
        full = f"max in-flight ({limit}) reached"
        while k < n and not stop.is_set():
            due = t0 + offsets[k]
            if due > time.monotonic():
                await timer.wait_until(due)
                if stop.is_set():
                    break
            now = time.monotonic()
            while k < n and t0 + offsets[k] <= now:  # everything due now (one, unless we fell behind)
                if in_flight() >= limit:
                    sink((k, now, now, 0, None, None, full, DROPPED))
                else:
                    fire(k)
                k += 1
            self.state.in_flight = in_flight()
        now = time.monotonic()
        for rest in range(k, n):
            sink((rest, now, now, 0, None, None, self.cancel_reason, DROPPED))

    async def _drain(self, tasks: set[asyncio.Task[None]], deadline: float) -> None:
        """Wait for responses until ``deadline`` (a short grace after stop()), then cancel the rest."""
        assert self._stop is not None
        stop, loop = self._stop, asyncio.get_running_loop()
        while tasks:
            now = time.monotonic()
            if stop.is_set():
                deadline = min(deadline, now + self.config.interrupt_grace_s)
            if now >= deadline:
                break
            stop_wait = loop.create_task(stop.wait())
            await asyncio.wait(
                {*tasks, stop_wait}, timeout=deadline - now, return_when=asyncio.FIRST_COMPLETED
            )
            stop_wait.cancel()
            self.state.in_flight = len(tasks)
        if tasks:
            if not stop.is_set():
                self.cancel_reason = (
                    f"no response within the drain deadline ({self.config.drain_s:g}s after the test)"
                )
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, session: aiohttp.ClientSession, index: int, target: Target) -> None:
        self.state.sent += 1
        sent = time.monotonic()
        try:
            async with session.post(target.url, data=target.body, headers=target.headers) as resp:
                raw = await resp.read()
                row: Row = (
                    index,
                    sent,
                    time.monotonic(),
                    resp.status,
                    resp.headers.get(ACTIVATION_ID_HEADER),
                    raw,
                    None,
                    RESPONSE,
                )
        except asyncio.CancelledError:
            self.sink((index, sent, time.monotonic(), 0, None, None, self.cancel_reason, CANCELLED))
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            row = (index, sent, time.monotonic(), 0, None, None, f"{type(exc).__name__}: {exc}"[:500], ERROR)
        self.sink(row)
