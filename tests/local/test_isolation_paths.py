"""bwrap keeps working when the package, the interpreter or bundled packages live under /tmp.

CI runners often check out or create virtualenvs under /tmp, which the sandbox's private /tmp would
hide: the paths the runtime needs are bound back in read-only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_openwhisk.local import isolation
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.types import SUCCESS, RunOutcome

from .invoker_helpers import request, run_with, spec

HELLO = "def main(args):\n    return {'hello': args.get('name', 'world')}\n"


@pytest.fixture
def runtimes_under_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the runtime proxies under /tmp, used instead of the installed ones."""
    root = Path(tempfile.mkdtemp(prefix="ow-checkout-", dir="/tmp"))
    copy = root / "runtimes"
    shutil.copytree(isolation.RUNTIMES_DIR, copy)
    monkeypatch.setattr(isolation, "RUNTIMES_DIR", copy)
    yield copy
    shutil.rmtree(root, ignore_errors=True)


def test_hidden_paths_lists_tmp_paths_outside_the_workdir(tmp_path: Path) -> None:
    proxy = tmp_path / "checkout" / "proxy.py"
    proxy.parent.mkdir()
    proxy.write_text("")
    site = tmp_path / "venv" / "site-packages"
    site.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    command = ["/usr/bin/python3", str(proxy), f"{site}:{work / 'nested'}", str(work)]
    visible = isolation.hidden_paths(command, str(work))
    if str(tmp_path).startswith("/tmp/"):
        assert str(proxy) in visible
        assert str(site) in visible
    assert str(work) not in visible
    assert all(not p.startswith(str(work)) for p in visible)


@pytest.mark.skipif(
    isolation.bwrap_problem() is not None,
    reason="bwrap unusable; apt-get install bubblewrap (bash .ci/setup)",
)
def test_bwrap_runs_a_runtime_installed_under_tmp(runtimes_under_tmp: Path) -> None:
    action = spec(HELLO, "hello")

    async def scenario(invoker: Invoker) -> RunOutcome:
        return await invoker.run(request(action, {"name": "tmp"}))

    outcome = run_with(scenario, isolation="bwrap")
    assert outcome.isolation == "bwrap"
    assert outcome.status_code == SUCCESS, outcome.result
    assert outcome.result == {"hello": "tmp"}
