"""The Java/Ruby proxy spoken to directly (with the Ruby launcher, the quicker to boot): the response goes
out before the sentinels."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_openwhisk.local import manifest

from .invoker_helpers import init_body
from .runtime_helpers import SENTINEL_LINE, fill, raw_runtime

pytestmark = pytest.mark.skipif(not manifest.RUBY_KINDS, reason="needs ruby (apt-get install ruby)")

CODE = "def main(args)\n  raise 'boom' if args['fail']\n  { 'n' => args['n'] }\nend\n"


def test_the_response_goes_out_before_the_sentinels(tmp_path: Path) -> None:
    """With both output pipes full, the response still arrives; the sentinels follow once they drain."""
    with raw_runtime(tmp_path, "ruby", manifest.interpreter("ruby:2.5")) as (runtime, out_pipe, err_pipe):
        assert runtime.post("/init", init_body(CODE)) == (200, {"ok": True})
        fill(out_pipe)
        fill(err_pipe)
        assert runtime.post("/run", {"value": {"n": 1}}) == (200, {"n": 1})
        assert runtime.read_until_sentinel(runtime.stdout).endswith(b"f\n" + SENTINEL_LINE)
        assert runtime.read_until_sentinel(runtime.stderr).endswith(b"f\n" + SENTINEL_LINE)


def test_a_failed_run_answers_before_its_sentinels(tmp_path: Path) -> None:
    with raw_runtime(tmp_path, "ruby", manifest.interpreter("ruby:2.5")) as (runtime, out_pipe, _):
        assert runtime.post("/init", init_body(CODE)) == (200, {"ok": True})
        fill(out_pipe)  # stderr takes the backtrace, written before the answer
        status, body = runtime.post("/run", {"value": {"fail": True}})
        assert (status, body) == (502, {"error": "Invalid Action: An error occurred running the action"})
        assert runtime.read_until_sentinel(runtime.stdout).endswith(b"f\n" + SENTINEL_LINE)
        assert b"boom" in runtime.read_until_sentinel(runtime.stderr)


def test_a_failed_init_answers_before_its_sentinels(tmp_path: Path) -> None:
    with raw_runtime(tmp_path, "ruby", manifest.interpreter("ruby:2.5")) as (runtime, out_pipe, _):
        fill(out_pipe)
        status, body = runtime.post("/init", init_body("def other(args)\n  {}\nend\n"))
        assert status == 502
        assert "the action has no method 'main'" in body["error"]
        assert runtime.read_until_sentinel(runtime.stdout).endswith(b"f\n" + SENTINEL_LINE)
        assert b"the action has no method 'main'" in runtime.read_until_sentinel(runtime.stderr)
