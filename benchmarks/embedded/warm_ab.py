"""Warm invoke path vs the bare aiohttp echo round trip, and this build vs earlier builds, in one run.

    python benchmarks/embedded/warm_ab.py [--baseline REF ...] [--rounds 6] [--sequential 1000] [--burst 3000]

Targets (issues 16 and 12): warm blocking invoke p50 <= 1.5x the echo round trip; 16-client throughput
>= 0.4x echo; p50 within 10 % of the baseline build (default ``650c555``).

Every target runs as a child process: the echo endpoint (``echo_server.py``), this checkout and each
``--baseline`` ref (extracted with ``git archive``, as ``soak.py`` does), each server ``serve --benchmark``
with one prewarmed Python stem cell and a no-op Python action. Rounds are interleaved (the order rotates
each round); a round is ``--sequential`` sequential requests (p50, p99 of each) then a ``--burst`` from
``--clients`` concurrent clients (requests/s). Reported: the median over rounds with its range, the ratios to
echo and to each baseline (per round, then their median), and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from soak import REPO, Build, Client, extract, percentile, start


async def sequential(post: Any, count: int) -> tuple[float, float]:
    """p50 and p99 (ms) of ``count`` sequential requests."""
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        await post()
        latencies.append((time.perf_counter() - t0) * 1000)
    return percentile(latencies, 50), percentile(latencies, 99)


async def burst(post: Any, total: int, clients: int) -> float:
    """Requests per second of ``total`` requests from ``clients`` concurrent clients."""
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await post()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return total / (time.perf_counter() - t0)


def poster(session: aiohttp.ClientSession, url: str) -> Any:
    """A coroutine function POSTing ``{}`` to ``url`` (raises unless the answer is 200)."""

    async def post() -> None:
        async with session.post(url, json={}) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}")

    return post


async def measure(args: argparse.Namespace, builds: list[Build]) -> dict[str, Any]:
    """Start echo and every build, then run the interleaved rounds; per target, one dict per round."""
    echo = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("echo_server.py"))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    servers = []
    sessions: list[aiohttp.ClientSession] = []
    try:
        assert echo.stdout is not None
        port = int(echo.stdout.readline())
        echo_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients + 4))
        sessions.append(echo_session)
        posts = {"echo": poster(echo_session, f"http://127.0.0.1:{port}/echo")}
        for build in builds:
            server = start(build)
            servers.append(server)
            client = Client(server, args.clients + 4)
            sessions.append(client.session)
            await client.deploy()
            posts[build.name] = poster(client.session, f"{client.base}/actions/noop?blocking=true")
        for post in posts.values():  # warm-up: every container the burst will use
            await burst(post, 500, args.clients)
        names = list(posts)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                p50, p99 = await sequential(posts[name], args.sequential)
                rate = await burst(posts[name], args.burst, args.clients)
                rounds[name].append({"p50_ms": p50, "p99_ms": p99, "per_s": rate})
            print(
                f"round {r + 1}/{args.rounds}: "
                + ", ".join(
                    f"{n} p50 {rounds[n][-1]['p50_ms']:.3f} ms {rounds[n][-1]['per_s']:.0f}/s" for n in names
                ),
                flush=True,
            )
        return rounds
    finally:
        for session in sessions:
            await session.close()
        for server in servers:
            server.stop()
        echo.terminate()
        echo.wait(10)


def report(rounds: dict[str, list[dict[str, float]]], current: str) -> dict[str, Any]:
    """Medians and ranges over rounds, and per-round ratios to echo and of ``current`` to each baseline."""
    out: dict[str, Any] = {"median": {}, "range": {}, "ratio": {}}
    for name, rs in rounds.items():
        out["median"][name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        out["range"][name] = {k: (min(r[k] for r in rs), max(r[k] for r in rs)) for k in rs[0]}

    def ratio(a: str, b: str, key: str) -> tuple[float, float, float]:
        per_round = [x[key] / y[key] for x, y in zip(rounds[a], rounds[b], strict=True)]
        return statistics.median(per_round), min(per_round), max(per_round)

    for name in rounds:
        if name == "echo":
            continue
        out["ratio"][f"{name} / echo"] = {k: ratio(name, "echo", k) for k in ("p50_ms", "per_s")}
        if name != current:
            out["ratio"][f"{current} / {name}"] = {k: ratio(current, name, k) for k in ("p50_ms", "per_s")}
    return out


def main() -> int:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", action="append", default=None, help="git ref (repeatable; 650c555)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ow-warm-ab-"))
    current = Build("this build", REPO, True)
    builds = [current]
    try:
        for i, ref in enumerate(args.baseline or ["650c555"]):
            (tmp / str(i)).mkdir()
            build = extract(ref, tmp / str(i))
            builds.append(Build(f"baseline {ref}", build.root, False))
        load_before = os.getloadavg()
        print(f"load average before {load_before}", flush=True)
        rounds = asyncio.run(measure(args, builds))
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = report(rounds, current.name)
    for name, figures in out["median"].items():
        spread = out["range"][name]
        print(
            f"{name:24s} p50 {figures['p50_ms']:.3f} ms [{spread['p50_ms'][0]:.3f}-{spread['p50_ms'][1]:.3f}]"
            f"  p99 {figures['p99_ms']:.3f} ms  {figures['per_s']:.0f}/s "
            f"[{spread['per_s'][0]:.0f}-{spread['per_s'][1]:.0f}]"
        )
    for pair, figures in out["ratio"].items():
        shown = ", ".join(f"{k} x{m:.3f} [{lo:.3f}-{hi:.3f}]" for k, (m, lo, hi) in figures.items())
        print(f"{pair}: {shown}")
    print(f"load average after {load_after}", flush=True)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"rounds": rounds, **out, "load": [load_before, load_after]}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
