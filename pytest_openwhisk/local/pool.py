"""The container pool (OpenWhisk's classic ``ContainerPool``, §4): placement, memory budget, prewarm, reclaim.

Placement order for an activation: (1) an initialised warm container of the same invoking namespace
and action revision with a free concurrency slot; (2) a prewarmed stem cell of the exact kind and
memory; (3) a new container when the memory budget allows; (4) the same after destroying
least-recently-used idle warm containers (never stem cells); (5) otherwise a FIFO queue served as
containers are released. All bookkeeping runs on the event loop without awaiting, so placement is
atomic; a new container only starts there (its process is made in the background, see ``container.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_openwhisk.local.config import PoolConfig
from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.manifest import resolve_kind
from pytest_openwhisk.local.types import RunRequest

PREWARM, IDLE, BUSY = "prewarm", "idle", "busy"
WARM, PREWARMED, COLD = "warm", "prewarm", "cold"
Key = tuple[str, str, str]  # (invoking namespace, action path, revision)


class SpawnFailed(Exception):
    """A runtime process could not be started (reported as a whisk internal error)."""


@dataclass(eq=False)
class Entry:
    """The pool's view of one container."""

    container: Container
    state: str
    memory_mb: int
    key: Key | None = None
    concurrency: int = 1
    active: int = 0
    initialised: bool = False
    doomed: bool = False  # destroy when the current activations finish (evict())
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class Lease:
    """A container handed to one activation; ``start`` is warm, prewarm or cold."""

    entry: Entry
    start: str


class Pool:
    """Containers by state, the memory budget and the FIFO queue of activations waiting for space."""

    def __init__(self, config: PoolConfig, spawn: Callable[[str, int], Container]) -> None:
        self.config = config
        self._spawn = spawn
        self.entries: list[Entry] = []
        self._queue: deque[tuple[RunRequest, str, asyncio.Future[Lease]]] = deque()
        self._reaper: asyncio.Task[None] | None = None
        self._stem_cells = [(resolve_kind(cell.kind), cell.memory_mb, cell.count) for cell in config.prewarm]
        self.counts = {COLD: 0, WARM: 0, PREWARMED: 0, "evicted_idle": 0, "evicted_lru": 0, "queued": 0}
        self.spawn_errors: list[str] = []
        self._closed = False
        self._background: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the stem cells and start the idle reaper."""
        self.replenish()
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def stop(self) -> None:
        """Fail queued activations and destroy every container; idempotent."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        while self._queue:
            _, _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(SpawnFailed("the invoker is shutting down"))
        entries, self.entries = self.entries, []
        pending = [*(e.container.destroy() for e in entries), *self._background]
        await asyncio.gather(*pending, return_exceptions=True)

    # --- placement -----------------------------------------------------------------------------------------

    @property
    def used_mb(self) -> int:
        """Memory of every container in the pool (stem cells included)."""
        return sum(e.memory_mb for e in self.entries)

    async def acquire(self, request: RunRequest, kind: str) -> Lease:
        """A container for ``request``, waiting in the FIFO queue when the pool is full.

        Raises :class:`SpawnFailed` when a needed process cannot be started.
        """
        if not self._queue:
            lease = self._place(request, kind)
            if lease is not None:
                return lease
        future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        self._queue.append((request, kind, future))
        self.counts["queued"] += 1
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result().entry, destroy=False)
            raise

    def _place(self, request: RunRequest, kind: str) -> Lease | None:
        spec = request.action
        key = (request.invoker_namespace, spec.path, spec.revision)
        warm = [
            e
            for e in self.entries
            if e.key == key
            and e.initialised
            and not e.doomed
            and e.active < e.concurrency
            and e.container.alive
        ]
        if warm:
            entry = max(warm, key=lambda e: (e.active == 0, e.last_used))
            self._lease(entry, key, spec.concurrency)
            self.counts[WARM] += 1
            return Lease(entry, WARM)
        for entry in self.entries:
            if (
                entry.state == PREWARM
                and entry.container.kind == kind
                and entry.memory_mb == spec.memory_mb
                and entry.container.alive
            ):
                self._lease(entry, key, spec.concurrency)
                self.counts[PREWARMED] += 1
                return Lease(entry, PREWARMED)
        if not self._make_room(spec.memory_mb):
            return None
        entry = self._new_entry(kind, spec.memory_mb, BUSY)
        self._lease(entry, key, spec.concurrency)
        self.counts[COLD] += 1
        return Lease(entry, COLD)

    def _make_room(self, memory_mb: int) -> bool:
        budget = self.config.user_memory_mb
        free = budget - self.used_mb
        if free >= memory_mb:
            return True
        idle = sorted((e for e in self.entries if e.state == IDLE), key=lambda e: e.last_used)
        victims: list[Entry] = []
        for entry in idle:
            if free >= memory_mb:
                break
            victims.append(entry)
            free += entry.memory_mb
        if free < memory_mb and not any(e.state == BUSY for e in self.entries):
            # nothing will ever be released: stem cells must make way (or the activation waits forever)
            for entry in (e for e in self.entries if e.state == PREWARM):
                if free >= memory_mb:
                    break
                victims.append(entry)
                free += entry.memory_mb
        if free < memory_mb:
            return False
        for entry in victims:
            self.counts["evicted_lru"] += 1
            self._remove(entry)
        return True

    def _lease(self, entry: Entry, key: Key, concurrency: int) -> None:
        entry.state, entry.key, entry.concurrency = BUSY, key, max(1, concurrency)
        entry.active += 1
        entry.last_used = time.monotonic()

    def _new_entry(self, kind: str, memory_mb: int, state: str) -> Entry:
        try:
            container = self._spawn(kind, memory_mb)
        except OSError as exc:
            self.spawn_errors.append(f"{kind}: {exc}")
            raise SpawnFailed(f"cannot start a {kind} runtime: {exc}") from exc
        entry = Entry(container, state, memory_mb)
        self.entries.append(entry)
        return entry

    def release(self, entry: Entry, *, destroy: bool) -> None:
        """An activation finished with ``entry``; destroy it (status 2/3, evicted) or make it idle."""
        entry.active = max(0, entry.active - 1)
        entry.last_used = time.monotonic()
        if destroy or not entry.container.alive or (entry.doomed and entry.active == 0):
            self._remove(entry)
        elif entry.active == 0:
            entry.state = IDLE
        self._drain()

    def _remove(self, entry: Entry) -> None:
        if entry in self.entries:
            self.entries.remove(entry)
        entry.container.kill()
        task = asyncio.get_running_loop().create_task(entry.container.destroy())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _drain(self) -> None:
        while self._queue and not self._closed:
            request, kind, future = self._queue[0]
            if future.done():
                self._queue.popleft()
                continue
            try:
                lease = self._place(request, kind)
            except SpawnFailed as exc:
                self._queue.popleft()
                future.set_exception(exc)
                continue
            if lease is None:
                return
            self._queue.popleft()
            future.set_result(lease)

    # --- stem cells, reclaim, eviction ---------------------------------------------------------------------

    def replenish(self) -> None:
        """Start stem cells until each configured (kind, memory) has its count (budget permitting)."""
        if self._closed:
            return
        for kind, memory_mb, count in self._stem_cells:
            have = sum(
                1
                for e in self.entries
                if e.state == PREWARM
                and e.container.kind == kind
                and e.memory_mb == memory_mb
                and e.container.alive
            )
            for _ in range(count - have):
                if self.used_mb + memory_mb > self.config.user_memory_mb:
                    return
                try:
                    self._new_entry(kind, memory_mb, PREWARM)
                except SpawnFailed:
                    return

    def reclaim(self) -> int:
        """Destroy warm containers idle for longer than the idle timeout and dead stem cells."""
        limit = time.monotonic() - self.config.idle_container_timeout_s
        stale = [
            e
            for e in self.entries
            if (e.state == IDLE and e.last_used <= limit)
            or (e.state in (IDLE, PREWARM) and not e.container.alive)
        ]
        for entry in stale:
            if entry.state == IDLE:
                self.counts["evicted_idle"] += 1
            self._remove(entry)
        if stale:
            self.replenish()
            self._drain()
        return len(stale)

    async def _reap_forever(self) -> None:
        interval = min(max(self.config.idle_container_timeout_s / 4, 0.01), 5.0)
        while True:
            await asyncio.sleep(interval)
            self.reclaim()

    def evict(self, namespace: str | None, path: str | None) -> int:
        """Remove idle containers of ``path`` (every action when None) and doom busy ones."""
        count = 0
        for entry in list(self.entries):
            if entry.key is None or (path is not None and entry.key[1] != path.lstrip("/")):
                continue
            if namespace is not None and namespace not in (entry.key[0], entry.key[1].split("/", 1)[0]):
                continue
            count += 1
            if entry.state == IDLE:
                self._remove(entry)
            else:
                entry.doomed = True
        self._drain()
        return count

    def stats(self) -> dict[str, Any]:
        """Containers by state, memory, start counters and settings."""
        by_state = {PREWARM: 0, IDLE: 0, BUSY: 0}
        for entry in self.entries:
            by_state[entry.state] += 1
        return {
            "containers": by_state,
            "prewarm_by_kind": {
                f"{k}/{m}MB": sum(
                    1
                    for e in self.entries
                    if e.state == PREWARM and e.container.kind == k and e.memory_mb == m
                )
                for k, m, _ in self._stem_cells
            },
            "memory_mb": {"used": self.used_mb, "budget": self.config.user_memory_mb},
            "queued": len(self._queue),
            "starts": {COLD: self.counts[COLD], WARM: self.counts[WARM], PREWARMED: self.counts[PREWARMED]},
            "evictions": {"idle": self.counts["evicted_idle"], "lru": self.counts["evicted_lru"]},
            "settings": {
                "user_memory_mb": self.config.user_memory_mb,
                "idle_container_timeout_s": self.config.idle_container_timeout_s,
                "prewarm": [{"kind": k, "count": c, "memory_mb": m} for k, m, c in self._stem_cells],
            },
        }
