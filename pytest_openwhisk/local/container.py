"""One "container": a runtime proxy process plus the invoker's keep-alive HTTP client to it.

The invoker binds a listening Unix socket in a directory only its own uid can reach (mode 0700; inside a
bwrap sandbox it is not even visible) and hands its fd to the child (``pass_fds``): the invoker is the only
client that can reach a runtime, so no action can ``/init`` or ``/run`` another action's container (TCP on
loopback would be open to every local process). Connections made right after the spawn wait in the
kernel's backlog until the runtime accepts, so there is no readiness polling and no bind race.
stdout/stderr are pipes read on the event loop into :class:`~pytest_openwhisk.local.logs.StreamTail`
objects; process exit is watched through a pidfd. With a resource group (``resources.py``) the process
enters its cgroup behind a gate before it runs anything, and killing the container kills every process of
the group. The HTTP client is a minimal HTTP/1.1 client over asyncio streams (one request per connection
at a time, connections reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.local import spawner
from pytest_openwhisk.local.logs import StreamTail
from pytest_openwhisk.local.resources import Group, gate_command

MAX_BODY_BYTES = 64 * 1024 * 1024  # bodies above this are dropped with the connection
_ids = itertools.count(1)


class RuntimeGone(Exception):
    """The connection to the runtime dropped before a complete response (the process died or closed it)."""


@dataclass
class Response:
    """One HTTP response of a runtime."""

    status: int
    body: bytes
    length: int  # Content-Length (may exceed len(body) when the body was too large to keep)


class _Connection:
    """A keep-alive HTTP/1.1 connection to a runtime."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, path: str, body: bytes) -> Response:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self.writer.write(head + body)
            status_line = await self.reader.readline()
            if not status_line:
                raise RuntimeGone("connection closed before the response")
            status = int(status_line.split(None, 2)[1])
            length = 0
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    raise RuntimeGone("connection closed in the response headers")
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length > MAX_BODY_BYTES:
                data = await self.reader.readexactly(MAX_BODY_BYTES)
                self.close()
                return Response(status, data, length)
            return Response(status, await self.reader.readexactly(length), length)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError) as exc:
            self.close()
            raise RuntimeGone(str(exc) or type(exc).__name__) from None

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class Container:
    """A runtime process serving one action revision at a time (after /init) on loopback."""

    def __init__(
        self, kind: str, memory_mb: int, isolation: str, root: str, group: Group | None = None
    ) -> None:
        self.seq = next(_ids)
        self.id = f"wsk{self.seq:05d}"
        self.kind = kind
        self.memory_mb = memory_mb
        self.isolation = isolation
        self.root = root
        self.workdir = os.path.join(root, self.id)  # host work dir (isolation none only)
        self.socket_path = os.path.join(root, "s", self.id)
        self.group = group
        self.pid = 0
        self.returncode: int | None = None
        self.stdout = StreamTail("stdout")
        self.stderr = StreamTail("stderr")
        self.killed = False  # killed by the invoker (timeout, eviction), not by itself
        self._proc: subprocess.Popen[bytes] | None = None
        self._exited = asyncio.Event()
        self._idle: list[_Connection] = []
        self._open = 0
        self._pidfd = -1
        self.on_destroyed: Any = None  # called once the container is gone (frees its resource group)

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def runtime_workdir(self) -> str:
        """The work dir as the runtime sees it (the sandbox's private /tmp under bwrap)."""
        from pytest_openwhisk.local.isolation import SANDBOX_WORKDIR

        return SANDBOX_WORKDIR if self.isolation == "bwrap" else self.workdir

    def spawn(self, command_for_fd: Any, env: dict[str, str], extra_fds: tuple[int, ...] = ()) -> None:
        """Start the process; ``command_for_fd(fd)`` builds its argv for the listening socket's fd.

        ``extra_fds`` are inherited too (e.g. bwrap's seccomp program). Raises OSError when the process
        cannot be started (the caller reports a whisk error).
        """
        loop = asyncio.get_running_loop()
        if self.isolation != "bwrap":
            os.makedirs(self.workdir, exist_ok=True)
        os.makedirs(os.path.dirname(self.socket_path), mode=0o700, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        gated = self.group is not None and self.group.gated
        try:
            listener.bind(self.socket_path)
            listener.listen(128)
            fd = listener.fileno()
            argv = spawner.wrap(command_for_fd(fd))  # into the runtimes' cpu group before it runs
            if gated:
                argv = gate_command(argv)
            self._proc = subprocess.Popen(
                argv,
                pass_fds=(fd, *extra_fds),
                env=env,
                cwd=self.workdir if self.isolation != "bwrap" else self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            if self.group is not None:
                try:
                    self.group.attach(self._proc.pid)
                except OSError:
                    self._proc.kill()
                    self._proc.wait()
                    raise
            spawner.deprioritize(self._proc.pid)  # no cpu group: lower its autogroup (before the gate opens)
            if gated:
                assert self._proc.stdin is not None
                os.write(self._proc.stdin.fileno(), b"\n")  # open the gate: it is in its cgroup now
        finally:
            listener.close()
        self.pid = self._proc.pid
        # stdin stays open and unused: the runtime exits when it sees EOF, i.e. when the invoker dies
        for pipe, tail in ((self._proc.stdout, self.stdout), (self._proc.stderr, self.stderr)):
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            loop.add_reader(pipe.fileno(), self._on_output, pipe, tail)
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._on_exit)

    def _on_output(self, pipe: Any, tail: StreamTail, drain: bool = False) -> None:
        while True:
            try:
                data = os.read(pipe.fileno(), 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                break
            tail.feed(data)
            if not drain:
                return
        asyncio.get_running_loop().remove_reader(pipe.fileno())
        pipe.close()
        tail.close()

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        assert self._proc is not None
        self.returncode = self._proc.wait()
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        for pipe, tail in ((self._proc.stdout, self.stdout), (self._proc.stderr, self.stderr)):
            if pipe is not None and not pipe.closed:  # drain what the process wrote before dying
                self._on_output(pipe, tail, drain=True)
                if not pipe.closed:
                    loop.remove_reader(pipe.fileno())
                    pipe.close()
                    tail.close()
        self._exited.set()

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self._proc is not None and not self._exited.is_set()

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` s for the process to end; its return code (None if still running)."""
        try:
            await asyncio.wait_for(self._exited.wait(), timeout)
        except TimeoutError:
            return None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the process group (the runtime and, under bwrap, its sandbox) and every other process
        of the container's resource group (daemons in a new session included); idempotent."""
        self.killed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        if self._proc is not None and self.alive:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.group is not None:
            self.group.kill()

    async def destroy(self) -> None:
        """Kill the process and everything it started, wait for it and remove its work dir and socket."""
        self.kill()
        if self._proc is not None:
            await self.wait_exit(5.0)
        if self.group is not None:
            self.group.kill()  # anything forked while the first kill ran
        loop = asyncio.get_running_loop()
        if self.isolation != "bwrap":
            await loop.run_in_executor(None, shutil.rmtree, self.workdir, True)
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)
        callback, self.on_destroyed = self.on_destroyed, None
        if callback is not None:
            callback(self)

    # --- HTTP --------------------------------------------------------------------------------------------

    async def post(self, path: str, body: bytes, timeout: float) -> Response:
        """POST ``body`` to the runtime; raises TimeoutError after ``timeout`` s or RuntimeGone."""
        conn = await self._connection()
        try:
            async with asyncio.timeout(timeout):  # no extra task per request (wait_for makes one)
                response = await conn.request(path, body)
        except BaseException:
            conn.close()
            self._open -= 1
            raise
        if conn.usable:
            self._idle.append(conn)
        else:
            self._open -= 1
        return response

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            self._open -= 1
            conn.close()
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=1 << 20)
        except OSError as exc:
            raise RuntimeGone(f"cannot connect to the runtime: {exc}") from None
        self._open += 1
        return _Connection(reader, writer)


def now_ms() -> int:
    """Epoch milliseconds."""
    return time.time_ns() // 1_000_000
