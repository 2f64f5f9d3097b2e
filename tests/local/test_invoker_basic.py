"""The invoker end to end: warm reuse, cold starts, activation env, logs and their limits."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

from pytest_openwhisk.local.invoker import Invoker, compile_runtimes
from pytest_openwhisk.local.logs import DEVELOPER_ERROR, SENTINEL
from pytest_openwhisk.local.manifest import RUNTIMES_DIR
from pytest_openwhisk.local.types import APPLICATION_ERROR, SUCCESS, RunOutcome

from .invoker_helpers import NO_NODE, request, run_with, spec

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr): ")


ECHO = (
    "import os\n"
    "def main(args):\n"
    "    print('got', args.get('n'))\n"
    "    return {'n': args.get('n'), 'pid': os.getpid()}\n"
)


def test_cold_then_warm_reuse_same_container() -> None:
    async def scenario(invoker: Invoker) -> None:
        action = spec(ECHO)
        first = await invoker.run(request(action, {"n": 1}))
        second = await invoker.run(request(action, {"n": 2}))
        assert first.status_code == second.status_code == SUCCESS
        assert first.result["n"] == 1
        assert second.result["n"] == 2
        assert first.init_ms is not None
        assert first.init_ms > 0
        assert second.init_ms is None
        assert first.result["pid"] == second.result["pid"]
        assert first.container_id == second.container_id
        assert first.start_ms <= first.end_ms
        assert first.end_ms - first.start_ms >= first.init_ms
        assert invoker.stats()["starts"] == {"cold": 1, "warm": 1, "prewarm": 0}

    run_with(scenario)


def test_new_revision_or_other_namespace_gets_its_own_container() -> None:
    async def scenario(invoker: Invoker) -> None:
        action = spec(ECHO)
        first = await invoker.run(request(action))
        other_ns = await invoker.run(request(action, namespace="alice"))
        updated = await invoker.run(request(replace(action, revision="r2")))
        assert len({first.container_id, other_ns.container_id, updated.container_id}) == 3
        assert other_ns.init_ms is not None
        assert updated.init_ms is not None

    run_with(scenario)


def test_activation_env_and_api_host() -> None:
    code = (
        "import os\n"
        "def main(args):\n"
        "    return {k: v for k, v in os.environ.items() if k.startswith('__OW_')}\n"
    )

    async def scenario(invoker: Invoker) -> None:
        with_key = spec(code, name="keyed", provide_api_key=True, init_env={"MY_PARAM": "x"})
        req = request(with_key, namespace="alice", api_key="uuid-1:secret-key")
        before = int(time.time() * 1000)
        env = (await invoker.run(req)).result
        assert env["__OW_NAMESPACE"] == "alice"
        assert env["__OW_ACTION_NAME"] == "/guest/keyed"
        assert env["__OW_ACTION_VERSION"] == "0.0.1"
        assert env["__OW_ACTIVATION_ID"] == req.activation_id
        assert env["__OW_TRANSACTION_ID"] == req.transaction_id
        assert env["__OW_API_KEY"] == "uuid-1:secret-key"
        assert env["__OW_API_HOST"] == "http://127.0.0.1:9999"
        assert before + 10_000 <= int(env["__OW_DEADLINE"]) <= int(time.time() * 1000) + 10_000
        no_key = (await invoker.run(request(spec(code, name="plain")))).result
        assert "__OW_API_KEY" not in no_key

    run_with(scenario, api_host="http://127.0.0.1:9999")


def test_logs_are_formatted_per_activation_without_sentinels() -> None:
    code = (
        "import sys\n"
        "print('at init')\n"
        "def main(args):\n"
        "    print('out', args['n'])\n"
        "    print('err', args['n'], file=sys.stderr)\n"
        "    return {}\n"
    )

    async def scenario(invoker: Invoker) -> None:
        action = spec(code)
        first = await invoker.run(request(action, {"n": 1}))
        second = await invoker.run(request(action, {"n": 2}))
        assert all(LOG_LINE.match(line) for line in first.logs + second.logs)
        assert [line[31:] for line in first.logs] == ["stdout: at init", "stdout: out 1", "stderr: err 1"]
        assert [line[31:] for line in second.logs] == ["stdout: out 2", "stderr: err 2"]
        assert not any(SENTINEL in line for line in first.logs + second.logs)

    run_with(scenario)


def test_log_limit_truncates_and_zero_disables() -> None:
    code = "def main(args):\n    for i in range(3000):\n        print('x' * 1000)\n    return {}\n"

    async def scenario(invoker: Invoker) -> None:
        limited = await invoker.run(request(spec(code, name="chatty", logs_mb=1)))
        assert limited.status_code == SUCCESS
        assert limited.logs[-1].endswith(
            "stderr: Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes."
        )
        assert 1000 <= len(limited.logs) <= 1050
        silent = await invoker.run(request(spec(code, name="silent", logs_mb=0)))
        assert silent.status_code == SUCCESS
        assert silent.logs == []
        again = await invoker.run(request(spec(code, name="silent", logs_mb=0)))
        assert again.init_ms is None
        assert again.logs == []

    run_with(scenario)


def test_developer_error_appends_log_notice() -> None:
    async def scenario(invoker: Invoker) -> None:
        outcome = await invoker.run(request(spec("def main(args):\n    print('before')\n    return 7\n")))
        assert outcome.logs[0].endswith("stdout: before")
        assert outcome.logs[-1].endswith(f"stderr: {DEVELOPER_ERROR}")

    run_with(scenario)


def test_list_result_and_application_error_keep_container_warm() -> None:
    code = (
        "def main(args):\n"
        "    if args.get('fail'):\n"
        "        return {'error': 'nope', 'extra': 1}\n"
        "    return [1, 2, 3]\n"
    )

    async def scenario(invoker: Invoker) -> None:
        action = spec(code)
        ok = await invoker.run(request(action))
        failed = await invoker.run(request(action, {"fail": True}))
        again = await invoker.run(request(action))
        assert (ok.status_code, ok.result) == (SUCCESS, [1, 2, 3])
        assert (failed.status_code, failed.result) == (APPLICATION_ERROR, {"error": "nope"})
        assert again.container_id == ok.container_id
        assert again.init_ms is None

    run_with(scenario)


@NO_NODE
def test_nodejs_action_cold_and_warm() -> None:
    code = (
        "function main(args) { console.log('hi', args.n);"
        " return {n: args.n, ns: process.env.__OW_NAMESPACE} }"
    )

    async def scenario(invoker: Invoker) -> None:
        action = spec(code, kind="nodejs:default")
        first: RunOutcome = await invoker.run(request(action, {"n": 1}))
        second = await invoker.run(request(action, {"n": 2}))
        assert (first.status_code, first.result) == (SUCCESS, {"n": 1, "ns": "guest"})
        assert first.init_ms is not None
        assert second.init_ms is None
        assert second.container_id == first.container_id
        assert [line[31:] for line in second.logs] == ["stdout: hi 2"]

    run_with(scenario)


def test_stats_report_memory_and_settings() -> None:
    async def scenario(invoker: Invoker) -> None:
        await invoker.run(request(spec(ECHO, memory_mb=128)))
        stats = invoker.stats()
        assert stats["containers"] == {"prewarm": 0, "idle": 1, "busy": 0}
        assert stats["memory_mb"] == {"used": 128, "budget": 1024}
        assert stats["isolation"] == "none"
        assert stats["settings"]["user_memory_mb"] == 1024

    run_with(scenario, user_memory_mb=1024)


def test_runtime_bytecode_is_written_before_the_first_sandboxed_start(tmp_path: Path) -> None:
    """The Python runtime is a module: its cached bytecode must exist before a read-only sandbox starts it."""
    tree = tmp_path / "runtimes"
    shutil.copytree(RUNTIMES_DIR, tree, ignore=shutil.ignore_patterns("__pycache__"))
    with mock.patch("pytest_openwhisk.local.invoker.RUNTIMES_DIR", tree):
        assert compile_runtimes()
    cached = sorted(p.name.split(".")[0] for p in (tree / "__pycache__").iterdir())
    assert "python_runtime" in cached
