"""Container starts run off the controller's event loop (issue 16): while a start is held, the controller
still answers ``/ping`` and non-blocking invokes; once released, the activation ends with a record. Starts
that fail in the background are whisk errors naming the cause; a dead spawn helper is replaced.

Timing belongs to ``benchmarks/embedded/test_storm.py``; here a start is held outright (a blocked worker
thread, a stopped spawn helper), so an event loop that waited for it could not answer at all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_openwhisk.local import resources, spawner
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.group import Group
from pytest_openwhisk.local.invoker import PROVISION_FAILED, Invoker
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.local.spawn import PREPARE_THREAD, Launcher
from pytest_openwhisk.local.types import SUCCESS, WHISK_ERROR
from pytest_openwhisk.wait import wait_until
from tests.local.conftest import Api

from .invoker_helpers import request, run_with, spec

NOOP = "def main(args):\n    return {}\n"
ANSWER_S = 20.0  # a loop blocked by the held start would not answer at all (the hold lasts until released)


@pytest.fixture
def served() -> Iterator[tuple[LocalOpenWhisk, Api]]:
    """An embedded server without stem cells or sandbox (every invoke of a new action is a cold start) and
    a client of it."""
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=(), isolation="none", user_memory_mb=4 * 128))
    with LocalOpenWhisk(config) as ow:
        client = Api(ow.apihost, ow.auth)
        try:
            yield ow, client
        finally:
            client.close()


def _invoker(server: LocalOpenWhisk) -> Invoker:
    assert server.server is not None
    invoker = server.server.invoker
    assert isinstance(invoker, Invoker)
    return invoker


def _answered_while_held(server: LocalOpenWhisk, api: Api, name: str) -> str:
    """A non-blocking invoke of ``name`` (a cold start) and ``/ping``, both answered; the activation id."""
    accepted = api.session.post(
        f"{api.base}/actions/{name}", params={"blocking": "false"}, json={}, timeout=ANSWER_S
    )
    assert accepted.status_code == 202, accepted.text
    assert requests.get(f"{server.apihost}/ping", timeout=ANSWER_S).status_code == 200
    return str(accepted.json()["activationId"])


def _succeeds(api: Api, activation_id: str) -> None:
    def recorded() -> dict[str, Any] | None:
        got = api.activation(activation_id)
        return got.json() if got.status_code == 200 else None

    record = wait_until(recorded, what=f"record of {activation_id}", timeout=60, interval=0.05)
    assert record["response"]["status"] == "success", record


def test_answers_while_a_container_start_is_held_in_its_worker_thread(
    served: tuple[LocalOpenWhisk, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, api = served
    assert api.put_action("held", NOOP, limits={"memory": 128}).status_code == 200
    entered, release = threading.Event(), threading.Event()
    make_group = resources.Control.group

    def held_group(self: resources.Control, *args: Any) -> Group:
        entered.set()
        release.wait(60)
        return make_group(self, *args)

    monkeypatch.setattr(resources.Control, "group", held_group)
    try:
        activation_id = _answered_while_held(server, api, "held")
        # the worker thread may enter the held step only after the 202: wait for it, then ask again
        wait_until(entered.is_set, what="the container start held in its worker thread", timeout=30)
        assert requests.get(f"{server.apihost}/ping", timeout=ANSWER_S).status_code == 200
        assert all(not e.container.pid for e in _invoker(server).pool.entries)  # still held
    finally:
        release.set()
    _succeeds(api, activation_id)


def test_answers_while_the_spawn_helper_is_stopped(served: tuple[LocalOpenWhisk, Api]) -> None:
    server, api = served
    assert api.put_action("stopped", NOOP, limits={"memory": 128}).status_code == 200
    launcher = _invoker(server)._launcher
    assert launcher is not None
    helper = launcher.helper_pid
    os.kill(helper, signal.SIGSTOP)
    try:
        activation_id = _answered_while_held(server, api, "stopped")
        assert all(not e.container.pid for e in _invoker(server).pool.entries)
    finally:
        os.kill(helper, signal.SIGCONT)
    _succeeds(api, activation_id)


def test_a_start_failing_in_the_background_is_a_whisk_error_naming_the_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_group(self: resources.Control, *args: Any) -> Group:
        raise OSError(28, "No space left on device", "/sys/fs/cgroup/memory/x")

    async def scenario(invoker: Invoker) -> tuple[Any, Any]:
        monkeypatch.setattr(resources.Control, "group", no_group)
        broken = await invoker.run(request(spec(NOOP, name="nogroup")))
        monkeypatch.undo()
        return broken, await invoker.run(request(spec(NOOP, name="nogroup")))

    broken, fixed = run_with(scenario)
    assert (broken.status_code, broken.result) == (WHISK_ERROR, {"error": PROVISION_FAILED})
    assert "cannot start a python:3.11 runtime" in broken.logs[0]
    assert "No space left on device" in broken.logs[0]
    assert fixed.status_code == SUCCESS


def test_a_runtime_that_cannot_enter_its_cgroup_is_a_whisk_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    missing = str(tmp_path / "gone" / "cgroup.procs")
    monkeypatch.setattr(spawner, "procs_files", lambda group: [missing])
    outcome = run_with(lambda invoker: invoker.run(request(spec(NOOP, name="nocgroup"))))
    assert (outcome.status_code, outcome.result) == (WHISK_ERROR, {"error": PROVISION_FAILED})
    assert f"{spawner.ENTRY_MARKER} {missing}" in outcome.logs[0]


def test_a_dead_spawn_helper_is_replaced() -> None:
    async def scenario(invoker: Invoker) -> tuple[list[int], int, int]:
        launcher = invoker._launcher
        assert launcher is not None
        statuses = [(await invoker.run(request(spec(NOOP, name="before")))).status_code]
        old = launcher.helper_pid
        os.kill(old, signal.SIGKILL)
        os.waitid(os.P_PID, old, os.WEXITED | os.WNOWAIT)  # dead (the launcher reaps it)
        # a start racing the helper's death may fail once (a whisk error); the next one has a new helper
        for name in ("racing", "after"):
            statuses.append((await invoker.run(request(spec(NOOP, name=name)))).status_code)
        return statuses, old, launcher.helper_pid

    (before, racing, after), old, new = run_with(scenario)
    assert (before, after) == (SUCCESS, SUCCESS)
    assert racing in (SUCCESS, WHISK_ERROR)
    assert new != old


def test_runtimes_hold_neither_the_helpers_socket_nor_its_other_fds() -> None:
    async def scenario(invoker: Invoker) -> tuple[set[str], set[str]]:
        assert (await invoker.run(request(spec(NOOP, name="fds")))).status_code == SUCCESS
        launcher = invoker._launcher
        assert launcher is not None
        (entry,) = invoker.pool.entries
        return _fd_targets(launcher.helper_pid), _fd_targets(entry.container.pid)

    helper, runtime = run_with(scenario)
    sockets = {target for target in helper if target.startswith("socket:")}
    assert sockets  # the helper's control socket
    assert not sockets & runtime  # a runtime could otherwise write spawn answers to the server


def _fd_targets(pid: int) -> set[str]:
    targets = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.add(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
    return targets


def test_container_preparations_run_one_at_a_time_in_the_launchers_thread(tmp_path: Path) -> None:
    """Preparations are mostly Python code: several at once in the loop's pool took the GIL from the event
    loop during a storm. They run in one thread of their own, one after the other."""
    entered, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def prepare() -> tuple[list[str], dict[str, str], list[int]]:
        threads.append(threading.current_thread().name)
        entered.set()
        release.wait(ANSWER_S)
        return ["true"], {}, []

    async def scenario() -> list[str]:
        launcher = Launcher()
        containers = [
            Container("python:3.11", 128, "none", str(tmp_path), launcher=launcher) for _ in range(3)
        ]
        for container in containers:
            container.start(prepare)
        assert await asyncio.to_thread(entered.wait, ANSWER_S)
        await asyncio.sleep(0.2)  # time for the others to begin, if they could
        begun = list(threads)
        release.set()
        for container in containers:
            await container.wait_started()
            await container.destroy()
        await launcher.stop()
        return begun

    begun = asyncio.run(scenario())
    assert len(begun) == 1  # the others waited for the first
    assert len(threads) == 3
    assert {name.split("_")[0] for name in threads} == {PREPARE_THREAD}  # one thread, its own
    assert len(set(threads)) == 1
