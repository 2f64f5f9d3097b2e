"""Nothing stays deployed: after a pass, a failure, an error in the test, Ctrl-C; teardown failures warn."""

from __future__ import annotations

import os
import re
import signal
from typing import Any

import pytest

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.wait import wait_until

HELLO = "def main(a):\\n    return {'ok': True}\\n"


@pytest.fixture
def server(cli_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's standalone server, empty before the test; its key is passed through OW_AUTH."""
    assert cli_server.leftovers() == []
    monkeypatch.setenv("OW_AUTH", cli_server.auth)
    return cli_server


def args(server: Any) -> list[str]:
    return ["--ow-cluster=existing", f"--ow-apihost={server.apihost}", "-p", "no:cacheprovider"]


def test_nothing_left_after_pass_fail_and_error(pytester: pytest.Pytester, server: Any) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        def test_pass(ow_action):
            ow_action("a", code="{HELLO}")
            ow_action.sequence("s", ["a"])

        def test_fail(ow_action):
            ow_action("b", code="{HELLO}")
            assert False, "the test failed after deploying"

        def test_error_mid_test(ow_action):
            ow_action("c", code="{HELLO}")
            ow_action("d", "does/not/exist.py")

        @pytest.fixture
        def broken(ow_action):
            ow_action("e", code="{HELLO}")
            raise RuntimeError("fixture setup failed")

        def test_setup_error(broken):
            pass
        """
    )
    result = pytester.runpytest(*args(server))
    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines(["*ConfigError: action source '*does/not/exist.py' does not exist*"])
    assert server.leftovers() == []


def test_nothing_left_after_ctrl_c(pytester: pytest.Pytester, server: Any) -> None:
    pytester.makepyfile(
        f"""
        import os
        import signal

        def test_interrupted(ow_action):
            ow_action("one", code="{HELLO}")
            ow_action("two", code="{HELLO}")
            print("DEPLOYED", flush=True)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # not inherited as ignored (cmd &)
            os.kill(os.getpid(), signal.SIGINT)
            raise AssertionError("SIGINT was not delivered")

        def test_never_runs():
            raise AssertionError("the session should have stopped")
        """
    )
    result = pytester.runpytest_subprocess(*args(server), "-s")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*DEPLOYED*", "*KeyboardInterrupt*"])
    assert server.leftovers() == []
    assert server.auth.split(":")[1] not in result.stdout.str() + result.stderr.str()


def test_failed_delete_warns_with_the_cleanup_command(pytester: pytest.Pytester, server: Any) -> None:
    pytester.makepyfile(
        f"""
        def test_cannot_delete(ow_action):
            ow_action("stuck", code="{HELLO}")

            def refuse(*args, **kwargs):
                raise RuntimeError("delete refused")

            ow_action.client.delete_action = refuse
        """
    )
    result = pytester.runpytest(*args(server))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: pytest-openwhisk could not delete 1 action(s) at http://127.0.0.1:*"
            "(test_cannot_delete-*-stuck: delete refused). "
            "Delete them by hand: wsk action delete 'test_cannot_delete-*-stuck'",
        ]
    )
    [left] = server.leftovers()
    assert re.fullmatch(r"test_cannot_delete-[0-9a-f]{6}-stuck", left)
    with server.client() as client:
        client.delete_action(left)


def test_keep_cluster_prints_how_to_stop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_up(ow_cluster):\n    assert ow_cluster.name == 'local'\n")
    result = pytester.runpytest("--ow-keep-cluster", "--ow-prewarm=none", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "kept running" in line)
    match = re.fullmatch(
        r"openwhisk: local backend kept running at (http://127\.0\.0\.1:\d+); stop it with: kill (\d+)", line
    )
    assert match is not None, line
    apihost, pid = match.group(1), int(match.group(2))
    try:
        with OpenWhiskClient(apihost, "guest:x", timeout=5) as client:
            assert client.api_info()["api_version"] == "1.0.0"  # /api/v1 needs no key
    finally:
        os.killpg(pid, signal.SIGTERM)

    def stopped() -> bool:
        try:
            return os.waitpid(pid, os.WNOHANG)[0] == pid
        except ChildProcessError:
            return True

    wait_until(stopped, what=f"kept server {pid} to stop", timeout=30)
