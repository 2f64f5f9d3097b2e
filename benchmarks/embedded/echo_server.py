"""Baseline for the overhead benchmarks: a bare aiohttp echo endpoint, run as its own process.

Prints its port on stdout once listening; answers ``POST /echo`` with a body the size of an activation
record. Run by ``benchmarks/embedded/conftest.py`` as ``python echo_server.py``.
"""

from __future__ import annotations

from aiohttp import web
from baseline_app import RECORD, serve

from pytest_openwhisk.local.server import new_loop


async def _echo(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=RECORD, content_type="application/json")


if __name__ == "__main__":
    new_loop().run_until_complete(serve("/echo", _echo))
