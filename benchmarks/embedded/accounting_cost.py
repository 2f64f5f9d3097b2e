"""What per-activation accounting costs (issue 14): warm invoke p50 with and without it, in one run.

    python benchmarks/embedded/accounting_cost.py [--blocks 8] [--per-block 500] [--design interleaved]

Four embedded servers (``LocalOpenWhiskProcess``, benchmark preset, one Python stem cell) differ only in
``PoolConfig.accounting`` (on/off) and ``PoolConfig.enforcement`` (cgroup when writable here, watchdog).
Sequential warm blocking invokes of a Python no-op go to each server in turn:

* ``--design interleaved`` (default): one invoke per server per cycle (order rotating every cycle), so a
  burst of noise from other work on a shared machine hits every server alike; per block of
  ``--per-block`` cycles the p50 of each server, then the median over blocks, and the on/off ratio of the
  p50s of every block (median and range over blocks).
* ``--design blocks``: ``--per-block`` invokes to one server, then the next (rotating order), as before.

Reported per enforcement: the p50s, the on/off ratio (target: <= 1.05) and the load average.
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


async def interleaved(
    sessions: dict[str, aiohttp.ClientSession], urls: dict[str, str], cycles: int, offset: int
) -> dict[str, float]:
    """p50 (ms) per server of ``cycles`` cycles of one sequential invoke per server (rotating order)."""
    names = list(sessions)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    for i in range(cycles):
        k = (i + offset) % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            async with sessions[name].post(urls[name], json={}) as response:
                await response.read()
                assert response.status == 200
            latencies[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(values) for name, values in latencies.items()}


async def measure(
    servers: dict[str, LocalOpenWhiskProcess], blocks: int, per_block: int, design: str = "interleaved"
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
            if design == "interleaved":
                for name, p50 in (await interleaved(sessions, urls, per_block, i)).items():
                    out[name].append(p50)
                continue
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
    parser.add_argument("--design", choices=("interleaved", "blocks"), default="interleaved")
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
        results = asyncio.run(measure(servers, args.blocks, args.per_block, args.design))
    finally:
        for ow in servers.values():
            ow.__exit__(None, None, None)
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        spread = max(values) - min(values)
        print(
            f"{name:28s} p50 {medians[name]:.3f} ms (median of {len(values)} blocks, range {spread:.3f} ms)"
        )
    print(f"design {args.design}, {args.blocks} blocks of {args.per_block}")
    for enforcement in enforcements:
        on, off = results[f"{enforcement} accounting on"], results[f"{enforcement} accounting off"]
        ratio = medians[f"{enforcement} accounting on"] / medians[f"{enforcement} accounting off"]
        per_block = sorted(a / b for a, b in zip(on, off, strict=True))
        print(
            f"{enforcement}: accounting on/off p50 ratio {ratio:.3f} (target <= 1.05); per block median "
            f"{statistics.median(per_block):.3f}, range {per_block[0]:.3f}-{per_block[-1]:.3f}"
        )
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
