"""Floor for the overhead benchmarks: an aiohttp endpoint that relays each request to a runtime, nothing else.

Each ``POST /relay`` body goes as ``/run`` to a warm Python runtime (the embedded OpenWhisk's own runtime,
started the way the invoker starts it, without a sandbox; one per request in flight) over a Unix socket,
through the invoker's own runtime client; the answer is a body the size of an activation record. No auth,
no entity lookup, no record, no logs: the round trip of "HTTP in, one runtime hop, HTTP out", which any
controller on aiohttp pays. Prints its port on stdout once listening. Run by
``benchmarks/embedded/conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile

import orjson
from aiohttp import web
from baseline_app import RECORD, serve

from pytest_openwhisk.local.container import RuntimeConnection
from pytest_openwhisk.local.isolation import runtime_command
from pytest_openwhisk.local.manifest import interpreter
from pytest_openwhisk.local.server import new_loop

NOOP = "def main(args):\n    return {}\n"


class Runtimes:
    """Warm Python runtimes, one per request in flight (as the invoker keeps one container per concurrent
    activation), each started the way the invoker starts it (no sandbox) and initialised once."""

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="ow-relay-")
        self.idle: list[RuntimeConnection] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    async def take(self) -> RuntimeConnection:
        if self.idle:
            return self.idle.pop()
        path = os.path.join(self.workdir, str(len(self.processes)))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(8)
        argv = runtime_command("python", interpreter("python:3.11"), 256, listener.fileno(), self.workdir, [])
        self.processes.append(
            subprocess.Popen(
                argv,
                pass_fds=[listener.fileno()],
                stdin=subprocess.PIPE,  # the runtime exits when this process is gone
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        listener.close()
        _, conn = await asyncio.get_running_loop().create_unix_connection(RuntimeConnection, path)
        init = await conn.request("/init", orjson.dumps({"value": {"code": NOOP, "main": "main"}}), 30)
        if init.status != 200:
            raise RuntimeError(f"the relay's runtime did not initialise: {init.body!r}")
        return conn

    def close(self) -> None:
        for process in self.processes:
            process.kill()


async def _main() -> None:
    runtimes = Runtimes()

    async def relay(request: web.Request) -> web.Response:
        body = await request.read()
        conn = await runtimes.take()
        answer = await conn.request("/run", b'{"value":' + (body or b"{}") + b"}", 60)
        runtimes.idle.append(conn)
        orjson.loads(answer.body)
        return web.Response(body=RECORD, content_type="application/json")

    try:
        await serve("/relay", relay)
    finally:
        runtimes.close()


if __name__ == "__main__":
    sys.exit(new_loop().run_until_complete(_main()))
