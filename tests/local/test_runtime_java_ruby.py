"""The Java/Ruby proxy spoken to directly (with the Ruby launcher, the quicker to boot): the sentinels are
in the pipes when the response arrives."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_openwhisk.local import manifest

from .invoker_helpers import init_body
from .runtime_helpers import SENTINEL_LINE, assert_failed_init, raw_runtime

pytestmark = pytest.mark.skipif(not manifest.RUBY_KINDS, reason="needs ruby (apt-get install ruby)")

CODE = "def main(args)\n  puts 'out'\n  raise 'boom' if args['fail']\n  { 'n' => args['n'] }\nend\n"


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


def test_a_failed_init_writes_its_sentinels_before_answering(tmp_path: Path) -> None:
    with raw_runtime(tmp_path, "ruby", manifest.interpreter("ruby:2.5")) as runtime:
        assert_failed_init(runtime, "def other(args)\n  {}\nend\n", "the action has no method 'main'")
