"""Fixtures for the plugin tests: a clean OW_* environment and a standalone local OpenWhisk per module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.config import LocalConfig, PoolConfig, random_auth
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.wait import wait_until
from pytest_openwhisk.wskprops import load_wskprops

STARTUP_TIMEOUT_S = 60.0
#: installed plugins that in-process pytester runs do not need; each costs seconds of re-imports per run
FAST_PLUGIN_ARGS = "-p no:hypothesispytest -p no:anyio -p no:xdist -p no:xdist.looponfail -p no:pytest-kind"


def pytest_configure(config: pytest.Config) -> None:
    """Register ``all_plugins`` (opt out of :func:`_fast_pytester`)."""
    config.addinivalue_line(
        "markers",
        "all_plugins: pytester runs of this test load every installed plugin (xdist, pytest-kind, ...)",
    )


@pytest.fixture(autouse=True)
def _fast_pytester(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pytester runs skip plugins they do not need (``PYTEST_ADDOPTS``), unless marked ``all_plugins``.

    Pytester clears ``PYTEST_ADDOPTS`` when it is created, so this sets it after the ``pytester``
    fixture exists. Tests that need xdist or pytest-kind (``-n``, ``--help`` listing their flags) are
    marked ``@pytest.mark.all_plugins``.
    """
    if "pytester" not in request.fixturenames or request.node.get_closest_marker("all_plugins"):
        return
    request.getfixturevalue("pytester")
    monkeypatch.setenv("PYTEST_ADDOPTS", FAST_PLUGIN_ARGS)


@pytest.fixture(autouse=True)
def _clean_ow_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No OW_* variable or ~/.wskprops of the developer leaks into the plugin under test."""
    for name in list(os.environ):
        if name.startswith("OW_") or name in ("WSK_CONFIG_FILE", "__OW_API_HOST", "__OW_API_KEY"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@dataclass
class Standalone:
    """A running OpenWhisk the tests point the plugin at with ``--ow-cluster=existing``."""

    apihost: str
    auth: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def client(self) -> OpenWhiskClient:
        """A fresh client (use it in a ``with`` block)."""
        return OpenWhiskClient(self.apihost, self.auth)

    def args(self) -> list[str]:
        """Command-line options that select this server."""
        return [
            "--ow-cluster=existing",
            f"--ow-apihost={self.apihost}",
            f"--ow-auth={self.auth}",
            "-p",
            "no:cacheprovider",
        ]

    def leftovers(self) -> list[str]:
        """Names of all actions still deployed."""
        with self.client() as client:
            return sorted(a["name"] for a in client.list_actions(limit=200))


def small_config() -> LocalConfig:
    """A small embedded server: no prewarmed containers, benchmark throttles."""
    return LocalConfig.benchmark(pool=PoolConfig(prewarm=(), user_memory_mb=1024))


@pytest.fixture(scope="module")
def standalone() -> Iterator[Standalone]:
    """The embedded OpenWhisk in a thread of this process, one per test module."""
    with LocalOpenWhisk(small_config()) as server:
        yield Standalone(server.apihost, server.auth)


def start_cli_server(workdir: Path) -> Standalone:
    """Start ``python -m pytest_openwhisk.local serve`` as a child process and wait until it answers."""
    auth = random_auth()
    props = workdir / "wskprops"
    ready = workdir / "ready"
    command = [
        sys.executable,
        "-m",
        "pytest_openwhisk.local",
        "serve",
        "--port",
        "0",
        "--auth",
        auth,
        "--wskprops",
        str(props),
        "--ready-file",
        str(ready),
        "--prewarm",
        "none",
    ]
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def answered() -> str | None:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {(workdir / 'server.log').read_text()}"
            )
        found = load_wskprops({"WSK_CONFIG_FILE": str(props)}) if ready.exists() else None
        if found is None or not found.apihost:
            return None
        with OpenWhiskClient(found.apihost, auth) as client:
            client.limits()
        return found.apihost

    try:
        apihost = wait_until(answered, what="standalone server", timeout=STARTUP_TIMEOUT_S)
    except BaseException:
        stop_cli_server(process)
        raise
    return Standalone(apihost, auth, process)


def stop_cli_server(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server (SIGTERM, then SIGKILL after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """The standalone server as a separate process (``python -m pytest_openwhisk.local serve``)."""
    server = start_cli_server(tmp_path_factory.mktemp("server"))
    try:
        yield server
    finally:
        assert server.process is not None
        stop_cli_server(server.process)


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process for the test, then the previous handler is back.

    A test run started as a background job (``cmd &``, nohup, some CI runners) inherits SIGINT as
    ignored; a test that delivers SIGINT to itself must install the handler it relies on.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
