"""Isolation modes: bwrap (read-only system, private /tmp, own PID/UTS namespaces, shared network), none."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.isolation import bwrap_problem, resolve_mode
from pytest_openwhisk.local.types import SUCCESS, RunOutcome

from .invoker_helpers import request, run_with, spec

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
    action = spec(PROBE, "probe")
    params: dict[str, Any] = {"tag": tag, "port": listener.getsockname()[1], "system": str(tmp_path)}

    async def scenario(invoker: Invoker) -> RunOutcome:
        return await invoker.run(request(action, params))

    try:
        return run_with(scenario, isolation=isolation), tag
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
    async def scenario(invoker: Invoker) -> list[RunOutcome]:
        slow = spec("import time\ndef main(args):\n    time.sleep(30)\n", "slow", timeout_ms=300)
        hungry = spec(
            "def main(args):\n    return {'n': len(bytearray(900 << 20))}\n", "hungry", memory_mb=128
        )
        crash = spec("import os\ndef main(args):\n    os._exit(3)\n", "crash")
        ok = spec("def main(args):\n    return {}\n", "ok")
        outcomes = [await invoker.run(request(action)) for action in (slow, hungry, crash, ok)]
        assert invoker.stats()["containers"]["idle"] == 1  # broken sandboxes were destroyed
        return outcomes

    slow, hungry, crash, ok = run_with(scenario, isolation="bwrap")
    assert slow.result == {"error": "The action exceeded its time limits of 300 milliseconds."}
    assert slow.timed_out
    assert hungry.result == {"error": "The action exhausted its memory and was aborted."}
    assert crash.result == {"error": "The action did not produce a valid response and exited unexpectedly."}
    assert ok.status_code == SUCCESS
    assert {o.isolation for o in (slow, hungry, crash, ok)} == {"bwrap"}
