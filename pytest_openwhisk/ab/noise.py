"""A bounded, seeded CPU noise generator: worker processes that spin while a seeded on/off schedule says on.

It stands in for a noisy CI neighbour when measuring the regression gates (``benchmarks/regress/``):
CPU only (no network, no disk), ``workers`` processes (at most twice the CPU count) that spin in
50 ms slices while the switch is on, with on and off periods drawn uniformly from ``on_s`` / ``off_s``
by ``random.Random(seed)``. Bounded: every worker stops at ``max_duration_s`` even if nobody stops it,
and ``__exit__`` stops and joins (then terminates) them. ``toggles`` logs ``(monotonic time, on?)``.

    with NoiseGenerator(workers=2, seed=7):
        ...  # measurements run under intermittent load
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
from multiprocessing.synchronize import Event as EventType
from types import TracebackType

#: a spinning worker re-checks the switch this often (seconds)
SLICE_S = 0.05
#: how long __exit__ waits for a worker before terminating it
JOIN_TIMEOUT_S = 5.0


def _spin(switch: EventType, stop: EventType, deadline: float) -> None:
    """Worker process: burn CPU while ``switch`` is set, until ``stop`` or the monotonic ``deadline``."""
    counter = 0
    while not stop.is_set() and time.monotonic() < deadline:
        if not switch.wait(0.1):
            continue
        end = time.monotonic() + SLICE_S
        while time.monotonic() < end:
            counter += 1


class NoiseGenerator:
    """Seeded on/off CPU load in ``workers`` processes; a context manager (see the module docstring)."""

    def __init__(
        self,
        workers: int = 2,
        seed: int = 1,
        on_s: tuple[float, float] = (0.5, 2.0),
        off_s: tuple[float, float] = (0.5, 2.0),
        max_duration_s: float = 3600.0,
    ) -> None:
        limit = 2 * (os.cpu_count() or 1)
        if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= limit:
            raise ValueError(
                f"workers={workers!r} is invalid; use an integer from 0 to {limit} "
                "(twice the CPU count), e.g. workers=2"
            )
        for name, (low, high) in (("on_s", on_s), ("off_s", off_s)):
            if not 0 < low <= high:
                raise ValueError(
                    f"{name}={(low, high)!r} is invalid; use (low, high) seconds with "
                    f"0 < low <= high, e.g. {name}=(0.5, 2.0)"
                )
        if not max_duration_s > 0:
            raise ValueError(
                f"max_duration_s={max_duration_s!r} is invalid; use a positive number of seconds"
            )
        self.workers = workers
        self.seed = seed
        self.on_s = on_s
        self.off_s = off_s
        self.max_duration_s = max_duration_s
        self.toggles: list[tuple[float, bool]] = []
        context = multiprocessing.get_context("spawn")
        self._switch = context.Event()
        self._stop = context.Event()
        self._context = context
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()

    def _schedule(self, deadline: float) -> None:
        rng = random.Random(self.seed)
        on = False
        while not self._quit.is_set() and time.monotonic() < deadline:
            low, high = self.on_s if on else self.off_s
            if self._quit.wait(min(rng.uniform(low, high), max(0.0, deadline - time.monotonic()))):
                break
            on = not on
            (self._switch.set if on else self._switch.clear)()
            self.toggles.append((time.monotonic(), on))
        self._switch.clear()

    def start(self) -> NoiseGenerator:
        """Start the workers (idle) and the seeded switch; the first period is off."""
        deadline = time.monotonic() + self.max_duration_s
        for index in range(self.workers):
            process = self._context.Process(
                target=_spin, args=(self._switch, self._stop, deadline), name=f"ow-noise-{index}", daemon=True
            )
            process.start()
            self._processes.append(process)
        self._thread = threading.Thread(
            target=self._schedule, args=(deadline,), name="ow-noise-switch", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the switch and the workers (join, then terminate stragglers). Safe to call twice."""
        self._quit.set()
        self._stop.set()
        self._switch.clear()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
        for process in self._processes:
            process.join(JOIN_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(JOIN_TIMEOUT_S)
        self._processes.clear()

    @property
    def alive(self) -> int:
        """Worker processes still running."""
        return sum(p.is_alive() for p in self._processes)

    def duty_cycle(self) -> float:
        """Fraction of the time since the first toggle that the switch was on (0 with no toggle)."""
        if not self.toggles:
            return 0.0
        now = time.monotonic()
        on_time, last_t, last_on = 0.0, self.toggles[0][0], self.toggles[0][1]
        for t, state in [*self.toggles[1:], (now, False)]:
            on_time += (t - last_t) if last_on else 0.0
            last_t, last_on = t, state
        total = now - self.toggles[0][0]
        return on_time / total if total > 0 else 0.0

    def __enter__(self) -> NoiseGenerator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
