"""Action faults (§3.1 table): exact status codes and messages, container replacement, healthy invoker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local import invoker as invoker_module
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.types import APPLICATION_ERROR, DEVELOPER_ERROR, SUCCESS, WHISK_ERROR, RunOutcome
from pytest_openwhisk.wait import wait_until

from .invoker_helpers import NO_NODE, request, run_with, spec

HEALTHY = "def main(args):\n    return {'healthy': True}\n"


def fault(
    code: str, *, twice: bool = False, limits: Limits | None = None, name: str = "faulty", **changes: Any
) -> list[RunOutcome]:
    """Run a faulty action (twice if asked), then a healthy one that must still succeed."""

    async def scenario(invoker: Invoker) -> list[RunOutcome]:
        action = spec(code, name, **changes)
        outcomes = [await invoker.run(request(action)) for _ in range(2 if twice else 1)]
        healthy = await invoker.run(request(spec(HEALTHY, name="healthy")))
        assert (healthy.status_code, healthy.result) == (SUCCESS, {"healthy": True})
        if outcomes[-1].status_code in (DEVELOPER_ERROR, WHISK_ERROR):
            assert outcomes[-1].container_id not in {e.container.id for e in invoker.pool.entries}
        return outcomes

    return run_with(scenario, limits=limits)


def test_run_timeout_kills_and_replaces_the_container() -> None:
    first, second = fault("import time\ndef main(args):\n    time.sleep(30)\n", timeout_ms=300, twice=True)
    assert first.status_code == DEVELOPER_ERROR
    assert first.result == {"error": "The action exceeded its time limits of 300 milliseconds."}
    assert first.timed_out
    assert second.init_ms is not None
    assert second.container_id != first.container_id


def test_init_timeout() -> None:
    (outcome,) = fault("import time\ntime.sleep(30)\ndef main(args):\n    return {}\n", timeout_ms=300)
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {
        "error": "The action exceeded its time limits of 300 milliseconds during initialization."
    }
    assert outcome.timed_out
    assert outcome.init_ms is not None


def test_crash_during_run() -> None:
    (outcome,) = fault("import os\ndef main(args):\n    print('dying')\n    os._exit(3)\n")
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": "The action did not produce a valid response and exited unexpectedly."}
    assert not outcome.timed_out
    assert outcome.logs[0].endswith("stdout: dying")
    assert outcome.logs[-1].endswith(
        "stderr: The action did not initialize or run as expected. Log data might be missing."
    )


def test_crash_during_init() -> None:
    (outcome,) = fault("import os\nos._exit(3)\n")
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": "The action did not initialize and exited unexpectedly."}


def test_init_error_is_a_developer_error() -> None:
    (outcome,) = fault("def main(args)\n    return {}\n")
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result["error"].startswith("Initialization has failed due to: SyntaxError")
    assert any("SyntaxError" in line for line in outcome.logs)  # traceback in the activation logs


def test_non_dict_result_is_a_developer_error() -> None:
    (outcome,) = fault("def main(args):\n    return 'just text'\n")
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": "The action did not return a dictionary or array."}


def test_raised_exception_is_an_application_error_and_keeps_the_container() -> None:
    first, second = fault("def main(args):\n    raise RuntimeError('no such user')\n", twice=True)
    assert (first.status_code, first.result) == (APPLICATION_ERROR, {"error": "no such user"})
    assert second.init_ms is None
    assert second.container_id == first.container_id


def test_python_memory_limit() -> None:
    (outcome,) = fault(
        "def main(args):\n    return {'n': len(bytearray(900 * 1024 * 1024))}\n", memory_mb=128
    )
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": "The action exhausted its memory and was aborted."}


@NO_NODE
def test_nodejs_memory_limit() -> None:
    code = "function main() { const a = []; for (;;) a.push(new Array(100000).fill(1.5)); }"
    (outcome,) = fault(code, kind="nodejs:20", memory_mb=128)
    assert outcome.status_code == DEVELOPER_ERROR
    assert outcome.result == {"error": "The action exhausted its memory and was aborted."}


@NO_NODE
def test_nodejs_sync_throw_and_rejection() -> None:
    (thrown,) = fault("function main() { throw new Error('sync') }", kind="nodejs:20")
    assert (thrown.status_code, thrown.result) == (
        DEVELOPER_ERROR,
        {"error": "An error has occurred: Error: sync"},
    )
    (rejected,) = fault("async function main() { throw {code: 7} }", kind="nodejs:20")
    assert (rejected.status_code, rejected.result) == (APPLICATION_ERROR, {"error": {"code": 7}})
    (number,) = fault("function main() { return 3 }", kind="nodejs:20")
    assert (number.status_code, number.result) == (
        DEVELOPER_ERROR,
        {"error": "The action did not return a dictionary."},
    )


def test_oversize_result_is_truncated_application_error() -> None:
    first, second = fault(
        "def main(args):\n    return {'x': 'a' * 2000}\n", twice=True, limits=Limits(result_max_bytes=1000)
    )
    assert first.status_code == APPLICATION_ERROR
    message = first.result["error"]
    assert message.startswith(
        "The action produced a response that exceeded the allowed length: 2008 > 1000 bytes. "
        'The truncated response was: {"x":"aaa'
    )
    assert len(message) < 1200
    assert first.size == 2008
    assert second.container_id == first.container_id  # status 1 keeps the container


def test_null_result_from_nodejs_is_not_valid_json_object() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed; run 'bash .ci/setup' (installs Node.js 20)")
    (outcome,) = fault("function main() { return null }", kind="nodejs:20")
    assert outcome.result == {"error": "The action did not produce a valid JSON or JSON Array response: null"}


def test_spawn_failure_is_a_whisk_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(invoker: Invoker) -> tuple[RunOutcome, RunOutcome]:
        monkeypatch.setattr(invoker_module, "interpreter", lambda kind: ["/nonexistent/interpreter"])
        broken = await invoker.run(request(spec(HEALTHY, name="faulty")))
        monkeypatch.undo()
        return broken, await invoker.run(request(spec(HEALTHY, name="faulty")))

    broken, fixed = run_with(scenario)
    assert (broken.status_code, broken.result) == (
        WHISK_ERROR,
        {"error": "Failed to provision resources to run the action."},
    )
    assert "/nonexistent/interpreter" in broken.logs[0]
    assert fixed.status_code == SUCCESS


def test_unknown_kind_is_a_whisk_error() -> None:
    async def scenario(invoker: Invoker) -> RunOutcome:
        return await invoker.run(request(spec(HEALTHY, name="faulty", kind="cobol:1")))

    outcome = run_with(scenario)
    assert outcome.status_code == WHISK_ERROR
    assert "The specified runtime 'cobol:1' is not supported" in outcome.logs[0]


ORPHAN_SCRIPT = """
import asyncio
from pytest_openwhisk.local.config import LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.local.invoker import Invoker

async def main():
    pool = PoolConfig(prewarm=(StemCell("python:3.11", 2, 128),), isolation="none")
    invoker = Invoker(LocalConfig(pool=pool))
    await invoker.start()
    for entry in invoker.pool.entries:
        await entry.container.wait_started()
    print(" ".join(str(e.container.pid) for e in invoker.pool.entries), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")  # zombie: exited, not yet reaped
    except FileNotFoundError:
        return True


def test_runtimes_exit_when_the_invoker_process_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the killed invoker cannot remove its work root
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        pids = [int(pid) for pid in proc.stdout.readline().split()]
        assert len(pids) == 2
        assert not any(_gone(pid) for pid in pids)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    wait_until(lambda: all(_gone(pid) for pid in pids), what="orphaned runtimes to exit", timeout=10)
