"""The API key never sits where an action can read it (issue 12 item 13), even with isolation none."""

from __future__ import annotations

import os
import signal

import requests

from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess
from pytest_openwhisk.wait import wait_until

from .invoker_helpers import DAEMON, alive

SNOOP = """
import os
def main(args):
    found, ancestors, pid = {}, [], os.getppid()
    while pid > 1:  # the spawn helper, then the server, then whatever started the server
        ancestors.append(pid)
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    found[name] = found.get(name) or args["needle"] in handle.read().decode(errors="replace")
            except OSError as exc:
                found[name] = type(exc).__name__
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])
    return {"ancestors": ancestors, **found}
"""


def test_the_key_is_not_in_the_server_environment_or_command_line() -> None:
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=(), isolation="none"))
    key = config.auth.split(":", 1)[1]
    with LocalOpenWhiskProcess(config) as ow, requests.Session() as session:
        session.auth = tuple(config.auth.split(":", 1))  # type: ignore[assignment]
        base = f"{ow.apihost}/api/v1/namespaces/_/actions/snoop"
        put = session.put(base, json={"exec": {"kind": "python:3.11", "code": SNOOP}}, timeout=30)
        assert put.ok, put.text
        query = {"blocking": "true", "result": "true"}
        answer = session.post(base, params=query, json={"needle": key}, timeout=60)
        assert answer.ok, answer.text
        result, server_pid = answer.json(), ow.pid
    assert server_pid in result["ancestors"]  # the action really read the server's /proc entries
    assert result["environ"] is False
    assert result["cmdline"] is False


def test_daemons_of_a_killed_server_are_reaped() -> None:
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=(), isolation="none"))
    with LocalOpenWhiskProcess(config) as ow, requests.Session() as session:
        session.auth = tuple(config.auth.split(":", 1))  # type: ignore[assignment]
        base = f"{ow.apihost}/api/v1/namespaces/_/actions/daemon"
        assert session.put(base, json={"exec": {"kind": "python:3.11", "code": DAEMON}}, timeout=30).ok
        answer = session.post(base, params={"blocking": "true", "result": "true"}, json={}, timeout=60)
        daemon = answer.json()["daemon"]
        assert alive(daemon)
        assert ow.pid is not None
        os.kill(ow.pid, signal.SIGKILL)  # no clean stop: the pool never gets to kill its containers
    wait_until(lambda: not alive(daemon), what="daemon of the killed server reaped", timeout=10)
