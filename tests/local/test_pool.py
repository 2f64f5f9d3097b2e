"""The container pool: prewarmed stem cells, idle reclaim, memory budget (queueing, LRU eviction), evict()."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pytest_openwhisk.local.config import StemCell
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.types import SUCCESS
from pytest_openwhisk.wait import wait_until

from .invoker_helpers import request, run_with, spec

SLEEPY = "import time\ndef main(args):\n    time.sleep(args.get('s', 0))\n    return {'ok': True}\n"


async def eventually(invoker: Invoker, what: str, probe: Callable[[dict[str, Any]], bool]) -> None:
    """Wait (through wait_until, off the loop) until ``probe(invoker.stats())`` holds."""
    await asyncio.to_thread(wait_until, lambda: probe(invoker.stats()), what=what, timeout=10)


def test_prewarmed_stem_cell_serves_a_cold_start_and_is_replaced() -> None:
    async def scenario(invoker: Invoker) -> None:
        assert invoker.stats()["containers"]["prewarm"] == 1
        stem_ids = {e.container.id for e in invoker.pool.entries}
        outcome = await invoker.run(request(spec(SLEEPY, "a")))
        assert outcome.status_code == SUCCESS
        assert outcome.prewarmed
        assert outcome.init_ms is not None
        assert outcome.container_id in stem_ids
        stats = invoker.stats()
        assert stats["starts"] == {"cold": 0, "warm": 0, "prewarm": 1}
        assert stats["containers"]["prewarm"] == 1  # replaced
        assert outcome.container_id not in {
            e.container.id for e in invoker.pool.entries if e.state == "prewarm"
        }
        other_memory = await invoker.run(request(spec(SLEEPY, "b", memory_mb=128)))
        assert not other_memory.prewarmed  # stem cells match kind AND memory exactly
        assert invoker.stats()["starts"]["cold"] == 1

    run_with(scenario, prewarm=(StemCell("python:default", 1, 256),))


def test_idle_containers_are_reclaimed_after_the_timeout() -> None:
    async def scenario(invoker: Invoker) -> None:
        first = await invoker.run(request(spec(SLEEPY, "a")))
        await eventually(invoker, "idle container reclaimed", lambda s: s["containers"]["idle"] == 0)
        assert invoker.stats()["evictions"]["idle"] == 1
        second = await invoker.run(request(spec(SLEEPY, "a")))
        assert second.init_ms is not None
        assert second.container_id != first.container_id

    run_with(scenario, idle_container_timeout_s=0.2)


def test_full_pool_queues_fifo_and_wait_time_includes_the_queueing() -> None:
    async def scenario(invoker: Invoker) -> None:
        slow, other = spec(SLEEPY, "slow"), spec(SLEEPY, "other")
        first, second = await asyncio.gather(
            invoker.run(request(slow, {"s": 0.3})), invoker.run(request(other))
        )
        assert first.status_code == second.status_code == SUCCESS
        assert second.start_ms >= first.end_ms - 1  # could only start once the slow one freed its memory
        assert second.wait_ms >= 300 > first.wait_ms
        stats = invoker.stats()
        assert stats["evictions"]["lru"] == 1
        assert stats["memory_mb"] == {"used": 256, "budget": 256}

    run_with(scenario, user_memory_mb=256)


def test_least_recently_used_idle_container_is_evicted_first() -> None:
    async def scenario(invoker: Invoker) -> None:
        a, b, c = spec(SLEEPY, "a"), spec(SLEEPY, "b"), spec(SLEEPY, "c")
        first_a = await invoker.run(request(a))
        await invoker.run(request(b))
        assert (await invoker.run(request(a))).init_ms is None  # a is now the most recently used
        await invoker.run(request(c))  # needs room: b goes
        again_a = await invoker.run(request(a))
        assert again_a.init_ms is None
        assert again_a.container_id == first_a.container_id
        assert (await invoker.run(request(b))).init_ms is not None

    run_with(scenario, user_memory_mb=512)


def test_stem_cells_count_in_the_budget_but_are_never_evicted_for_lru() -> None:
    async def scenario(invoker: Invoker) -> None:
        await invoker.run(request(spec(SLEEPY, "a", memory_mb=128)))
        await invoker.run(request(spec(SLEEPY, "b", memory_mb=128)))  # evicts a, not the stem cell
        stats = invoker.stats()
        assert stats["containers"] == {"prewarm": 1, "idle": 1, "busy": 0}
        assert stats["evictions"]["lru"] == 1

    run_with(scenario, user_memory_mb=384, prewarm=(StemCell("python:3.11", 1, 256),))


def test_evict_forces_the_next_invocation_cold() -> None:
    async def scenario(invoker: Invoker) -> None:
        a, b = spec(SLEEPY, "a"), spec(SLEEPY, "b")
        await invoker.run(request(a))
        await invoker.run(request(b))
        assert await invoker.evict(path="guest/a") == 1
        assert (await invoker.run(request(b))).init_ms is None  # other actions stay warm
        assert (await invoker.run(request(a))).init_ms is not None
        assert await invoker.evict() == 2

    run_with(scenario)


def test_evict_during_a_run_destroys_the_container_afterwards() -> None:
    async def scenario(invoker: Invoker) -> None:
        a = spec(SLEEPY, "a")
        await invoker.run(request(a))
        running = asyncio.ensure_future(invoker.run(request(a, {"s": 0.3})))
        await eventually(invoker, "busy container", lambda s: s["containers"]["busy"] == 1)
        assert await invoker.evict(path="guest/a") == 1
        finished = await running
        assert finished.status_code == SUCCESS
        assert finished.init_ms is None
        assert invoker.stats()["containers"] == {"prewarm": 0, "idle": 0, "busy": 0}
        assert (await invoker.run(request(a))).init_ms is not None

    run_with(scenario)


def test_concurrency_slots_share_one_container() -> None:
    async def scenario(invoker: Invoker) -> None:
        action = spec(SLEEPY, "shared", concurrency=4)
        await invoker.run(request(action))
        outcomes = await asyncio.gather(*(invoker.run(request(action, {"s": 0.1})) for _ in range(4)))
        assert {o.container_id for o in outcomes} == {outcomes[0].container_id}
        assert all(o.init_ms is None and o.status_code == SUCCESS for o in outcomes)

    run_with(scenario)


def test_cancelled_activation_gives_its_container_back() -> None:
    async def scenario(invoker: Invoker) -> None:
        running = asyncio.ensure_future(invoker.run(request(spec(SLEEPY, "a"), {"s": 5})))
        await eventually(invoker, "busy container", lambda s: s["containers"]["busy"] == 1)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        assert invoker.stats()["containers"] == {"prewarm": 0, "idle": 0, "busy": 0}
        assert invoker.stats()["memory_mb"]["used"] == 0
        assert (await invoker.run(request(spec(SLEEPY, "a")))).status_code == SUCCESS

    run_with(scenario)
