"""Baseline for the overhead benchmarks: a bare aiohttp echo endpoint, run as its own process.

Prints its port on stdout once listening; answers ``POST /echo`` with a body the size of an activation
record. Run by ``benchmarks/embedded/conftest.py`` as ``python echo_server.py``.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from pytest_openwhisk.local.server import new_loop

RECORD = orjson.dumps({"activationId": "0" * 32, "annotations": [{"key": "k", "value": "v" * 400}]})


async def _echo(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=RECORD, content_type="application/json")


async def _main() -> None:
    app = web.Application()
    app.router.add_post("/echo", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    new_loop().run_until_complete(_main())
