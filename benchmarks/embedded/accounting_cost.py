"""What per-activation accounting costs (issue 14): warm invoke p50 with and without it, in one run.

    python benchmarks/embedded/accounting_cost.py [--blocks 8] [--per-block 500]

Four embedded servers (``LocalOpenWhiskProcess``, benchmark preset, one Python stem cell) differ only in
``PoolConfig.accounting`` (on/off) and ``PoolConfig.enforcement`` (cgroup when writable here, watchdog).
Blocks of ``--per-block`` sequential warm blocking invokes of a Python no-op go to each server in turn
(rotating order); per server the p50 of every block is taken, then the median over blocks. Reported: that
median and the ratio on/off per enforcement (target: <= 1.05).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import time

import aiohttp

from pytest_openwhisk.local import resources
from pytest_openwhisk.local.config import LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.local.process import LocalOpenWhiskProcess

NOOP = "def main(args):\n    return {}\n"


async def block(session: aiohttp.ClientSession, url: str, count: int) -> float:
    """p50 (ms) of ``count`` sequential blocking invokes."""
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        async with session.post(url, json={}) as response:
            await response.read()
            assert response.status == 200
        latencies.append((time.perf_counter() - t0) * 1000)
    return statistics.median(latencies)


async def measure(
    servers: dict[str, LocalOpenWhiskProcess], blocks: int, per_block: int
) -> dict[str, list[float]]:
    sessions, urls = {}, {}
    for name, ow in servers.items():
        token = base64.b64encode(ow.auth.encode()).decode()
        sessions[name] = aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"})
        base = f"{ow.apihost}/api/v1/namespaces/_/actions/noop"
        async with sessions[name].put(base, json={"exec": {"kind": "python:3.11", "code": NOOP}}) as r:
            assert r.status == 200, await r.text()
        urls[name] = base + "?blocking=true"
        await block(sessions[name], urls[name], 200)  # warm-up
    out: dict[str, list[float]] = {name: [] for name in servers}
    names = list(servers)
    try:
        for i in range(blocks):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                out[name].append(await block(sessions[name], urls[name], per_block))
    finally:
        for session in sessions.values():
            await session.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--per-block", type=int, default=500)
    args = parser.parse_args()
    enforcements = ["watchdog"]
    if resources.probe_mode() != "watchdog":
        enforcements.insert(0, "cgroup")
    configs = {
        f"{enforcement} accounting {'on' if on else 'off'}": LocalConfig.benchmark(
            pool=PoolConfig(
                prewarm=(StemCell("python:3.11", 1, 256),), enforcement=enforcement, accounting=on
            )
        )
        for enforcement in enforcements
        for on in (True, False)
    }
    print(f"load average {os.getloadavg()}")
    servers = {name: LocalOpenWhiskProcess(config) for name, config in configs.items()}
    try:
        for ow in servers.values():
            ow.__enter__()
        results = asyncio.run(measure(servers, args.blocks, args.per_block))
    finally:
        for ow in servers.values():
            ow.__exit__(None, None, None)
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        spread = max(values) - min(values)
        print(
            f"{name:28s} p50 {medians[name]:.3f} ms (median of {len(values)} blocks, range {spread:.3f} ms)"
        )
    for enforcement in enforcements:
        ratio = medians[f"{enforcement} accounting on"] / medians[f"{enforcement} accounting off"]
        print(f"{enforcement}: accounting on/off p50 ratio {ratio:.3f} (target <= 1.05)")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
