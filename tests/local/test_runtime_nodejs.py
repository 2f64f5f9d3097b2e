"""The Node.js runtime proxy spoken to directly over HTTP: /init once, results, throws, rejections, zips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.manifest import interpreter

from .invoker_helpers import NO_NODE, init_body, post, with_runtime, zip_b64
from .runtime_helpers import raw_runtime

pytestmark = NO_NODE


KIND = "nodejs:20"


def test_second_init_is_refused_and_env_is_set(tmp_path: Path) -> None:
    code = "function main(a) { return {p: process.env.INIT_PARAM, id: process.env.__OW_ACTIVATION_ID} }"

    async def scenario(c: Container) -> None:
        assert await post(c, "/run", {"value": {}}) == (403, {"error": "System not initialized."})
        assert await post(c, "/init", init_body(code, env={"INIT_PARAM": "p"})) == (200, {"OK": True})
        assert await post(c, "/init", init_body(code, env={"INIT_PARAM": "p"})) == (
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

    with_runtime(tmp_path, scenario, KIND)


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

    with_runtime(tmp_path, scenario, KIND)


def test_sync_throw_is_reported_and_stops_the_runtime(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body("function main() { throw new TypeError('boom') }"))
        assert await post(c, "/run", {"value": {}}) == (
            502,
            {"error": "An error has occurred: TypeError: boom"},
        )
        status, _ = await post(c, "/run", {"value": {}})
        assert status == 403

    with_runtime(tmp_path, scenario, KIND)


def test_zip_with_package_json_main(tmp_path: Path) -> None:
    code = zip_b64(
        {
            "package.json": json.dumps({"name": "z", "main": "lib/entry.js"}),
            "lib/entry.js": "const h = require('./helper');\nexports.main = (a) => ({v: h.triple(a.n)});",
            "lib/helper.js": "exports.triple = (n) => 3 * n;",
            "README.txt": "stored " * 10,
        }
    )

    async def scenario(c: Container) -> None:
        assert (await post(c, "/init", init_body(code, binary=True)))[0] == 200
        assert await post(c, "/run", {"value": {"n": 5}}) == (200, {"v": 15})

    with_runtime(tmp_path, scenario, KIND)


def test_zip_with_index_js_and_stored_entries(tmp_path: Path) -> None:
    code = zip_b64({"index.js": "module.exports.go = () => ({ok: true});"}, zipfile.ZIP_STORED)

    async def scenario(c: Container) -> None:
        assert (await post(c, "/init", init_body(code, main="go", binary=True)))[0] == 200
        assert await post(c, "/run", {"value": {}}) == (200, {"ok": True})

    with_runtime(tmp_path, scenario, KIND)


def test_init_failure_reports_the_cause(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        status, body = await post(c, "/init", init_body("function notMain() {}"))
        assert status == 502
        assert body["error"].startswith("Initialization has failed due to: Error: Action entrypoint 'main'")

    with_runtime(tmp_path, scenario, KIND)


# Loaded into the runtime (NODE_OPTIONS=--require): records, in order, the response and the sentinel writes.
ORDER_PRELOAD = """
const fs = require('fs');
const http = require('http');
const log = (what) => fs.appendFileSync(process.env.ORDER_LOG, what + '\\n');
const end = http.ServerResponse.prototype.end;
http.ServerResponse.prototype.end = function (...args) {
  log('response ' + this.statusCode);
  return end.apply(this, args);
};
for (const name of ['stdout', 'stderr']) {
  const write = process[name].write.bind(process[name]);
  process[name].write = (chunk, ...rest) => {
    if (String(chunk).includes('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX')) log(name);
    return write(chunk, ...rest);
  };
}
"""


def order_log(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment that loads :data:`ORDER_PRELOAD` into the runtime, and the file it writes."""
    preload, log = tmp_path / "order.js", tmp_path / "order.log"
    preload.write_text(ORDER_PRELOAD)
    return {"NODE_OPTIONS": f"--require {preload}", "ORDER_LOG": str(log)}, log


@pytest.mark.parametrize(
    ("code", "order"),
    [
        ("function main(a) { return {n: a.n} }", ["stdout", "stderr", "response 200"]),
        ("function main(a) { return Promise.resolve({n: a.n}) }", ["stdout", "stderr", "response 200"]),
        ("function main(a) { throw new Error('sync') }", ["stdout", "stderr", "response 502"]),
        ("function main(a) { return 7 }", ["stdout", "stderr", "response 502"]),
    ],
    ids=["sync", "promise", "throw", "not-an-object"],
)
def test_the_sentinels_go_out_before_the_response(tmp_path: Path, code: str, order: list[str]) -> None:
    """When the response arrives the invoker has the activation's whole logs."""
    env, log = order_log(tmp_path)
    with raw_runtime(tmp_path, "nodejs", interpreter(KIND), env) as runtime:
        assert runtime.post("/init", init_body(code)) == (200, {"OK": True})
        assert runtime.post("/run", {"value": {"n": 1}})[0] == int(order[-1].split()[1])
        runtime.read_until_sentinel(runtime.stdout)
        runtime.read_until_sentinel(runtime.stderr)
        assert log.read_text().splitlines() == ["response 200", *order]  # the /init, then the /run


def test_a_failed_init_writes_its_sentinels_before_answering(tmp_path: Path) -> None:
    env, log = order_log(tmp_path)
    with raw_runtime(tmp_path, "nodejs", interpreter(KIND), env) as runtime:
        assert runtime.post("/init", init_body("function notMain() {}"))[0] == 502
        runtime.read_until_sentinel(runtime.stdout)
        assert b"Action entrypoint 'main' is not a function" in runtime.read_until_sentinel(runtime.stderr)
        assert log.read_text().splitlines() == ["stdout", "stderr", "response 502"]


ENV_PROBE = """
const { execSync } = require('child_process');
function main(a) {
  const env = process.env;
  const seen = { id: env.__OW_ACTIVATION_ID, ns: env.__OW_NAMESPACE, has: '__OW_ACTIVATION_ID' in env,
    listed: Object.keys(env).includes('__OW_ACTIVATION_ID'), copied: { ...env }.__OW_ACTIVATION_ID,
    path: Boolean(env.PATH) };
  if (a.child) seen.child = execSync('echo $__OW_ACTIVATION_ID $__OW_NAMESPACE').toString().trim();
  if (a.native) seen.native = process.report.getReport().environmentVariables.__OW_ACTIVATION_ID || null;
  if (a.tamper) env.__OW_NAMESPACE = 'tampered';
  return seen;
}
"""


def test_ow_variables_stay_out_of_the_c_environment(tmp_path: Path) -> None:
    """setenv keeps every string it made (210-310 bytes per activation measured): the __OW_* values live in
    process.env's own object instead, and the action, its copies of process.env and its child processes
    still see the current ones."""
    with raw_runtime(tmp_path, "nodejs", interpreter(KIND)) as runtime:
        assert runtime.post("/init", init_body(ENV_PROBE)) == (200, {"OK": True})
        for n in (1, 2):
            ids = {"activation_id": f"{n:032x}", "transaction_id": f"{n:032d}", "deadline": str(n)}
            value = {"child": True, "native": True, "tamper": n == 1}
            status, seen = runtime.post("/run", {"value": value, "namespace": "guest", **ids})
            assert status == 200
            assert seen == {
                "id": f"{n:032x}",
                "ns": "guest",  # the first run's tampering undone
                "has": True,
                "listed": True,
                "copied": f"{n:032x}",
                "path": True,
                "child": f"{n:032x} guest",
                "native": None,  # what getenv() sees: no setenv per activation
            }
