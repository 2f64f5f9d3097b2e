"""The Java/Ruby proxy spoken to directly (with the Ruby launcher, the quicker to boot): the sentinels are
in the pipes when the response arrives; the launcher starts before the modules only /init needs load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_openwhisk.local import manifest
from pytest_openwhisk.local.manifest import RUNTIMES_DIR

from .invoker_helpers import init_body
from .runtime_helpers import SENTINEL_LINE, assert_failed_init, raw_runtime

needs_ruby = pytest.mark.skipif(not manifest.RUBY_KINDS, reason="needs ruby (apt-get install ruby)")

CODE = "def main(args)\n  puts 'out'\n  raise 'boom' if args['fail']\n  { 'n' => args['n'] }\nend\n"


@needs_ruby
def test_the_sentinels_are_in_the_pipes_when_the_response_arrives(tmp_path: Path) -> None:
    with raw_runtime(tmp_path, "ruby", manifest.interpreter("ruby:2.5")) as runtime:
        assert runtime.post("/init", init_body(CODE)) == (200, {"ok": True})
        assert runtime.post("/run", {"value": {"n": 1}}) == (200, {"n": 1})
        assert runtime.available(runtime.stdout) == b"out\n" + SENTINEL_LINE
        assert runtime.available(runtime.stderr) == SENTINEL_LINE
        status, body = runtime.post("/run", {"value": {"fail": True}})
        assert (status, body) == (502, {"error": "Invalid Action: An error occurred running the action"})
        assert runtime.available(runtime.stdout) == b"out\n" + SENTINEL_LINE
        err = runtime.available(runtime.stderr)
        assert b"boom" in err
        assert err.endswith(SENTINEL_LINE)


@needs_ruby
def test_a_failed_init_writes_its_sentinels_before_answering(tmp_path: Path) -> None:
    with raw_runtime(tmp_path, "ruby", manifest.interpreter("ruby:2.5")) as runtime:
        assert_failed_init(runtime, "def other(args)\n  {}\nend\n", "the action has no method 'main'")


LOADED = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("proxy", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps([m for m in ("typing", "zipfile", "base64", "shutil") if m in sys.modules]))
"""


def test_the_launcher_starts_before_the_unpacking_modules_load() -> None:
    """typing, zipfile, base64 and shutil (~10 ms before the launcher could start) come with /init."""
    proxy = str(RUNTIMES_DIR / "java_ruby_proxy.py")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", LOADED, proxy], capture_output=True, check=True)
    assert json.loads(done.stdout) == []
