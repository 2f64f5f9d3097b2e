"""Soak benchmark of the embedded OpenWhisk (issue 12): open-loop load for minutes, memory must stay flat.

    python benchmarks/embedded/soak.py --duration 600            # the 10-minute run (about 13 minutes)
    python benchmarks/embedded/soak.py --duration 150 --soak-baseline   # a short run, baseline soaked too

What it does, all in one invocation so every figure has a baseline measured in the same run:

1. **A/B comparison** of this build and a baseline build (default: commit ``650c555``, extracted with
   ``git archive`` into a temporary directory), both started as ``python -m pytest_openwhisk.local serve
   --benchmark`` child processes with a prewarmed Python stem cell: ``--rounds`` interleaved rounds (this,
   baseline, baseline, this, ...) of ``--sequential`` sequential warm blocking invokes of a Python no-op
   (latency and overhead = client latency - activation ``duration``) and a burst of ``--burst`` invokes
   from ``--clients`` concurrent clients (throughput). Reported: medians over rounds and this/baseline ratios.
2. **Soak** of this build on a fresh server: ``--rate`` blocking invokes per second, open loop (each request
   is sent at its scheduled time whatever the answers do), for ``--duration`` seconds. The server's RSS
   (``VmRSS`` of the server process; runtimes reported apart) is sampled every ``--sample-s`` seconds.
   At the end every activation id the client got back is looked up in the server's SQLite activation store
   (all of them) and ``--check`` random ones through ``GET /activations/{id}``; ``count=true`` must match.
   ``--soak-baseline`` soaks the baseline build the same way (for the memory contrast; doubles the time).

The client is aiohttp (uvloop when installed) in this process. The machine may be shared: the script
prints the load average before and after; compare ratios, not absolute figures, across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[2]
NOOP = "def main(args):\n    return {}\n"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children_rss_mb(pid: int) -> float:
    """RSS of the direct children of ``pid`` (the runtimes, or their sandboxes) in MB."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
            total += rss_mb(int(entry.name))
    return total


@dataclass
class Build:
    """A server build: this checkout or an extracted baseline commit."""

    name: str
    root: Path
    is_current: bool


@dataclass
class Server:
    """A running ``serve`` child process."""

    build: Build
    process: subprocess.Popen[bytes]
    apihost: str
    auth: str
    store: Path | None
    workdir: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def extract(ref: str, into: Path) -> Build:
    """``git archive ref`` of this repository into ``into`` (a baseline build)."""
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), ref], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return Build(f"baseline {ref}", into / "src", False)


def start(build: Build) -> Server:
    """Start ``serve --benchmark`` of ``build`` on a free port with one prewarmed Python stem cell."""
    workdir = Path(tempfile.mkdtemp(prefix="ow-soak-"))
    ready = workdir / "ready.json"
    auth = f"{uuid.uuid4()}:{secrets.token_urlsafe(48)[:64]}"
    cmd = [
        sys.executable,
        "-m",
        "pytest_openwhisk.local",
        "serve",
        "--benchmark",
        "--port",
        "0",
        "--auth",
        auth,
        "--prewarm",
        "python:3.11:1:256",
        "--ready-file",
        str(ready),
    ]
    store = None
    if build.is_current:
        store = workdir / "activations.sqlite"
        cmd += ["--activation-store", str(store)]
    env = {**os.environ, "PYTHONPATH": str(build.root)}
    env.pop("PYTEST_OPENWHISK_LOCAL_CONFIG", None)
    stderr = (workdir / "stderr.log").open("wb")
    process = subprocess.Popen(
        cmd,
        cwd=build.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"{build.name}: server did not start:\n{(workdir / 'stderr.log').read_text()[-2000:]}"
            )
        time.sleep(0.02)
    info = json.loads(ready.read_text())
    return Server(build, process, info["apihost"], auth, store, workdir)


class Client:
    """aiohttp client of one server."""

    def __init__(self, server: Server, connections: int) -> None:
        self.server = server
        user, _, key = server.auth.partition(":")
        token = base64.b64encode(f"{user}:{key}".encode()).decode()
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Basic {token}"}, connector=aiohttp.TCPConnector(limit=connections)
        )
        self.base = f"{server.apihost}/api/v1/namespaces/_"

    async def close(self) -> None:
        await self.session.close()

    async def deploy(self) -> None:
        url = f"{self.base}/actions/noop?overwrite=true"
        async with self.session.put(url, json={"exec": {"kind": "python:3.11", "code": NOOP}}) as r:
            assert r.status == 200, await r.text()

    async def invoke(self) -> tuple[float, int, str, float]:
        """One blocking invoke: (latency ms, HTTP status, activation id, activation duration ms)."""
        t0 = time.perf_counter()
        async with self.session.post(f"{self.base}/actions/noop?blocking=true", json={}) as r:
            body = await r.read()
            latency = (time.perf_counter() - t0) * 1000
            if r.status != 200:
                return latency, r.status, "", float("nan")
        record = json.loads(body)
        return latency, r.status, record["activationId"], float(record["duration"])

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path) as r:
            return r.status, await r.json()


async def closed_loop(client: Client, sequential: int, burst: int, clients: int) -> dict[str, float]:
    """Sequential latency/overhead and a concurrent burst's throughput of one server."""
    for _ in range(100):  # warm-up
        await client.invoke()
    latencies, overheads = [], []
    for _ in range(sequential):
        latency, status, _, duration = await client.invoke()
        if status == 200:
            latencies.append(latency)
            overheads.append(latency - duration)
    left = burst

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.invoke()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    rate = burst / (time.perf_counter() - t0)
    return {
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "overhead_p50_ms": percentile(overheads, 50),
        "overhead_p99_ms": percentile(overheads, 99),
        "throughput_per_s": rate,
    }


@dataclass
class Soak:
    """What an open-loop soak measured."""

    sent: int = 0
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rss: list[tuple[float, float, float]] = field(default_factory=list)  # (t s, server MB, runtimes MB)
    elapsed: float = 0.0


async def soak(client: Client, rate: float, duration: float, sample_s: float) -> Soak:
    """Open loop: request i is sent at t0 + i/rate whatever happened to the earlier ones."""
    out = Soak()
    pid = client.server.pid
    total = int(rate * duration)
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        try:
            latency, status, activation_id, duration_ms = await client.invoke()
        except aiohttp.ClientError:
            status, activation_id, latency, duration_ms = -1, "", float("nan"), float("nan")
        if status == 200:
            out.ok += 1
            out.ids.append(activation_id)
            out.latencies.append(latency)
            out.overheads.append(latency - duration_ms)
        else:
            out.errors[status] = out.errors.get(status, 0) + 1

    async def sampler() -> None:
        t0 = time.monotonic()
        while True:
            out.rss.append((time.monotonic() - t0, rss_mb(pid), children_rss_mb(pid)))
            t, server_mb, runtimes_mb = out.rss[-1]
            print(
                f"  t={t:5.0f}s server {server_mb:6.1f} MB, runtimes {runtimes_mb:5.1f} MB, sent {out.sent}"
            )
            await asyncio.sleep(sample_s)

    sampling = asyncio.get_running_loop().create_task(sampler())
    t0 = time.monotonic()
    for i in range(total):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.get_running_loop().create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        out.sent += 1
    await asyncio.gather(*pending)
    out.elapsed = time.monotonic() - t0
    out.rss.append((out.elapsed, rss_mb(pid), children_rss_mb(pid)))
    sampling.cancel()
    return out


async def retrievable(client: Client, result: Soak, check: int) -> dict[str, Any]:
    """Every id in the store (SQLite, when the build has one), ``check`` random ids over the API, count."""
    report: dict[str, Any] = {}
    status, counted = await client.get("/activations?count=true")
    report["api_count"] = counted.get("activations") if status == 200 else None
    sample = random.sample(result.ids, min(check, len(result.ids)))
    found = 0
    for activation_id in sample:
        status, _ = await client.get(f"/activations/{activation_id}")
        found += status == 200
    report["api_sample"] = f"{found}/{len(sample)}"
    store = client.server.store
    if store is not None:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            stored = {row[0] for row in db.execute("SELECT id FROM activations")}
        missing = [i for i in result.ids if i not in stored]
        report["store_rows"] = len(stored)
        report["store_missing"] = len(missing)
    return report


def summarize(result: Soak, rate: float) -> dict[str, Any]:
    after_minute = [mb for t, mb, _ in result.rss if t >= 60] or [mb for _, mb, _ in result.rss]
    return {
        "sent": result.sent,
        "ok": result.ok,
        "errors": result.errors,
        "offered_per_s": rate,
        "achieved_per_s": result.ok / result.elapsed if result.elapsed else 0.0,
        "latency_p50_ms": percentile(result.latencies, 50),
        "latency_p99_ms": percentile(result.latencies, 99),
        "overhead_p50_ms": percentile(result.overheads, 50),
        "overhead_p99_ms": percentile(result.overheads, 99),
        "rss_mb": [round(mb, 1) for _, mb, _ in result.rss],
        "rss_t_s": [round(t) for t, _, _ in result.rss],
        "runtimes_rss_mb": [round(mb, 1) for _, _, mb in result.rss],
        "rss_max_mb": max(mb for _, mb, _ in result.rss),
        "rss_growth_after_first_minute_mb": max(after_minute) - min(after_minute),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ow-soak-builds-"))
    current = Build("this build", REPO, True)
    baseline = extract(args.baseline, tmp)
    out: dict[str, Any] = {"load_before": os.getloadavg(), "args": vars(args)}
    try:
        # 1. A/B comparison, interleaved
        servers = {b.name: start(b) for b in (current, baseline)}
        clients = {name: Client(s, args.clients + 4) for name, s in servers.items()}
        try:
            for c in clients.values():
                await c.deploy()
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            order = [current.name, baseline.name]
            for r in range(args.rounds):
                for name in order if r % 2 == 0 else reversed(order):
                    print(f"round {r + 1}/{args.rounds}: {name}", flush=True)
                    rounds[name].append(
                        await closed_loop(clients[name], args.sequential, args.burst, args.clients)
                    )
        finally:
            for c in clients.values():
                await c.close()
            for s in servers.values():
                s.stop()
        ab = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in rounds.items()}
        out["ab"] = {"rounds": rounds, "median": ab}
        out["ab_ratio_this_over_baseline"] = {
            k: ab[current.name][k] / ab[baseline.name][k] for k in ab[current.name]
        }
        # 2. soak(s) on fresh servers
        soaked = [current, baseline] if args.soak_baseline else [current]
        for build in soaked:
            server = start(build)
            client = Client(server, 512)
            try:
                await client.deploy()
                for _ in range(200):
                    await client.invoke()
                print(f"soak {build.name}: {args.rate:g}/s for {args.duration:g} s", flush=True)
                result = await soak(client, args.rate, args.duration, args.sample_s)
                summary = summarize(result, args.rate)
                summary["retrievable"] = await retrievable(client, result, args.check)
                out[f"soak {build.name}"] = summary
            finally:
                await client.close()
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="soak seconds (default 600)")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="open-loop invokes per second (default 1000)"
    )
    parser.add_argument("--sample-s", type=float, default=10.0, help="RSS sampling interval (default 10 s)")
    parser.add_argument(
        "--baseline", default="650c555", help="git ref of the baseline build (default 650c555)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved A/B rounds (default 4)")
    parser.add_argument("--sequential", type=int, default=1000, help="sequential invokes per round")
    parser.add_argument("--burst", type=int, default=3000, help="burst invokes per round")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the burst")
    parser.add_argument("--check", type=int, default=1000, help="random ids fetched through the API")
    parser.add_argument("--soak-baseline", action="store_true", help="soak the baseline build too")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(main_async(args))
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    print(f"load average before {out['load_before']}, after {out['load_after']}")
    for name, figures in out["ab"]["median"].items():
        print(f"A/B median over rounds, {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    ratios = out["ab_ratio_this_over_baseline"]
    print("A/B ratio this/baseline: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    for key in (k for k in out if k.startswith("soak ")):
        print(f"{key}: " + json.dumps(out[key], default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
