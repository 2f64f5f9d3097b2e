"""Helpers shared by the invoker, pool, fault and runtime tests: action revisions, activations, a started
invoker, and one runtime process spoken to directly over HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_openwhisk.local.config import Limits, LocalConfig, PoolConfig
from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.isolation import runtime_command
from pytest_openwhisk.local.manifest import family, interpreter
from pytest_openwhisk.local.types import ActionSpec, RunRequest

T = TypeVar("T")

NO_NODE = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed; run 'bash .ci/setup' (installs Node.js 20)"
)


def spec(code: str, name: str = "hello", kind: str = "python:3.11", **changes: Any) -> ActionSpec:
    """An action revision ``guest/<name>`` with OpenWhisk's default limits (timeout 10 s unless changed)."""
    base = ActionSpec(
        namespace="guest",
        path=f"guest/{name}",
        name=name,
        version="0.0.1",
        revision="r1",
        kind=kind,
        code=code,
        binary=False,
        main="main",
        timeout_ms=10_000,
        memory_mb=256,
        logs_mb=10,
        concurrency=1,
    )
    return replace(base, **changes)


def request(
    action: ActionSpec, params: dict[str, Any] | None = None, namespace: str = "guest", api_key: str = ""
) -> RunRequest:
    """One activation of ``action`` (by the guest namespace unless given)."""
    return RunRequest(
        action, params or {}, uuid.uuid4().hex, uuid.uuid4().hex, namespace, api_key, time.time()
    )


def run_with(
    scenario: Callable[[Invoker], Awaitable[T]],
    *,
    api_host: str = "",
    limits: Limits | None = None,
    **pool: Any,
) -> T:
    """Run ``scenario`` against a started invoker and return its result.

    The pool has no stem cells and no sandbox unless ``pool`` says otherwise.
    """
    config = LocalConfig(
        limits=limits or Limits(), pool=PoolConfig(**{"prewarm": (), "isolation": "none", **pool})
    )

    async def main() -> T:
        async with Invoker(config, api_host=api_host) as invoker:
            return await scenario(invoker)

    return asyncio.run(main())


def with_runtime(tmp_path: Path, scenario: Callable[[Container], Awaitable[None]], kind: str) -> None:
    """Start one runtime process of ``kind``, run ``scenario`` against it, kill it."""

    async def main() -> None:
        container = Container(kind, 256, "none", str(tmp_path))
        container.spawn(
            lambda fd: runtime_command(family(kind), interpreter(kind), 256, fd, container.workdir, []),
            {"PATH": "/usr/bin:/bin"},
        )
        try:
            await scenario(container)
        finally:
            await container.destroy()

    asyncio.run(main())


async def post(container: Container, path: str, payload: Any) -> tuple[int, Any]:
    """POST JSON to a runtime and decode the JSON answer."""
    response = await container.post(path, json.dumps(payload).encode(), 10.0)
    return response.status, json.loads(response.body)


def init_body(code: str, main: str = "main", binary: bool = False, env: dict[str, str] | None = None) -> Any:
    """An /init body as the invoker sends it."""
    return {"value": {"name": "a", "main": main, "binary": binary, "code": code, "env": env or {}}}


def zip_b64(files: dict[str, str], compression: int = zipfile.ZIP_DEFLATED) -> str:
    """Base64 zip of ``files`` (name -> text, in this order)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode()


# An action that leaves a double-forked daemon (its own session) behind and returns the daemon's pid.
DAEMON = """
import os, time
def main(args):
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            os.close(write)
            time.sleep(300)
        os._exit(0)
    os.close(write)
    return {"daemon": int(os.read(read, 32))}
"""


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
