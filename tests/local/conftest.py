"""Fixtures for the embedded controller's tests: a fake invoker, servers on port 0, a small REST client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
import requests

from pytest_openwhisk.local.config import Limits, LocalConfig, PoolConfig
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.local.types import RunOutcome, RunRequest

#: codes understood by FakeInvoker (not base64-looking, so the actions are not "binary")
ECHO, SLEEP, FAIL, DEVFAIL, WHISK, RAISE, ARRAY, INC, HELD = (
    f"fake: {b}" for b in ("echo", "sleep", "fail", "devfail", "whisk", "raise", "array", "inc", "held")
)


class FakeInvoker:
    """Plays the container pool for pure REST tests; the action's code names the behaviour.

    ``echo`` returns the params, ``sleep`` waits ``params["ms"]`` then echoes, ``fail``/``devfail``/``whisk``
    end with status 1/2/3, ``raise`` raises (an invoker bug), ``array`` returns ``[1, 2, 3]``, ``inc`` returns
    the params with ``n`` incremented. The first run of each revision is "cold" (initTime 5 ms). ``held``
    echoes like the real invoker: it gives its result (``request.on_result``), then holds its logs for
    ``params["ms"]`` ms or until :meth:`release` (``held_logs`` counts the activations holding them).
    """

    def __init__(self) -> None:
        self.requests: list[RunRequest] = []
        self.started = self.stopped = False
        self.evictions: list[tuple[str | None, str | None]] = []
        self._seen: set[str] = set()
        self._stopping = asyncio.Event()
        self._released = asyncio.Event()
        self.held_logs = 0

    def release(self) -> None:
        """Let every ``held`` activation hand in its logs (call on the server's loop)."""
        self._released.set()

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        """Like the real pool: running activations end (here as whisk errors) when the pool stops."""
        self.stopped = True
        self._stopping.set()

    async def evict(self, namespace: str | None = None, path: str | None = None) -> int:
        self.evictions.append((namespace, path))
        return 2

    def stats(self) -> dict[str, Any]:
        return {
            "running": True,
            "isolation": "none",
            "containers": {"prewarm": 0, "idle": 1, "busy": 0},
            "memory_mb": {"used": 256, "budget": 2048},
            "queued": 0,
            "settings": {"user_memory_mb": 2048},
        }

    async def run(self, request: RunRequest) -> RunOutcome:
        self.requests.append(request)
        spec, params = request.action, request.params
        p: dict[str, Any] = params if isinstance(params, dict) else {}
        start = int(time.time() * 1000)
        cold = spec.revision not in self._seen
        self._seen.add(spec.revision)
        behaviour = spec.code.removeprefix("fake: ")
        if behaviour == "sleep":
            try:
                await asyncio.wait_for(self._stopping.wait(), p.get("ms", 0) / 1000)
                behaviour = "whisk"  # the pool stopped under it
            except TimeoutError:
                pass
        if behaviour == "raise":
            raise RuntimeError("invoker exploded")
        if behaviour == "held":
            return await self._held(request, start)
        outcomes: dict[str, tuple[int, Any]] = {
            "echo": (0, params),
            "sleep": (0, params),
            "fail": (1, {"error": p.get("msg", "application failed")}),
            "devfail": (2, {"error": "The action did not produce a valid response and exited unexpectedly."}),
            "whisk": (3, {"error": "Failed to provision resources to run the action."}),
            "array": (0, [1, 2, 3]),
            "inc": (0, {**p, "n": p.get("n", 0) + 1}),
        }
        status, result = outcomes.get(behaviour, (2, {"error": f"unknown fake behaviour {behaviour!r}"}))
        end = int(time.time() * 1000) + 1
        return RunOutcome(
            status_code=status,
            result=result,
            start_ms=start - (5 if cold else 0),
            end_ms=end,
            wait_ms=1,
            init_ms=5 if cold else None,
            size=len(orjson.dumps(result)),
            logs=[f"2024-01-01T00:00:00.000000000Z  stdout: {behaviour} {spec.name}"],
            isolation="none",
        )

    async def _held(self, request: RunRequest, start: int) -> RunOutcome:
        params = request.params if isinstance(request.params, dict) else {}
        outcome = RunOutcome(0, params, start, int(time.time() * 1000) + 1, 1, isolation="none")
        if request.on_result is not None:
            request.on_result(outcome)
        self.held_logs += 1
        try:
            await asyncio.wait_for(self._released.wait(), params.get("ms", 30_000) / 1000)
        except TimeoutError:
            pass
        finally:
            self.held_logs -= 1
        outcome.logs = ["2024-01-01T00:00:00.000000000Z  stdout: held logs"]
        return outcome


class Api:
    """A thin requests client for one server (``ns`` = the namespace segment used in URLs)."""

    def __init__(self, apihost: str, auth: str, ns: str = "_") -> None:
        self.apihost = apihost
        self.base = f"{apihost}/api/v1/namespaces/{ns}"
        self.session = requests.Session()
        user, _, key = auth.partition(":")
        self.session.auth = (user, key)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        return self.session.request(method, url, timeout=60, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def put_action(
        self, name: str, code: str = ECHO, kind: str = "python:3.11", overwrite: bool = False, **body: Any
    ) -> requests.Response:
        payload = {"exec": {"kind": kind, "code": code}, **body}
        return self.request(
            "PUT", f"/actions/{name}", params={"overwrite": str(overwrite).lower()}, json=payload
        )

    def put_sequence(self, name: str, components: list[str], overwrite: bool = False) -> requests.Response:
        body = {"exec": {"kind": "sequence", "components": components}}
        return self.request(
            "PUT", f"/actions/{name}", params={"overwrite": str(overwrite).lower()}, json=body
        )

    def invoke(
        self, name: str, params: Any = None, *, blocking: bool = True, result: bool = False, **query: Any
    ) -> requests.Response:
        q = {"blocking": str(blocking).lower(), "result": str(result).lower(), **query}
        return self.request("POST", f"/actions/{name}", params=q, json=params if params is not None else {})

    def activation(self, activation_id: str, suffix: str = "") -> requests.Response:
        return self.get(f"/activations/{activation_id}{suffix}")

    def close(self) -> None:
        self.session.close()


def notes_of(record: dict[str, Any]) -> dict[str, Any]:
    """Annotations of a record or action as a dict."""
    return {a["key"]: a["value"] for a in record["annotations"]}


@pytest.fixture
def fake_invoker() -> FakeInvoker:
    """A fresh fake invoker."""
    return FakeInvoker()


ServerFactory = Callable[..., tuple[LocalOpenWhisk, Api]]


@pytest.fixture
def make_server(fake_invoker: FakeInvoker) -> Iterator[ServerFactory]:
    """Factory ``make(limits=..., invoker=..., **config) -> (server, api)`` on port 0; stopped at teardown."""
    started: list[tuple[LocalOpenWhisk, Api]] = []

    def make(*, invoker: Any = fake_invoker, **limits: Any) -> tuple[LocalOpenWhisk, Api]:
        config = LocalConfig(port=0, limits=replace(Limits(), **limits))
        server = LocalOpenWhisk(config, invoker=invoker).__enter__()
        api = Api(server.apihost, server.auth)
        started.append((server, api))
        return server, api

    yield make
    for server, api in reversed(started):
        api.close()
        server.__exit__(None, None, None)


@pytest.fixture
def server_api(make_server: ServerFactory) -> tuple[LocalOpenWhisk, Api]:
    """A server with OpenWhisk's default limits over the fake invoker, and its client."""
    return make_server()


@pytest.fixture
def api(server_api: tuple[LocalOpenWhisk, Api]) -> Api:
    """The client of :func:`server_api`."""
    return server_api[1]


@pytest.fixture(scope="session")
def real_server() -> Iterator[LocalOpenWhisk]:
    """One embedded OpenWhisk with the real invoker for the session (no prewarm, benchmark throttles)."""
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=()))
    with LocalOpenWhisk(config) as server:
        yield server


@pytest.fixture
def real_api(real_server: LocalOpenWhisk) -> Iterator[Api]:
    """A client of :func:`real_server`."""
    client = Api(real_server.apihost, real_server.auth)
    yield client
    client.close()
