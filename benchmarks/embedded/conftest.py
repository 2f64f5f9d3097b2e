"""Fixtures of the embedded controller's own benchmarks (``benchmarks/embedded/test_overhead.py``).

The server always runs in a child process (``LocalOpenWhiskProcess``) so the measuring client (aiohttp on
uvloop, here in the pytest process) never shares a GIL with it. The baseline is a bare aiohttp echo endpoint,
also in a child process, answering a body of the same size as an activation record; the floor is an
aiohttp endpoint that relays each request to a warm runtime and back (``relay_server.py``): what one
runtime hop costs with no controller logic at all.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess
from pytest_openwhisk.local.server import new_loop

NOOP = "def main(args):\n    return {}\n"
FIGURES = pytest.StashKey[dict[str, dict[str, Any]]]()


@dataclass
class Target:
    """One endpoint to hammer: URL, headers and a fresh body per request."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"


class Driver:
    """An aiohttp client on a private uvloop loop, driven synchronously (for pytest-benchmark)."""

    def __init__(self) -> None:
        self.loop = new_loop()
        self.session = self.loop.run_until_complete(self._session())

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=120)
        )

    async def post(self, target: Target) -> tuple[int, bytes]:
        async with self.session.post(target.url, data=target.body, headers=target.headers) as response:
            return response.status, await response.read()

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def burst(self, target: Target, total: int, clients: int) -> tuple[float, list[int]]:
        """``total`` requests from ``clients`` concurrent clients: (seconds, statuses)."""
        statuses: list[int] = []
        pending = iter(range(total))

        async def client() -> None:
            for _ in pending:
                status, _ = await self.post(target)
                statuses.append(status)

        async def all_clients() -> None:
            await asyncio.gather(*(client() for _ in range(clients)))

        started = time.perf_counter()
        self.run(all_clients())
        return time.perf_counter() - started, statuses

    def close(self) -> None:
        self.run(self.session.close())
        self.loop.close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Driver]:
    """The measuring client."""
    client = Driver()
    yield client
    client.close()


def _baseline(script: str, route: str) -> Iterator[Target]:
    """A baseline endpoint served by ``script`` (next to this file) in a child process."""
    path = Path(__file__).with_name(script)
    root = str(Path(__file__).resolve().parents[2])  # the checkout: the child imports it, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    process = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            code = process.poll()
            raise RuntimeError(f"{script} did not start (exit code {code}); run it by hand to see why")
        yield Target(f"http://127.0.0.1:{int(line)}/{route}", {"Content-Type": "application/json"})
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def echo_target() -> Iterator[Target]:
    """The baseline: a bare aiohttp echo endpoint in a child process."""
    yield from _baseline("echo_server.py", "echo")


@pytest.fixture(scope="module")
def relay_target() -> Iterator[Target]:
    """The floor: aiohttp plus one hop to a warm Python runtime and back, nothing else (child process)."""
    yield from _baseline("relay_server.py", "relay")


@pytest.fixture(scope="module")
def embedded_target() -> Iterator[Target]:
    """Blocking invoke of a no-op Python action on the embedded server (child process, benchmark preset)."""
    with LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(prewarm=()))) as ow:
        session = requests.Session()
        user, _, key = ow.auth.partition(":")
        session.auth = (user, key)
        created = session.put(
            f"{ow.apihost}/api/v1/namespaces/_/actions/noop",
            json={"exec": {"kind": "python:3.11", "code": NOOP}, "limits": {"memory": 128}},
            timeout=60,
        )
        created.raise_for_status()
        session.close()
        headers = {
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(ow.auth.encode()).decode(),
        }
        yield Target(f"{ow.apihost}/api/v1/namespaces/_/actions/noop?blocking=true", headers)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Figures shared between the tests of a run and printed at its end."""
    return request.config.stash.setdefault(FIGURES, {})


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = config.stash.get(FIGURES, {})
    if not rows:
        return
    terminalreporter.section("embedded controller overhead")
    for name, values in rows.items():
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")
