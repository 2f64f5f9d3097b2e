"""Run a catalogue function's code directly (no OpenWhisk): Python in a fresh interpreter, Node.js with node,
Ruby with ruby, Java from the jar the catalogue deploys (with Gson, through a small reflective runner).

Zip actions run from their extracted archive with ``python -S`` (no site-packages), so a bundle that
misses a file fails here exactly as it would in a runtime without the package installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pytest_openwhisk.catalog import GSON_JAR, FunctionSpec, jar_path, java_toolchain, zip_path

_PY_RUNNER = r"""
import json, os, runpy, sys
folder, entry, main_name = sys.argv[1], sys.argv[2], sys.argv[3]
activate = os.path.join(folder, "virtualenv", "bin", "activate_this.py")
if os.path.isfile(activate):
    exec(open(activate).read(), {"__file__": activate})
sys.path.insert(0, folder)
module = runpy.run_path(os.path.join(folder, entry), run_name="action")
params = json.loads(sys.stdin.read())
os.chdir(folder)
print(json.dumps(module[main_name](params)))
"""

_NODE_RUNNER = r"""
const mod = require(process.argv[1]);
const main = mod[process.argv[2]] || mod.main;
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', async () => { console.log(JSON.stringify(await main(JSON.parse(input)))); });
"""

_RUBY_RUNNER = r"""
require 'json'
load ARGV[0]
result = send(ARGV[1], JSON.parse($stdin.read))
$stdout.write(JSON.generate(result), "\n")
"""

_JAVA_RUNNER = r"""
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;

public class DirectRunner {
    public static void main(String[] argv) throws Exception {
        String[] target = argv[0].split("#", 2);
        String method = target.length > 1 ? target[1] : "main";
        Method main = Class.forName(target[0]).getMethod(method, JsonObject.class);
        String input = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        Object result = main.invoke(null, JsonParser.parseString(input).getAsJsonObject());
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.println(result.toString());
    }
}
"""


@cache
def java_runner(workdir: Path) -> Path:
    """Compile the reflective Java runner once per work folder and return its classes folder."""
    javac, gson = java_toolchain()
    folder = workdir / "java-runner"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "DirectRunner.java").write_text(_JAVA_RUNNER, encoding="utf-8")
    subprocess.run(
        [javac, "-nowarn", "-cp", gson, "-d", str(folder), str(folder / "DirectRunner.java")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def run_direct(
    spec: FunctionSpec,
    params: Mapping[str, Any],
    workdir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Any:
    """Run ``spec``'s main on ``params`` in a child process and return the decoded result."""
    main = spec.main or "main"
    child_env = {**os.environ, **(env or {})}
    if spec.language == "nodejs":
        assert spec.code is not None
        cmd = [shutil.which("node") or "node", "-e", _NODE_RUNNER, str(spec.code), main]
    elif spec.language == "ruby":
        assert spec.code is not None
        cmd = [shutil.which("ruby") or "ruby", "-e", _RUBY_RUNNER, str(spec.code), main]
    elif spec.language == "java":
        classpath = os.pathsep.join(
            (str(jar_path(spec, workdir / "jars")), GSON_JAR, str(java_runner(workdir)))
        )
        java = shutil.which("java") or "java"
        cmd = [java, "-XX:TieredStopAtLevel=1", "-cp", classpath, "DirectRunner", main]
    elif spec.zip is not None:
        folder = workdir / spec.name
        with zipfile.ZipFile(zip_path(spec)) as archive:
            archive.extractall(folder)
        cmd = [sys.executable, "-S", "-c", _PY_RUNNER, str(folder), "__main__.py", main]
    else:
        assert spec.code is not None
        cmd = [sys.executable, "-c", _PY_RUNNER, str(spec.code.parent), spec.code.name, main]
    done = subprocess.run(
        cmd,
        input=json.dumps(dict(params)),
        capture_output=True,
        encoding="utf-8",
        timeout=timeout,
        env=child_env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec.name} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
