"""Server lifecycle: LocalOpenWhisk (thread), LocalOpenWhiskProcess (child process) and the ``serve`` CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.local import LocalOpenWhisk, LocalOpenWhiskProcess
from pytest_openwhisk.local.__main__ import main as cli_main
from pytest_openwhisk.local.config import GUEST_AUTH, LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.local.process import CONFIG_ENV, config_from_json, config_to_json
from pytest_openwhisk.wait import wait_until

from .conftest import SLEEP, Api, FakeInvoker
from .invoker_helpers import alive


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_thread_server_binds_port_zero_before_enter_returns(fake_invoker: FakeInvoker) -> None:
    with LocalOpenWhisk(LocalConfig(port=0), invoker=fake_invoker) as ow:
        assert ow.port > 0
        assert ow.apihost == f"http://127.0.0.1:{ow.port}"
        assert ow.namespace == "guest"
        assert ow.auth == ow.config.auth
        assert fake_invoker.started
        assert requests.get(ow.apihost + "/ping", timeout=5).text == "pong"
    assert fake_invoker.stopped
    with pytest.raises(requests.ConnectionError):
        requests.get(ow.apihost + "/ping", timeout=5)
    with pytest.raises(BackendError, match="not running"):
        ow.pool_stats()


def test_activations_running_at_shutdown_are_recorded(fake_invoker: FakeInvoker) -> None:
    with LocalOpenWhisk(LocalConfig(port=0), invoker=fake_invoker) as ow:
        api = Api(ow.apihost, ow.auth)
        api.put_action("slow", code=SLEEP)
        assert api.invoke("slow", {"ms": 60_000}, blocking=False).status_code == 202
        assert ow.server is not None
        controller = ow.server.controller
        api.close()
    assert controller.activations.count("guest") == 1
    (record,) = [a.record() for a in controller.activations.query("guest")]
    assert record["response"]["status"] == "whisk internal error"


def test_thread_server_cleans_up_a_failed_start(fake_invoker: FakeInvoker) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalOpenWhisk(LocalConfig(port=port), invoker=fake_invoker)
        with pytest.raises(BackendError, match=f"failed to start on 127.0.0.1:{port}"):
            server.__enter__()
    assert fake_invoker.stopped
    assert server._thread is not None
    assert not server._thread.is_alive()


def test_config_round_trips_through_json() -> None:
    config = LocalConfig.benchmark(
        pool=PoolConfig(prewarm=(StemCell("python:3.11", 1, 128),), isolation="none")
    )
    assert config_from_json(config_to_json(config)) == config


def test_process_server_lifecycle_and_no_key_on_the_command_line() -> None:
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=()))
    with LocalOpenWhiskProcess(config) as ow:
        assert ow.pid is not None
        assert ow.port > 0
        assert ow.apihost == f"http://127.0.0.1:{ow.port}"
        cmdline = Path(f"/proc/{ow.pid}/cmdline").read_bytes().decode()
        assert config.auth not in cmdline
        assert config.auth.split(":")[1] not in cmdline
        api = Api(ow.apihost, ow.auth)
        code = (
            "import os\ndef main(a):\n"
            "    return {'leak': [k for k in os.environ if 'PYTEST_OPENWHISK' in k]}\n"
        )
        api.put_action("env", code=code)
        assert api.invoke("env", result=True).json() == {"leak": []}
        assert ow.pool_stats()["containers"]["idle"] == 1
        children = _descendants(ow.pid)
        assert children, "the runtime process should run below the server"
        assert ow.evict("env") == 1
        assert api.invoke("env", result=True).status_code == 200  # a new (cold) runtime
        children |= _descendants(ow.pid)
        pid = ow.pid
        api.close()
    assert not alive(pid)
    assert not [c for c in children if alive(c)]


def test_process_server_reports_a_failed_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalOpenWhiskProcess(
            LocalConfig(port=port, pool=PoolConfig(prewarm=())), startup_timeout=60
        )
        with pytest.raises(BackendError, match="exited with code 1 before it was ready"):
            server.__enter__()
    assert server.process is None


def test_serve_cli_prints_the_key_writes_wskprops_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    props = tmp_path / "props" / ".wskprops"
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    cmd = [
        sys.executable,
        "-m",
        "pytest_openwhisk.local",
        "serve",
        "--port",
        "0",
        "--auth",
        "guest",
        "--prewarm",
        "none",
        "--ready-file",
        str(ready),
        "--wskprops",
        str(props),
        "--invocations-per-minute",
        "7",
    ]
    process = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        info = wait_until(
            lambda: json.loads(ready.read_text()) if ready.exists() else None,
            what="serve ready file",
            timeout=60,
        )
        assert info["pid"] == process.pid
        assert info["namespace"] == "guest"
        assert "auth" not in info
        assert stat.S_IMODE(props.stat().st_mode) == 0o600
        assert props.read_text().splitlines() == [
            f"APIHOST={info['apihost']}",
            f"AUTH={GUEST_AUTH}",
            "NAMESPACE=guest",
        ]
        api = Api(info["apihost"], GUEST_AUTH)
        assert api.get("/limits").json()["invocationsPerMinute"] == 7
        api.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"APIHOST={info['apihost']}" in out
    assert f"AUTH={GUEST_AUTH}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "invalid port '70000'; use 0..65535"),
        (["--host", "0.0.0.0"], "--host 0.0.0.0 is not a loopback address"),
        (["--prewarm", "nodejs:20"], "invalid --prewarm 'nodejs:20'; use KIND:COUNT[:MB]"),
        (["--prewarm", "cobol:1:2"], "The specified runtime 'cobol:1' is not supported"),
        (["--idle-timeout", "0"], "invalid idle timeout '0'; use seconds > 0"),
        (["--user-memory", "64"], "invalid user memory (MB) '64'; use a whole number >= 128"),
        (["--concurrent-invocations", "x"], "invalid concurrent invocations 'x'"),
        (["--isolation", "docker"], "invalid choice: 'docker'"),
        (["--auth", "no-colon"], "invalid --auth value (not shown: it is a secret); use UUID:KEY"),
    ],
)
def test_serve_cli_rejects_bad_values(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["serve", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
