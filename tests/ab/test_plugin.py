"""End to end on the embedded OpenWhisk: ``ow_bench.ab`` with ``ow_ab``, and ``--ow-ab-base`` on a git repo.

The regressed head sleeps 40 ms against 2 ms, far beyond any noise, so the verdicts are deterministic
even on a loaded machine; gate accuracy on small effects is measured by benchmarks/regress/ab_noise.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_openwhisk
from pytest_openwhisk.wait import wait_until

from .conftest import git

SLEEPY = "import time\n\ndef main(args):\n    time.sleep({ms} / 1000)\n    return {{'ms': {ms}}}\n"
AB_TEST = """
import os
import pytest

CODE = "import time\\ndef main(a):\\n    time.sleep(a['ms'] / 1000)\\n    return {}"

@pytest.mark.ow_ab(p50="20%")
def test_ab(ow_action, ow_bench):
    base = ow_action("fast", code=CODE, kind="python:3", params={"ms": 2})
    head = ow_action("maybe-slow", code=CODE, kind="python:3", params={"ms": int(os.environ["HEAD_MS"])})
    ab = ow_bench.ab(base, head, rounds=30, warmup=1)
    assert (ab.base.name, ab.head.name) == ("base", "head")
"""
BASE_TEST = """
import os
from pathlib import Path

def test_f(ow_action, ow_bench):
    f = ow_action("f", "functions/f.py", kind="python:3")
    if os.environ.get("STARTED"):
        Path(os.environ["STARTED"]).write_text("go")
        ow_bench.warm(f, rounds=100000, warmup=0)
    measured = ow_bench.warm(f, rounds=30, warmup=1)
    assert measured.name == "warm-head"
    new = ow_action("n", "functions/new.py", kind="python:3")
    ow_bench.warm(new, rounds=3, warmup=0)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project directory with no OW_* setting of the developer leaking in."""
    for name in list(os.environ):
        if name.startswith("OW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(pytester.path))
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "no:cacheprovider", "--ow-local-mode=thread", "--ow-prewarm=none", *args)


def _repo(project: pytest.Pytester) -> Path:
    """The project as a git repo: v1 has functions/f.py sleeping 2 ms; head sleeps 40 ms and adds new.py."""
    root = project.path
    (root / "functions").mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "functions" / "f.py").write_text(SLEEPY.format(ms=2))
    git(root, "add", "functions")
    git(root, "commit", "-q", "-m", "v1")
    git(root, "tag", "v1")
    (root / "functions" / "f.py").write_text(SLEEPY.format(ms=40))
    (root / "functions" / "new.py").write_text(SLEEPY.format(ms=1))
    git(root, "add", "functions")
    git(root, "commit", "-q", "-m", "head")
    project.makepyfile(test_f=BASE_TEST)
    return root


def _worktrees(root: Path) -> int:
    return git(root, "worktree", "list", "--porcelain").count("worktree ")


def test_ab_marker_fails_a_slower_head_and_records_both_sides(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_ab=AB_TEST)
    monkeypatch.setenv("HEAD_MS", "40")
    result = _run(project, "--benchmark-json=out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*A/B regression in test_ab.py::test_ab [[]ab] (head vs base)*",
            "*p50 (+20%)*REGRESSION*",
            "*openwhisk A/B gate*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    saved = json.loads((project.path / "out.json").read_text())
    entries = {b["name"]: b for b in saved["benchmarks"]}
    assert set(entries) == {"test_ab[base]", "test_ab[head]"}
    for entry in entries.values():
        assert len(entry["extra_info"]["ow_samples"]["latency_ms"]) == 30
    extra = entries["test_ab[head]"]["extra_info"]["ow_extra"]
    assert len(extra["ab"]["head_first"]) == 30
    # a warm A/B measures each side in 10 successive containers by default
    assert (extra["containers"], extra["blocks"]) == (10, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27])


def test_ab_of_identical_actions_passes(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_ab=AB_TEST)
    monkeypatch.setenv("HEAD_MS", "2")
    result = _run(project, "--ow-ab-containers=7", "--benchmark-json=out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*openwhisk A/B gate*", "*regression gate PASSED*"])
    assert result.ret == pytest.ExitCode.OK
    saved = json.loads((project.path / "out.json").read_text())
    extra = {b["name"]: b for b in saved["benchmarks"]}["test_ab[head]"]["extra_info"]["ow_extra"]
    assert extra["containers"] == 7  # --ow-ab-containers sets the warm default


def test_ab_containers_option_is_checked(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_x():\n    pass\n")
    result = project.runpytest("--ow-ab-containers=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ab_containers*0*"])


def test_ab_base_gates_head_against_the_ref(project: pytest.Pytester) -> None:
    root = _repo(project)
    result = _run(project, "--ow-ab-base=v1", "--ow-regression=p50:20%", "--ow-regression-html=report.html")
    result.assert_outcomes(passed=1)  # the test itself passes: the session's gate fails
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*openwhisk A/B: head vs v1 (*) interleaved; gate p50:20%*",
            "*test_f.py::test_f [[]warm]*p50 (+20%)*REGRESSION*",
            "*test_f.py::test_f [[]warm-2]*new",
            "*regression gate FAILED (1 regression(s))*",
            "test_f.py::test_f [[]warm-2]: functions/new.py is new in head (absent at v1): measured, not*",
        ]
    )
    page = (root / "report.html").read_text()
    assert "base (v1) (n=30)" in page
    assert "head (n=30)" in page
    assert _worktrees(root) == 1  # the base worktree is gone


def test_ab_base_errors_are_usage_errors(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_x():\n    pass\n")
    result = _run(project, "--ow-ab-base=v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ow-ab-base:*is not inside a git repository*drop --ow-ab-base*"])
    _repo(project)
    result = _run(project, "--ow-ab-base=no-such-ref")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ow-ab-base='no-such-ref': unknown git ref*"])


def test_ctrl_c_removes_the_worktree(project: pytest.Pytester, tmp_path: Path) -> None:
    root = _repo(project)
    started = tmp_path / "started"
    # the child imports the same pytest_openwhisk as this process (also when it is not installed at
    # this path, e.g. an editable install made from another checkout)
    package_root = str(Path(pytest_openwhisk.__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "STARTED": str(started), "PYTHONPATH": pythonpath}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--ow-local-mode=thread",
        "--ow-prewarm=none",
        "--ow-ab-base=v1",
        "test_f.py",
    ]
    process = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_until(lambda: started.exists(), what="the A/B measurement", timeout=120)
        assert _worktrees(root) == 2
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output.decode()
    assert _worktrees(root) == 1
    assert not any((root / ".git" / "worktrees").glob("*"))
