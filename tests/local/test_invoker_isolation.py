"""Isolation modes: bwrap (read-only system, private /tmp, own PID/UTS namespaces, shared network), none."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.isolation import bwrap_problem, resolve_mode
from pytest_openwhisk.local.types import SUCCESS, ActionSpec, RunOutcome, RunRequest

PROBE = """
import os, socket, sys
def main(args):
    def writable(path):
        try:
            with open(os.path.join(path, "ow-probe-" + args["tag"]), "w") as handle:
                handle.write("x")
            return True
        except OSError:
            return False
    with socket.create_connection(("127.0.0.1", args["port"]), timeout=5):
        reached = True
    return {"pid": os.getpid(), "host": socket.gethostname(), "tmp": writable("/tmp"),
            "home": writable(os.environ["HOME"]), "system": writable(args["system"]), "net": reached}
"""


def run_probe(isolation: str, tmp_path: Path) -> tuple[RunOutcome, str]:
    """Run the probe action under ``isolation``; returns the outcome and the probe's tag."""
    tag = uuid.uuid4().hex
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    action = ActionSpec(
        namespace="guest",
        path="guest/probe",
        name="probe",
        version="0.0.1",
        revision="r1",
        kind="python:3.11",
        code=PROBE,
        binary=False,
        main="main",
        timeout_ms=10_000,
        memory_mb=256,
        logs_mb=10,
        concurrency=1,
    )
    params: dict[str, Any] = {"tag": tag, "port": listener.getsockname()[1], "system": str(tmp_path)}

    async def main() -> RunOutcome:
        async with Invoker(LocalConfig(pool=PoolConfig(prewarm=(), isolation=isolation))) as invoker:
            return await invoker.run(
                RunRequest(action, params, uuid.uuid4().hex, uuid.uuid4().hex, "guest", "", time.time())
            )

    try:
        return asyncio.run(main()), tag
    finally:
        listener.close()


needs_bwrap = pytest.mark.skipif(
    bwrap_problem() is not None, reason=f"bwrap unusable here ({bwrap_problem()}); apt-get install bubblewrap"
)


@needs_bwrap
def test_bwrap_sandbox_limits_the_filesystem_and_keeps_the_network(tmp_path: Path) -> None:
    outcome, tag = run_probe("bwrap", tmp_path)
    assert outcome.status_code == SUCCESS, outcome.result
    assert outcome.isolation == "bwrap"
    result = outcome.result
    assert result["net"]  # actions can reach services on the host's loopback (the controller API)
    assert result["tmp"]
    assert not Path(f"/tmp/ow-probe-{tag}").exists()
    assert result["home"]  # the container's own work dir is writable
    assert not result["system"]  # everything else is read-only
    assert not (tmp_path / f"ow-probe-{tag}").exists()
    assert result["host"] == "openwhisk-action"
    assert result["pid"] < 10  # own PID namespace


def test_none_runs_a_plain_process(tmp_path: Path) -> None:
    outcome, tag = run_probe("none", tmp_path)
    assert outcome.status_code == SUCCESS, outcome.result
    assert outcome.isolation == "none"
    assert outcome.result["system"]
    assert (tmp_path / f"ow-probe-{tag}").exists()
    assert outcome.result["host"] == socket.gethostname()
    Path(f"/tmp/ow-probe-{tag}").unlink()


def test_auto_prefers_bwrap_when_it_works() -> None:
    expected = "bwrap" if bwrap_problem() is None else "none"
    assert resolve_mode("auto") == expected


def test_unknown_isolation_is_rejected_with_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"pool isolation 'docker' is not supported; use one of auto, bwrap, none"
    ):
        resolve_mode("docker")


@needs_bwrap
def test_bwrap_faults_timeout_and_memory_are_mapped() -> None:
    def action(name: str, code: str, **limits: Any) -> ActionSpec:
        settings: dict[str, Any] = {"timeout_ms": 10_000, "memory_mb": 256, "logs_mb": 10, "concurrency": 1}
        return ActionSpec(
            namespace="guest",
            path=f"guest/{name}",
            name=name,
            version="0.0.1",
            revision="r1",
            kind="python:3.11",
            code=code,
            binary=False,
            main="main",
            **{**settings, **limits},
        )

    async def main() -> list[RunOutcome]:
        async with Invoker(LocalConfig(pool=PoolConfig(prewarm=(), isolation="bwrap"))) as invoker:
            slow = action("slow", "import time\ndef main(args):\n    time.sleep(30)\n", timeout_ms=300)
            hungry = action(
                "hungry", "def main(args):\n    return {'n': len(bytearray(900 << 20))}\n", memory_mb=128
            )
            crash = action("crash", "import os\ndef main(args):\n    os._exit(3)\n")
            ok = action("ok", "def main(args):\n    return {}\n")
            outcomes = []
            for spec in (slow, hungry, crash, ok):
                req = RunRequest(spec, {}, uuid.uuid4().hex, uuid.uuid4().hex, "guest", "", time.time())
                outcomes.append(await invoker.run(req))
            assert invoker.stats()["containers"]["idle"] == 1  # broken sandboxes were destroyed
            return outcomes

    slow, hungry, crash, ok = asyncio.run(main())
    assert slow.result == {"error": "The action exceeded its time limits of 300 milliseconds."}
    assert slow.timed_out
    assert hungry.result == {"error": "The action exhausted its memory and was aborted."}
    assert crash.result == {"error": "The action did not produce a valid response and exited unexpectedly."}
    assert ok.status_code == SUCCESS
    assert {o.isolation for o in (slow, hungry, crash, ok)} == {"bwrap"}
