"""Load: 1,000 blocking invocations from 32 concurrent clients on loopback; every one has its record."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest

from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess

from .conftest import Api

TOTAL, CLIENTS = 1000, 32
NOOP = "def main(args):\n    return {}\n"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenWhiskProcess]:
    """A fresh server in a child process (its own GIL), benchmark throttles, no prewarm."""
    with LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(prewarm=()))) as ow:
        yield ow


async def _hammer(apihost: str, auth: str) -> tuple[list[int], list[str]]:
    url = f"{apihost}/api/v1/namespaces/_/actions/noop?blocking=true"
    statuses: list[int] = []
    ids: list[str] = []
    remaining = iter(range(TOTAL))
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:

        async def client() -> None:
            for i in remaining:
                async with session.post(url, json={"i": i}) as response:
                    await response.read()
                    statuses.append(response.status)
                    ids.append(response.headers.get("x-openwhisk-activation-id", ""))

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return statuses, ids


def test_1000_invocations_32_clients_none_lost(server: LocalOpenWhiskProcess) -> None:
    api = Api(server.apihost, server.auth)
    assert api.put_action("noop", code=NOOP, limits={"memory": 128}).status_code == 200
    statuses, ids = asyncio.run(_hammer(server.apihost, server.auth))
    assert Counter(statuses) == {200: TOTAL}, Counter(statuses)
    assert len(set(ids)) == TOTAL
    assert api.get("/activations", params={"count": "true"}).json() == {"activations": TOTAL}
    listed: list[str] = []
    for page in range(TOTAL // 200):
        batch = api.get("/activations", params={"limit": 200, "skip": page * 200}).json()
        assert all(a["statusCode"] == 0 for a in batch)
        listed.extend(a["activationId"] for a in batch)
    assert len(listed) == TOTAL
    assert set(listed) == set(ids)
    api.close()
