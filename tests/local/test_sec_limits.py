"""Whole-container limits and reaping (issue 12 items 7-10): memory over the process tree, process
count, unpacked code size, daemons, OOM told from other deaths, large results."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import pytest

from pytest_openwhisk.local import resources
from pytest_openwhisk.local.invoker import ISOLATION_NOTE, OOM, RUN_EXITED, Invoker
from pytest_openwhisk.local.isolation import bwrap_problem
from pytest_openwhisk.local.types import APPLICATION_ERROR, DEVELOPER_ERROR, SUCCESS, RunOutcome
from pytest_openwhisk.wait import wait_until

from .invoker_helpers import DAEMON, NO_NODE, alive, request, run_with, spec

CGROUPS = resources.probe_mode() != "watchdog"
ENFORCEMENTS = [
    "watchdog",
    pytest.param("cgroup", marks=pytest.mark.skipif(not CGROUPS, reason="no writable cgroups")),
]
needs_bwrap = pytest.mark.skipif(
    bwrap_problem() is not None, reason="bwrap unusable; apt-get install bubblewrap"
)

CHILDREN = """
import os, time
def main(args):
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            block = bytearray(60 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(30)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    return {"survived": True}
"""


def _one(
    code: str, *, kind: str = "python:3.11", memory_mb: int = 128, params: Any = None, **pool: Any
) -> RunOutcome:
    async def scenario(invoker: Invoker) -> RunOutcome:
        return await invoker.run(request(spec(code, "limited", kind=kind, memory_mb=memory_mb), params))

    return run_with(scenario, **pool)


@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_memory_limit_holds_for_the_whole_process_tree(enforcement: str) -> None:
    outcome = _one(CHILDREN, enforcement=enforcement)  # 4 x 60 MB children of a 128 MB action
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": OOM}


@NO_NODE
@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_nodejs_buffer_outside_the_v8_heap_is_limited(enforcement: str) -> None:
    code = "function main() { const b = Buffer.alloc(1536 * 1024 * 1024, 1); return {n: b.length}; }"
    outcome = _one(code, kind="nodejs:20", enforcement=enforcement)
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": OOM}


FORK_BOMB = """
import os, time
def main(args):
    made = 0
    for _ in range(2000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        made += 1
    return {"made": made}
"""


@pytest.mark.parametrize(
    ("isolation", "enforcement"),
    [
        pytest.param("bwrap", "watchdog", marks=needs_bwrap),
        pytest.param("none", "cgroup", marks=pytest.mark.skipif(not CGROUPS, reason="no writable cgroups")),
    ],
)
def test_fork_bomb_stops_at_the_process_limit(isolation: str, enforcement: str) -> None:
    outcome = _one(FORK_BOMB, isolation=isolation, enforcement=enforcement, pids_max=32)
    assert outcome.status_code == SUCCESS, outcome.result
    assert outcome.result["made"] < 32


def _zip_bomb(size_mb: int, name: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            name,
            "def main(args):\n    return {}\n"
            if name == "__main__.py"
            else "module.exports.main = () => ({})\n",
        )
        with archive.open("padding.bin", "w") as handle:
            zeros = bytes(1 << 20)
            for _ in range(size_mb):
                handle.write(zeros)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("kind", "entry"), [("python:3.11", "__main__.py"), pytest.param("nodejs:20", "index.js", marks=NO_NODE)]
)
def test_zip_bomb_is_refused_at_init(kind: str, entry: str) -> None:
    code = _zip_bomb(64, entry)
    assert len(code) < 200_000  # 64 MB of zeros in well under 200 KB

    async def scenario(invoker: Invoker) -> RunOutcome:
        action = spec(code, "bomb", kind=kind, binary=True)
        return await invoker.run(request(action))

    outcome = run_with(scenario, disk_mb=16)
    assert outcome.status_code == DEVELOPER_ERROR
    assert "more than the allowed 16777216 bytes" in str(outcome.result["error"]), outcome.result


@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_daemons_die_with_their_container_on_evict_and_on_stop(enforcement: str) -> None:
    async def scenario(invoker: Invoker) -> tuple[int, int]:
        first = await invoker.run(request(spec(DAEMON, "daemon1")))
        second = await invoker.run(request(spec(DAEMON, "daemon2")))
        assert first.status_code == second.status_code == SUCCESS, (first.result, second.result)
        evicted_pid, kept_pid = first.result["daemon"], second.result["daemon"]
        assert alive(evicted_pid)
        await invoker.evict(path="guest/daemon1")
        await wait_until_async(lambda: not alive(evicted_pid))
        assert alive(kept_pid)
        return evicted_pid, kept_pid

    _, kept = run_with(scenario, enforcement=enforcement)
    wait_until(lambda: not alive(kept), what="daemon reaped at invoker stop", timeout=10)


async def wait_until_async(check: Any, timeout: float = 10.0) -> None:
    """Await ``check()`` becoming true on the running loop (the invoker must keep running meanwhile)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met within the timeout")
        await asyncio.sleep(0.02)


def test_an_external_sigkill_is_not_reported_as_out_of_memory() -> None:
    code = "import os, signal\ndef main(args):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    outcome = _one(code)
    assert outcome.result == {"error": RUN_EXITED}


def test_a_memory_error_is_reported_as_out_of_memory() -> None:
    outcome = _one("def main(args):\n    return {'n': len(bytearray(900 << 20))}\n")
    assert outcome.result == {"error": OOM}


def test_a_100mb_result_in_a_256mb_action_gets_a_clear_message() -> None:
    code = "def main(args):\n    return {'big': 'x' * (100 << 20)}\n"
    outcome = _one(code, memory_mb=256)
    if outcome.status_code == APPLICATION_ERROR:
        assert outcome.result["error"].startswith(
            "The action produced a response that exceeded the allowed length: "
        )
    else:  # serialising the result did not fit in the action's memory
        assert outcome.result == {"error": OOM}


def test_none_mode_annotation_says_what_it_does_not_protect() -> None:
    outcome = _one("def main(args):\n    return {}\n", isolation="none")
    assert outcome.isolation == "none"
    notes = {a["key"]: a["value"] for a in outcome.annotations}
    assert "can read other actions' code" in notes[ISOLATION_NOTE]
    assert "signal or trace the server" in notes[ISOLATION_NOTE]


@needs_bwrap
def test_bwrap_mode_has_no_warning_annotation() -> None:
    outcome = _one("def main(args):\n    return {}\n", isolation="bwrap")
    assert outcome.status_code == SUCCESS, outcome.result
    assert ISOLATION_NOTE not in {a["key"] for a in outcome.annotations}
