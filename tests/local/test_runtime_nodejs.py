"""The Node.js runtime proxy spoken to directly over HTTP: /init once, results, throws, rejections, zips."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.isolation import runtime_command
from pytest_openwhisk.local.manifest import interpreter

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed; run 'bash .ci/setup' (installs Node.js 20)"
)


def with_runtime(tmp_path: Path, scenario: Callable[[Container], Awaitable[None]]) -> None:
    """Start one Node.js runtime process, run ``scenario`` against it, kill it."""

    async def main() -> None:
        container = Container("nodejs:20", 256, "none", str(tmp_path))
        container.spawn(
            lambda fd: runtime_command("nodejs", interpreter("nodejs:20"), 256, fd, container.workdir, []),
            {"PATH": "/usr/bin:/bin"},
        )
        try:
            await scenario(container)
        finally:
            await container.destroy()

    asyncio.run(main())


async def post(container: Container, path: str, payload: Any) -> tuple[int, Any]:
    """POST JSON and decode the JSON answer."""
    response = await container.post(path, json.dumps(payload).encode(), 10.0)
    return response.status, json.loads(response.body)


def init_body(code: str, main: str = "main", binary: bool = False) -> Any:
    """An /init body as the invoker sends it."""
    return {"value": {"name": "a", "main": main, "binary": binary, "code": code, "env": {"INIT_PARAM": "p"}}}


def test_second_init_is_refused_and_env_is_set(tmp_path: Path) -> None:
    code = "function main(a) { return {p: process.env.INIT_PARAM, id: process.env.__OW_ACTIVATION_ID} }"

    async def scenario(c: Container) -> None:
        assert await post(c, "/run", {"value": {}}) == (403, {"error": "System not initialized."})
        assert await post(c, "/init", init_body(code)) == (200, {"OK": True})
        assert await post(c, "/init", init_body(code)) == (
            403,
            {"error": "Cannot initialize the action more than once."},
        )
        assert await post(c, "/run", {"value": {}, "activation_id": "f" * 32}) == (
            200,
            {"p": "p", "id": "f" * 32},
        )
        out, _, complete = await c.stdout.next_chunk(5.0)
        assert complete
        assert out == []

    with_runtime(tmp_path, scenario)


def test_module_exports_undefined_and_non_object_results(tmp_path: Path) -> None:
    code = (
        "exports.main = (a) => { console.log('kind', a.kind);\n"
        "  if (a.kind === 'undef') return undefined;\n"
        "  if (a.kind === 'num') return 42;\n"
        "  if (a.kind === 'reject') return Promise.reject(new Error('nope'));\n"
        "  return Promise.resolve({done: a.kind}); }"
    )

    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body(code))
        assert await post(c, "/run", {"value": {"kind": "undef"}}) == (200, {})
        assert await post(c, "/run", {"value": {"kind": "async"}}) == (200, {"done": "async"})
        status, body = await post(c, "/run", {"value": {"kind": "reject"}})
        assert status == 200
        assert body["error"]["message"] == "nope"
        assert body["error"]["name"] == "Error"
        assert await post(c, "/run", {"value": {"kind": "num"}}) == (
            502,
            {"error": "The action did not return a dictionary."},
        )
        lines = []
        for _ in range(4):
            out, _, _ = await c.stdout.next_chunk(5.0)
            lines += [text for _, text in out]
        assert lines == ["kind undef", "kind async", "kind reject", "kind num"]

    with_runtime(tmp_path, scenario)


def test_sync_throw_is_reported_and_stops_the_runtime(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body("function main() { throw new TypeError('boom') }"))
        assert await post(c, "/run", {"value": {}}) == (
            502,
            {"error": "An error has occurred: TypeError: boom"},
        )
        status, _ = await post(c, "/run", {"value": {}})
        assert status == 403

    with_runtime(tmp_path, scenario)


def test_zip_with_package_json_main(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("package.json", json.dumps({"name": "z", "main": "lib/entry.js"}))
        archive.writestr(
            "lib/entry.js", "const h = require('./helper');\nexports.main = (a) => ({v: h.triple(a.n)});"
        )
        archive.writestr("lib/helper.js", "exports.triple = (n) => 3 * n;")
        archive.writestr("README.txt", "stored " * 10)
    code = base64.b64encode(buffer.getvalue()).decode()

    async def scenario(c: Container) -> None:
        assert (await post(c, "/init", init_body(code, binary=True)))[0] == 200
        assert await post(c, "/run", {"value": {"n": 5}}) == (200, {"v": 15})

    with_runtime(tmp_path, scenario)


def test_zip_with_index_js_and_stored_entries(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.js", "module.exports.go = () => ({ok: true});")
    code = base64.b64encode(buffer.getvalue()).decode()

    async def scenario(c: Container) -> None:
        assert (await post(c, "/init", init_body(code, main="go", binary=True)))[0] == 200
        assert await post(c, "/run", {"value": {}}) == (200, {"ok": True})

    with_runtime(tmp_path, scenario)


def test_init_failure_reports_the_cause(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        status, body = await post(c, "/init", init_body("function notMain() {}"))
        assert status == 502
        assert body["error"].startswith("Initialization has failed due to: Error: Action entrypoint 'main'")

    with_runtime(tmp_path, scenario)
