"""What the baseline endpoints share (``echo_server.py``, ``relay_server.py``): one aiohttp POST route on a
free loopback port, announced on stdout, served until the process ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

#: a body the size of an activation record, what every baseline answers
RECORD = orjson.dumps({"activationId": "0" * 32, "annotations": [{"key": "k", "value": "v" * 400}]})


async def serve(route: str, handler: Callable[[web.Request], Awaitable[web.Response]]) -> None:
    """Serve ``POST route`` on 127.0.0.1 (any free port, printed on stdout) until cancelled."""
    app = web.Application()
    app.router.add_post(route, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
