"""Which HTTP stack should the embedded controller use? A quick, reproducible measurement.

Each candidate serves the same handler as the controller's hot path (parse a JSON body with orjson, build
an activation-record-sized dict, answer it with orjson) on 127.0.0.1; a client in a *separate process*
(aiohttp, keep-alive) measures the round trip at 1 client (p50/p99) and the throughput at 16 clients.

    python benchmarks/embedded/framework_choice.py   # candidates whose packages are installed

Candidates: aiohttp (asyncio loop), aiohttp + uvloop, starlette on uvicorn (uvloop + httptools).
The result chose the controller's stack; see docs/local.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import orjson

BODY = orjson.dumps({"name": "world", "n": 1})
PATH = "/api/v1/namespaces/guest/actions/noop?blocking=true"
ROUNDS = 3


def _record(params: object) -> dict[str, object]:
    now = int(time.time() * 1000)
    return {
        "namespace": "guest",
        "name": "noop",
        "version": "0.0.1",
        "subject": "guest",
        "activationId": uuid.uuid4().hex,
        "start": now,
        "end": now + 1,
        "duration": 1,
        "response": {"status": "success", "statusCode": 0, "success": True, "result": params},
        "logs": [],
        "publish": False,
        "annotations": [
            {"key": "limits", "value": {"concurrency": 1, "logs": 10, "memory": 256, "timeout": 60000}},
            {"key": "path", "value": "guest/noop"},
            {"key": "kind", "value": "python:3.11"},
            {"key": "timeout", "value": False},
            {"key": "waitTime", "value": 0},
        ],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_aiohttp(port: int, use_uvloop: bool) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        params = orjson.loads(await request.read())
        return web.Response(body=orjson.dumps(_record(params)), content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/{ns}/actions/{name}", handler)
    if use_uvloop:
        import uvloop

        uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_starlette(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def handler(request: Request) -> Response:
        params = orjson.loads(await request.body())
        return Response(orjson.dumps(_record(params)), media_type="application/json")

    app = Starlette(routes=[Route("/api/v1/namespaces/{ns}/actions/{name}", handler, methods=["POST"])])
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="error", access_log=False
    )


async def _client(port: int, concurrency: int, count: int) -> tuple[list[float], float]:
    import aiohttp

    url = f"http://127.0.0.1:{port}{PATH}"
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(50):  # warm up + wait for the server
            for _attempt in range(200):
                try:
                    async with session.post(url, data=BODY) as r:
                        await r.read()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                async with session.post(url, data=BODY) as r:
                    await r.read()
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, count / elapsed


def _measure(port: int) -> dict[str, float]:
    import uvloop

    lat1, _ = uvloop.run(_client(port, 1, 3000))
    _, rps16 = uvloop.run(_client(port, 16, 20000))
    lat1.sort()
    return {
        "p50_ms": statistics.median(lat1) * 1000,
        "p99_ms": lat1[int(len(lat1) * 0.99)] * 1000,
        "rps_16": rps16,
    }


def main() -> int:
    candidates: list[tuple[str, Callable[..., None], tuple[object, ...]]] = [
        ("aiohttp", serve_aiohttp, (False,)),
    ]
    if importlib.util.find_spec("uvloop"):
        candidates.append(("aiohttp+uvloop", serve_aiohttp, (True,)))
    if all(importlib.util.find_spec(m) for m in ("starlette", "uvicorn", "httptools", "uvloop")):
        candidates.append(("starlette+uvicorn(uvloop,httptools)", serve_starlette, ()))
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in candidates}
    for _round in range(ROUNDS):  # interleaved rounds: background load hits every candidate alike
        for name, target, args in candidates:
            port = _free_port()
            proc = mp.get_context("spawn").Process(target=target, args=(port, *args), daemon=True)
            proc.start()
            try:
                results[name].append(_measure(port))
            finally:
                proc.terminate()
                proc.join(5)
    print(f"median of {ROUNDS} interleaved rounds, cpus={os.cpu_count()}")
    print(f"{'stack':40s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s @16':>10s}")
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("p50_ms", "p99_ms", "rps_16")}
        print(f"{name:40s} {med['p50_ms']:8.3f} {med['p99_ms']:8.3f} {med['rps_16']:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
