"""Backends: ``existing`` against the standalone server, ``local`` (thread and process), lifecycle rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.backends import BACKENDS, load_backend
from pytest_openwhisk.backends.base import Backend, BaseBackend, Capacity
from pytest_openwhisk.backends.existing import ExistingBackend
from pytest_openwhisk.backends.local import LocalBackend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.local.config import random_auth
from pytest_openwhisk.options import Settings
from pytest_openwhisk.samples import annotation
from pytest_openwhisk.wait import wait_until

ECHO = "def main(args):\n    return {'x': args.get('x')}\n"


def is_cold(client: OpenWhiskClient, action: str) -> bool:
    """Invoke once and tell whether that activation was a cold start (initTime annotation)."""
    record = client.invoke(action).record
    assert record is not None
    return annotation(record, "initTime") is not None


def existing_settings(server: Any, **changes: Any) -> Settings:
    values: dict[str, Any] = {"cluster": "existing", "apihost": server.apihost, "auth": server.auth}
    values.update(changes)
    return Settings(**values)


@pytest.fixture(scope="module")
def existing(cli_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """The existing backend connected to the standalone CLI server."""
    with load_backend(existing_settings(cli_server), tmp_path_factory.mktemp("existing")) as backend:
        yield backend


def test_existing_backend_is_a_backend(existing: Backend) -> None:
    assert isinstance(existing, ExistingBackend)
    assert isinstance(existing, Backend)
    assert existing.name == "existing"
    assert existing.namespace in {"_", "guest"}  # "_" may be resolved to the key's own namespace


def test_existing_fingerprint_has_kinds_and_limits_but_no_secret(existing: Backend, cli_server: Any) -> None:
    fingerprint = existing.fingerprint()
    assert fingerprint["backend"] == "existing"
    assert "python:3.11" in fingerprint["kinds"]
    assert fingerprint["limits"]["maxActionMemory"] == 512
    assert fingerprint["api_version"] == "1.0.0"
    assert cli_server.auth.split(":")[1] not in json.dumps(fingerprint)


def test_existing_force_cold_bumps_the_revision(existing: Backend, cli_server: Any) -> None:
    with cli_server.client() as client:
        client.create_action("coldone", ECHO)
        client.create_sequence("coldseq", ["coldone"])
        assert is_cold(client, "coldone")
        assert not is_cold(client, "coldone")
        version = client.get_action("coldone")["version"]
        existing.force_cold(client, "coldone")
        assert client.get_action("coldone")["version"] != version
        assert is_cold(client, "coldone")
        assert not is_cold(client, "coldone")
        existing.force_cold(client, "coldseq")  # a sequence: its components are bumped
        assert is_cold(client, "coldone")
        client.delete_action("coldseq")
        client.delete_action("coldone")


def test_existing_rejects_a_wrong_key_naming_the_fix(cli_server: Any, tmp_path: Path) -> None:
    settings = existing_settings(cli_server, auth=random_auth())
    with pytest.raises(
        BackendError, match=r"OpenWhisk at http://127\.0\.0\.1:\d+ rejected the auth key.*--ow-auth"
    ):
        with load_backend(settings, tmp_path):
            pass


def test_existing_unreachable_names_apihost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExistingBackend, "connect_timeout", 0.5)
    settings = Settings(cluster="existing", apihost="http://127.0.0.1:9", auth=random_auth())
    with pytest.raises(
        BackendError, match=r"OpenWhisk API at http://127\.0\.0\.1:9/api/v1 not ready.*--ow-apihost"
    ):
        with load_backend(settings, tmp_path):
            pass


def test_local_backend_thread_mode(tmp_path: Path) -> None:
    settings = Settings(local_mode="thread", prewarm=(), user_memory=1024)
    with load_backend(settings, tmp_path) as backend:
        assert isinstance(backend, LocalBackend)
        assert backend.apihost.startswith("http://127.0.0.1:")
        assert backend.namespace == "guest"
        fingerprint = backend.fingerprint()
        assert fingerprint["backend"] == "local"
        assert fingerprint["local_mode"] == "thread"
        assert "nodejs:20" in fingerprint["kinds"]
        assert fingerprint["pool"]["user_memory_mb"] == 1024
        assert fingerprint["pool"]["prewarm"] == []
        assert fingerprint["isolation"] in ("bwrap", "none")
        assert backend.auth.split(":")[1] not in json.dumps(fingerprint)
        assert backend.monitor(0.0, 1.0) == {}
        with OpenWhiskClient(backend.apihost, backend.auth) as client:
            client.create_action("evictme", ECHO)
            assert is_cold(client, "evictme")
            assert not is_cold(client, "evictme")
            backend.force_cold(client, "evictme")
            assert is_cold(client, "evictme")
        apihost = backend.apihost
    with pytest.raises(BackendError), OpenWhiskClient(apihost, random_auth(), timeout=2) as gone:
        gone.api_info()


def test_half_started_local_backend_is_torn_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: OpenWhiskClient) -> dict[str, Any]:
        raise BackendError("injected failure after the server started")

    monkeypatch.setattr(OpenWhiskClient, "limits", refuse)
    backend = LocalBackend(Settings(local_mode="thread", prewarm=()), tmp_path)
    with pytest.raises(BackendError, match="injected failure"):
        with backend:
            pytest.fail("must not get here")
    assert backend.server is None
    monkeypatch.undo()
    with pytest.raises(BackendError), OpenWhiskClient(backend.apihost, random_auth(), timeout=2) as gone:
        gone.api_info()


class _Recorder(BaseBackend):
    name = "recorder"

    def __init__(self, settings: Settings, fail: bool = False) -> None:
        super().__init__(settings, Path("."))
        self.events: list[str] = []
        self.fail = fail

    def start(self) -> None:
        self.events.append("start")
        if self.fail:
            raise BackendError("start failed")

    def stop(self) -> None:
        self.events.append("stop")
        if self.fail:
            raise OSError("stop failed too")

    def keep_hint(self) -> str | None:
        return "recorder-stop --all"

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Not used."""

    def fingerprint(self) -> dict[str, Any]:
        return {}


def test_failed_start_stops_and_keeps_the_original_error() -> None:
    backend = _Recorder(Settings(), fail=True)
    with pytest.raises(BackendError, match="start failed") as info:
        backend.__enter__()
    assert backend.events == ["start", "stop"]
    assert any("cleanup of the half-started recorder backend also failed" in n for n in info.value.__notes__)


def test_keep_cluster_skips_stop_and_says_how() -> None:
    kept = _Recorder(Settings(keep_cluster=True))
    with kept:
        pass
    assert kept.events == ["start"]
    assert kept.kept_message() is not None
    assert "recorder-stop --all" in (kept.kept_message() or "")
    normal = _Recorder(Settings())
    with normal:
        pass
    assert normal.events == ["start", "stop"]


def test_load_backend_is_lazy_and_checks_the_name(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pytest_openwhisk.backends import load_backend\n"
        "from pytest_openwhisk.options import Settings\n"
        "load_backend(Settings(cluster='existing', apihost='h:1', auth='u:k'), Path('.'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('pytest_openwhisk.backends.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pytest_openwhisk.backends.base', 'pytest_openwhisk.backends.existing']"
    with pytest.raises(ValueError, match="unknown cluster 'nomad'; choose from local, kind, existing"):
        load_backend(Settings(cluster="nomad"), tmp_path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_half_started_local_process_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    pids: list[int] = []
    real_make = LocalBackend._make_server

    def make_and_remember(self: LocalBackend) -> Any:
        server = real_make(self)
        started.append(server)
        return server

    def refuse(self: OpenWhiskClient) -> dict[str, Any]:
        pids.append(started[-1].pid)  # the child is up and answering at this point
        raise BackendError("injected failure after the child started")

    monkeypatch.setattr(LocalBackend, "_make_server", make_and_remember)
    monkeypatch.setattr(OpenWhiskClient, "limits", refuse)
    with pytest.raises(BackendError, match="injected failure"), LocalBackend(Settings(prewarm=()), tmp_path):
        pytest.fail("must not get here")
    [pid] = pids
    assert not _alive(pid)
    # nor anything of its process group (runtimes, probes): orphans are reaped by init shortly after
    wait_until(lambda: not _group_alive(pid), what=f"process group {pid} to vanish", timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_keep_cluster_leaves_the_local_process_running(tmp_path: Path) -> None:
    backend = LocalBackend(Settings(prewarm=(), keep_cluster=True), tmp_path)
    with backend:
        server = backend.server
        assert server is not None
        pid = server.pid  # type: ignore[attr-defined]
        apihost, auth = backend.apihost, backend.auth
    try:
        assert backend.kept_message() == f"local backend kept running at {apihost}; stop it with: kill {pid}"
        with OpenWhiskClient(apihost, auth) as client:
            assert client.limits()["maxActionMemory"] == 512
    finally:
        os.killpg(pid, signal.SIGTERM)
    wait_until(lambda: not _alive(pid) or _reap(pid), what=f"kept server {pid} to stop", timeout=30)


def _reap(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not _alive(pid)
    return done == pid


def test_plugin_runs_on_the_local_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_local(ow_cluster, ow_client, ow_action, ow_settings):
            assert ow_cluster.name == "local"
            assert ow_settings.local_mode == "process"
            assert ow_client.apihost == ow_cluster.apihost
            hello = ow_action("hello", code="def main(a):\\n    return {'hi': a.get('who')}\\n")
            assert hello.result({"who": "local"}) == {"hi": "local"}
            assert ow_cluster.fingerprint()["backend"] == "local"
        """
    )
    result = pytester.runpytest("--ow-prewarm=none", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["openwhisk: cluster=local (default), namespace=_ (default)"])


def test_plugin_prints_how_to_stop_a_kept_local_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_up(ow_cluster):\n    assert ow_cluster.name == 'local'\n")
    result = pytester.runpytest("--ow-prewarm=none", "--ow-keep-cluster", "-p", "no:cacheprovider")
    [line] = [ln for ln in result.outlines if ln.startswith("openwhisk: local backend kept running at ")]
    pid = int(line.rsplit("kill ", 1)[1])
    try:
        result.assert_outcomes(passed=1)
        assert _alive(pid)
        assert line.startswith("openwhisk: local backend kept running at http://127.0.0.1:")
    finally:
        os.killpg(pid, signal.SIGTERM)
    wait_until(lambda: not _alive(pid) or _reap(pid), what=f"kept server {pid} to stop", timeout=30)


# -- the protocol's defaults and the session-start check ------------------------------------------------

FAKE_BACKEND = """
from pytest_openwhisk.backends.base import BaseBackend


class Fake(BaseBackend):
    name = "kind"

    @classmethod
    def preflight(cls, settings):
        return ["docker is not on PATH; install Docker Engine", "kind is not on PATH; install kind"]
"""


def test_preflight_problems_end_the_session_with_one_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing tools: exit 4 before any test, one message listing each problem, no traceback."""
    pytester.makepyfile(fake_backend=FAKE_BACKEND)
    pytester.syspathinsert()
    monkeypatch.setitem(BACKENDS, "kind", ("fake_backend", "Fake"))
    pytester.makepyfile("def test_a(ow_cluster):\n    pass\n\ndef test_b(ow_cluster):\n    pass\n")
    result = pytester.runpytest("--ow-cluster=kind")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --ow-cluster=kind cannot start:",
            "  - docker is not on PATH; install Docker Engine",
            "  - kind is not on PATH; install kind",
        ]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert sum("ERROR" in line for line in result.errlines) == 1


def test_local_preflight_names_a_missing_prometheus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert LocalBackend.preflight(Settings()) == []
    [problem] = LocalBackend.preflight(Settings(monitoring=True))
    assert "prometheus" in problem
    assert "drop --ow-monitoring=on" in problem


def test_base_backend_defaults() -> None:
    """What a backend without monitoring, pods or known capacity answers."""
    backend = BaseBackend(Settings(), Path("unused"))
    assert BaseBackend.preflight(Settings()) == []
    assert backend.kept_message() is None
    assert backend.pod_dump() == ""
    assert backend.monitor(0.0, 1.0) == {}
    assert backend.open_window() is None
    assert backend.capacity() == Capacity()
    assert set(backend.capacity().to_dict()) >= {
        "user_memory_mb",
        "concurrent_invocations",
        "invocations_per_minute",
        "max_action_memory_mb",
    }


class _FailingStart(BaseBackend):
    name = "failing"

    def start(self) -> None:
        self.write_pod_dump("pod owdev-controller-0 (CrashLoopBackOff)\n", "failing-pod-dump.txt")
        raise BackendError("controller never became ready")

    def stop(self) -> None:
        """Nothing started."""


def test_failed_start_names_its_pod_dump(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture asks the failed backend for its pod dump (no traceback frames are searched)."""
    pytester.makepyfile(
        failing_backend=(
            "from pytest_openwhisk.backends.base import BaseBackend\n"
            "from pytest_openwhisk.errors import BackendError\n"
            "class Failing(BaseBackend):\n"
            "    name = 'existing'\n"
            "    def start(self):\n"
            "        self.write_pod_dump('pod x (CrashLoopBackOff)', 'pods.txt')\n"
            "        raise BackendError('controller never became ready')\n"
            "    def stop(self):\n"
            "        pass\n"
        )
    )
    pytester.syspathinsert()
    monkeypatch.setitem(BACKENDS, "existing", ("failing_backend", "Failing"))
    pytester.makepyfile("def test_a(ow_cluster):\n    pass\n")
    result = pytester.runpytest(
        "--ow-cluster=existing", "--ow-apihost=http://127.0.0.1:9", f"--ow-auth={random_auth()}"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*BackendError: controller never became ready",
            "*pods of the failed OpenWhisk start (states, events, logs): *pods.txt",
            "openwhisk: pods of the failed OpenWhisk start (states, events, logs): *pods.txt",
        ]
    )


def test_write_pod_dump_is_what_pod_dump_names(tmp_path: Path) -> None:
    backend = _FailingStart(Settings(), tmp_path / "work")
    with pytest.raises(BackendError, match="never became ready"):
        backend.__enter__()
    assert Path(backend.pod_dump()).read_text() == "pod owdev-controller-0 (CrashLoopBackOff)\n"


def test_local_capacity_reads_the_servers_settings(tmp_path: Path) -> None:
    backend = LocalBackend(Settings(user_memory=4096), tmp_path)
    capacity = backend.capacity()
    assert capacity.user_memory_mb == 4096
    assert capacity.invokers == 1
    assert capacity.concurrent_invocations == backend.config.limits.concurrent_invocations
    assert capacity.max_action_memory_mb == backend.config.limits.memory_mb_max
