"""Run a catalogue function's code directly (no OpenWhisk): Python in a fresh interpreter, Node.js with node.

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
from pathlib import Path
from typing import Any

from pytest_openwhisk.catalog import FunctionSpec, zip_path

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
        text=True,
        timeout=timeout,
        env=child_env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec.name} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
