"""A tiny OpenWhisk look-alike for workload tests: invoke (with a per-action delay) and list activations.

It runs an aiohttp app on 127.0.0.1:0 in its own thread and records, per request, the server-side
arrival time and the number of requests in flight, so tests can check what the sender did.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

AUTH = "user:secretkey"


@dataclass
class FakeOpenWhisk:
    """``with FakeOpenWhisk(delays={"slow": 0.3}) as fake:``; then ``fake.apihost``, ``fake.arrivals``."""

    delays: dict[str, float] = field(default_factory=dict)
    arrivals: list[tuple[str, float]] = field(default_factory=list)  # (action, perf_counter at arrival)
    records: list[dict[str, Any]] = field(default_factory=list)
    max_in_flight_seen: int = 0
    apihost: str = ""
    auth: str = AUTH
    _in_flight: int = 0
    _release: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> FakeOpenWhisk:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenWhisk did not start within 10s")
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        assert loop is not None
        assert self._thread is not None
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def release(self) -> None:
        """Let every request that waits on ``hold`` finish."""
        assert self._loop is not None
        assert self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    # -- server ------------------------------------------------------------------------------
    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._start())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/v1/namespaces/{ns}/actions/{name}", self._invoke)
        app.router.add_get("/api/v1/namespaces/{ns}/activations", self._list)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.apihost = f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        assert self._release is not None
        assert self._runner is not None
        self._release.set()
        await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(AUTH.encode()).decode()
        return request.headers.get("Authorization") == expected

    async def _invoke(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "The supplied authentication is invalid"}, status=401)
        name = request.match_info["name"]
        self.arrivals.append((name, time.perf_counter()))
        self._in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self._in_flight)
        start = int(time.time() * 1000)
        try:
            await request.read()
            if name == "hold":
                assert self._release is not None
                await self._release.wait()
            elif name == "throttled":
                return web.json_response({"error": "Too many requests", "code": "x"}, status=429)
            else:
                await asyncio.sleep(self.delays.get(name, 0.0))
        finally:
            self._in_flight -= 1
        end = int(time.time() * 1000)
        cold = len([r for r in self.records if r["name"] == name]) == 0
        annotations = [{"key": "waitTime", "value": 3}, {"key": "path", "value": f"guest/{name}"}]
        if cold:
            annotations.append({"key": "initTime", "value": 40})
        record = {
            "activationId": uuid.uuid4().hex,
            "name": name,
            "namespace": "guest",
            "start": start,
            "end": end,
            "duration": end - start,
            "annotations": annotations,
            "response": {"status": "success", "success": True, "result": {"ok": True}},
        }
        self.records.append(record)
        if request.query.get("blocking") == "true":
            return web.json_response(record)
        return web.json_response({"activationId": record["activationId"]}, status=202)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "The supplied authentication is invalid"}, status=401)
        q = request.query
        rows = sorted(self.records, key=lambda r: r["start"], reverse=True)
        if "name" in q:
            rows = [r for r in rows if r["name"] == q["name"]]
        if "since" in q:
            rows = [r for r in rows if r["start"] >= int(q["since"])]
        if "upto" in q:
            rows = [r for r in rows if r["start"] <= int(q["upto"])]
        skip, limit = int(q.get("skip", 0)), int(q.get("limit", 30)) or 200
        return web.json_response(rows[skip : skip + limit])
