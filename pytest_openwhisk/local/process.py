""":class:`LocalOpenWhiskProcess`: the embedded OpenWhisk in a child process (no GIL shared with the caller).

Runs ``python -m pytest_openwhisk.local serve --ready-file F --config-fd N`` in its own process group.
The whole :class:`LocalConfig` (auth key included) travels through a pipe (fd N), never on the command
line nor in the environment (``/proc/<pid>/environ`` keeps a process's initial environment readable for
its whole life, even after it unsets a variable). The
ready file (JSON: apihost, port, pid, namespace; no key) appears once the server is bound and the pool is up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.local import resources
from pytest_openwhisk.local.config import Limits, LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.wait import wait_until

if TYPE_CHECKING:  # requests is imported where used: `serve` (which imports this module) never needs it
    import requests

CONFIG_ENV = "PYTEST_OPENWHISK_LOCAL_CONFIG"


def config_to_json(config: LocalConfig) -> str:
    """Serialise a :class:`LocalConfig` (for the child's environment)."""
    return json.dumps(asdict(config))


def config_from_json(text: str) -> LocalConfig:
    """The inverse of :func:`config_to_json`."""
    data: dict[str, Any] = json.loads(text)
    pool = dict(data["pool"])
    pool["prewarm"] = tuple(StemCell(**cell) for cell in pool["prewarm"])
    return LocalConfig(
        host=data["host"],
        port=data["port"],
        namespace=data["namespace"],
        subject=data["subject"],
        auth=data["auth"],
        limits=Limits(**data["limits"]),
        pool=PoolConfig(**pool),
        kinds=None if data.get("kinds") is None else tuple(data["kinds"]),
        tls_cert=data.get("tls_cert"),
        tls_key=data.get("tls_key"),
        activation_store=data.get("activation_store"),
    )


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-limit:].strip()


class LocalOpenWhiskProcess:
    """Same interface as :class:`~pytest_openwhisk.local.server.LocalOpenWhisk`, in a child process."""

    def __init__(
        self,
        config: LocalConfig | None = None,
        *,
        startup_timeout: float = 120.0,
        python: str = sys.executable,
    ) -> None:
        self.config = config or LocalConfig(port=0)
        self.auth = self.config.auth
        self.namespace = self.config.namespace
        self.port = self.config.port
        self.apihost = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._python = python
        self._startup_timeout = startup_timeout
        self._dir: Path | None = None
        self._detached = False
        self._session: requests.Session | None = None
        self._reap: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"LocalOpenWhiskProcess(apihost={self.apihost!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def stderr_path(self) -> Path | None:
        """The child's stderr (server warnings, tracebacks); removed at exit."""
        return self._dir / "stderr.log" if self._dir is not None else None

    def __enter__(self) -> LocalOpenWhiskProcess:
        if self.process is not None:
            raise BackendError("this LocalOpenWhiskProcess is already started; create a new one")
        self._dir = Path(tempfile.mkdtemp(prefix="ow-local-"))
        ready = self._dir / "ready.json"
        stderr_path = self._dir / "stderr.log"
        env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
        # the config (auth key included) goes through a pipe: an environment variable would stay readable
        # in /proc/<pid>/environ for the server's whole life, even after the server unsets it
        config_read, config_write = os.pipe()
        cmd = [
            self._python,
            "-m",
            "pytest_openwhisk.local",
            "serve",
            "--ready-file",
            str(ready),
            "--config-fd",
            str(config_read),
        ]
        try:
            try:
                with stderr_path.open("wb") as stderr:
                    self.process = subprocess.Popen(
                        cmd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=stderr,
                        start_new_session=True,
                        pass_fds=(config_read,),
                    )
            finally:
                os.close(config_read)
            with os.fdopen(config_write, "wb") as pipe:
                config_write = -1
                pipe.write(config_to_json(self.config).encode())
            process = self.process

            def probe() -> dict[str, Any] | None:
                if ready.exists():
                    return dict(json.loads(ready.read_text(encoding="utf-8")))
                if process.poll() is not None:
                    return {"exited": process.returncode}
                return None

            info = wait_until(  # a file check is cheap: poll fast so start-up is not rounded up
                probe,
                what=f"embedded OpenWhisk process (pid {process.pid})",
                timeout=self._startup_timeout,
                interval=0.01,
                max_interval=0.05,
            )
            if "exited" in info:
                raise BackendError(
                    f"`{' '.join(cmd[1:4])} serve` exited with code {info['exited']} before it "
                    f"was ready; its stderr:\n{_tail(stderr_path)}"
                )
        except BaseException:
            if config_write >= 0:
                os.close(config_write)
            self._terminate()
            raise
        self.apihost, self.port = str(info["apihost"]), int(info["port"])
        self._reap = dict(info.get("reap") or {})
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if not self._detached:
            self._terminate()

    def detach(self) -> None:
        """Leave the child running after ``__exit__`` (``--ow-keep-cluster``); stop it with ``kill <pid>``."""
        self._detached = True

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        if process is not None:
            try:  # whatever is left in the group (runtimes of a crashed server)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
            # a server killed without stopping its pool leaves daemons in its cgroups (or, in isolation
            # none without cgroups, re-parented to init with the container token): end them too
            resources.reap(self._reap)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.process is None or not self.apihost:
            raise BackendError("the embedded OpenWhisk process is not running; use it as a context manager")
        if self._session is None:
            import requests

            self._session = requests.Session()
            user, _, key = self.auth.partition(":")
            self._session.auth = (user, key)
            self._session.verify = self.config.tls_cert or True  # a self-signed tls_cert is its own CA
            self._session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify (loopback: no proxy)
        response = self._session.request(method, self.apihost + path, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise BackendError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def evict(self, path: str | None = None) -> int:
        """Destroy the warm containers of ``path`` (``guest/name``; all when None): next run is cold."""
        body = {} if path is None else {"path": path}
        return int(self._request("POST", "/admin/v1/evict", json=body)["evicted"])

    def pool_stats(self) -> dict[str, Any]:
        """The child's pool state (``GET /admin/v1/pool``)."""
        return dict(self._request("GET", "/admin/v1/pool"))
