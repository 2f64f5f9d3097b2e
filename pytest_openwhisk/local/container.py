"""One "container": a runtime proxy process plus the invoker's keep-alive HTTP client to it.

The invoker binds a listening Unix socket in a directory only its own uid can reach (mode 0700; inside a
bwrap sandbox it is not even visible) and hands its fd to the child: the invoker is the only client that can
reach a runtime, so no action can ``/init`` or ``/run`` another action's container (TCP on loopback would be
open to every local process). Connections made right after the spawn wait in the kernel's backlog until the
runtime accepts, so there is no readiness polling and no bind race.

Starting never blocks the event loop: :meth:`Container.start` makes the resource group, the command line and
the socket in a worker thread and the spawn helper (``spawn.py``) starts the process; :meth:`Container.post`
waits for the start. With a resource group (``resources.py``) the process enters its cgroups itself before it
runs anything (``spawner.entry_command``), and killing the container kills every process of the group.
stdout/stderr are pipes read on the event loop into :class:`~pytest_openwhisk.local.logs.StreamTail`
objects; the helper reports the exit. Teardown (the last kill pass, files, the cgroup directories) runs in a
worker thread. The HTTP client is a minimal HTTP/1.1 client protocol (one request per connection at a time,
connections reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from pytest_openwhisk.local import spawner
from pytest_openwhisk.local.cgroups import CgroupGroup
from pytest_openwhisk.local.group import Group
from pytest_openwhisk.local.logs import StreamTail
from pytest_openwhisk.local.proctree import all_pids as _pids
from pytest_openwhisk.local.proctree import stat_row as _stat
from pytest_openwhisk.local.proctree import tree
from pytest_openwhisk.local.spawn import LISTEN_FD, Launcher, SpawnError

MAX_BODY_BYTES = 64 * 1024 * 1024  # bodies above this are dropped with the connection
MAX_HEAD_BYTES = 64 * 1024  # a response head longer than this is a broken runtime
_ids = itertools.count(1)


class RuntimeGone(Exception):
    """The connection to the runtime dropped before a complete response (the process died or closed it)."""


@dataclass
class Response:
    """One HTTP response of a runtime."""

    status: int
    body: bytes
    length: int  # Content-Length (may exceed len(body) when the body was too large to keep)


class RuntimeConnection(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection to a runtime: one request at a time, the response parsed from the
    bytes as they arrive (no stream reader, no task: the waiting request is woken once, when it is
    complete). A response without ``Content-Length`` has an empty body; one over :data:`MAX_BODY_BYTES`
    keeps its first :data:`MAX_BODY_BYTES` and the connection is dropped."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: tuple[int, int] | None = None  # (status, Content-Length) once the head is in
        self._waiter: asyncio.Future[Response] | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        where = "in the response headers" if self._buffer or self._head else "before the response"
        self._fail(RuntimeGone(f"connection closed {where}" + (f": {exc}" if exc else "")))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():  # nothing asked: a broken peer
            self.close()
            return
        buffer = self._buffer
        buffer += data
        if self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._fail(RuntimeGone(f"response headers longer than {MAX_HEAD_BYTES} bytes"))
                    self.close()
                return
            try:
                self._head = _parse_head(bytes(buffer[:end]))
            except (ValueError, IndexError) as exc:
                self._fail(RuntimeGone(f"malformed response head: {exc}"))
                self.close()
                return
            del buffer[: end + 4]
        status, length = self._head
        keep = min(length, MAX_BODY_BYTES)
        if len(buffer) < keep:
            return
        body = bytes(buffer[:keep])
        waiter = self._waiter
        self._head, self._waiter = None, None
        del buffer[:keep]
        if keep < length or buffer:  # too large to keep, or bytes nobody asked for: do not reuse
            self.close()
        waiter.set_result(Response(status, body, length))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def request(self, path: str, body: bytes, timeout: float) -> Response:
        """Send one request; its response, TimeoutError after ``timeout`` s (one timer, no task), or
        RuntimeGone."""
        if self.transport is None or not self.usable:
            raise RuntimeGone("connection closed before the request")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, _expire, waiter)
        self.transport.write(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
        )
        try:
            return await waiter
        finally:
            timer.cancel()

    @property
    def usable(self) -> bool:
        return not self._closed and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _parse_head(head: bytes) -> tuple[int, int]:
    """(status, Content-Length) of a response head (status line and header lines, no blank line)."""
    status = int(head[9:12]) if head[8:9] == b" " and head[12:13] in (b" ", b"\r", b"") else 0
    if not status:  # not "HTTP/1.x NNN ...": split the status line
        status = int(head.split(None, 2)[1])
    at = head.find(b"\r\nContent-Length:")  # how every runtime writes it
    if at >= 0:
        end = head.find(b"\r\n", at + 17)
        length = int(head[at + 17 : end if end >= 0 else len(head)])
    else:
        length = 0
        for line in head.split(b"\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
    if length < 0:
        raise ValueError(f"negative Content-Length {length}")
    return status, length


class Container:
    """A runtime process serving one action revision at a time (after /init) on loopback."""

    def __init__(
        self,
        kind: str,
        memory_mb: int,
        isolation: str,
        root: str,
        group: Group | None = None,
        launcher: Launcher | None = None,
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
        self.launcher = launcher
        self.start_error: SpawnError | None = None  # why the process could not be started
        self._own_launcher: Launcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._spawn_id = 0
        self._stdin = -1
        self._pipes: list[Any] = []
        self._exited = asyncio.Event()
        self._idle: list[RuntimeConnection] = []
        self._open = 0
        self.on_destroyed: Any = None  # called once the container is gone (frees its resource group)

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def runtime_workdir(self) -> str:
        """The work dir as the runtime sees it (the sandbox's private /tmp under bwrap)."""
        from pytest_openwhisk.local.isolation import SANDBOX_WORKDIR

        return SANDBOX_WORKDIR if self.isolation == "bwrap" else self.workdir

    def spawn(self, command_for_fd: Any, env: dict[str, str], extra_fds: tuple[int, ...] = ()) -> None:
        """Start the process without waiting for it; ``command_for_fd(fd)`` builds its argv for the listening
        socket's fd (``extra_fds`` are inherited too, as fds 4, 5, ...; the caller keeps its own copies).
        A failed start shows as :class:`SpawnError` from :meth:`post`."""
        passed = [os.dup(fd) for fd in extra_fds]

        def prepare() -> tuple[list[str], dict[str, str], list[int]]:
            return command_for_fd(LISTEN_FD), env, passed

        self.start(prepare)

    def start(self, prepare: Callable[[], tuple[list[str], dict[str, str], list[int]]]) -> None:
        """Start the process in the background: ``prepare()`` runs in a worker thread and returns (argv for
        the listening socket at fd 3, environment, fds for the child's 4, 5, ... which the container then
        owns); the spawn helper starts it. :meth:`post` waits for the start; a failed start is
        :class:`SpawnError` there (and ``alive`` turns False)."""
        if self._task is not None:
            raise RuntimeError(f"container {self.id} is already started")
        self._task = asyncio.get_running_loop().create_task(self._start(prepare))

    async def _start(self, prepare: Callable[[], tuple[list[str], dict[str, str], list[int]]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.launcher is None:  # a container on its own (tests): its own helper
                self.launcher = self._own_launcher = Launcher()
            argv, env, fds = await self.launcher.prepare(lambda: self._prepare(prepare))  # one at a time
            self._spawn_id, future = self.launcher.spawn(argv, env, fds, self._on_exit)
            started = await future
        except BaseException as exc:
            self.start_error = (
                exc if isinstance(exc, SpawnError) else SpawnError(f"{type(exc).__name__}: {exc}")
            )
            self._exited.set()
            self.stdout.close()
            self.stderr.close()
            raise self.start_error from None
        self.pid = started.pid
        if self.group is not None:
            Group.attach(self.group, self.pid)  # the pid only: the process moved itself into its cgroups
        spawner.deprioritize(self.pid)  # no cpu group: lower its autogroup
        # stdin stays open and unused: the runtime exits when it sees EOF, i.e. when the invoker dies
        self._stdin = started.stdin
        for fd, tail in ((started.stdout, self.stdout), (started.stderr, self.stderr)):
            os.set_blocking(fd, False)
            pipe = open(fd, "rb", buffering=0)  # closed in _on_output / _on_exit
            self._pipes.append(pipe)
            loop.add_reader(fd, self._on_output, pipe, tail)
        if self._exited.is_set():  # its exit was reported before this task resumed: nobody writes to it
            os.close(self._stdin)
            self._stdin = -1
        elif self.killed:  # killed while it was starting
            self._signal()

    def promote(self) -> asyncio.Future[int] | None:
        """After ``/init``: move the runtime's processes from the boot cpu group to the runtimes' group
        (:func:`spawner.promote`) in a worker thread; the future gives how many moved (None: no boot
        group)."""
        if not self.pid or spawner.boot_group() is None:
            return None
        return asyncio.get_running_loop().run_in_executor(None, self._promote, self.pid, self.group)

    @staticmethod
    def _promote(pid: int, group: Group | None) -> int:
        if isinstance(group, CgroupGroup):
            pids = group.members()  # every process of the container (bwrap's sandboxed children too)
        else:
            pids = tree(pid, {p: row for p in _pids() if (row := _stat(p)) is not None})
        return spawner.promote(pids)

    async def wait_started(self) -> None:
        """Wait until the process runs (pid known); raises :class:`SpawnError` when it could not start."""
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self.start_error is not None:
            raise self.start_error

    def _prepare(
        self, prepare: Callable[[], tuple[list[str], dict[str, str], list[int]]]
    ) -> tuple[list[str], dict[str, str], list[int]]:
        """Worker thread: the listening socket, the argv (entering the resource and cpu groups first), the
        fds to pass. Raises OSError when something cannot be made."""
        fds: list[int] = []
        try:
            if self.isolation != "bwrap":
                os.makedirs(self.workdir, exist_ok=True)
            os.makedirs(os.path.dirname(self.socket_path), mode=0o700, exist_ok=True)
            argv, env, extra = prepare()
            fds.extend(extra)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(self.socket_path)
                listener.listen(128)
            except BaseException:
                listener.close()
                raise
            fds.insert(0, listener.detach())
            procs = spawner.procs_files(self.group)
            cwd = self.workdir if self.isolation != "bwrap" else self.root
            return spawner.entry_command(argv, cwd, procs), env, fds
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

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

    def _on_exit(self, code: int) -> None:
        """The spawn helper reports the end of the process (with ``code``, as ``Popen.returncode``)."""
        loop = asyncio.get_running_loop()
        self.returncode = code
        if self._stdin >= 0:
            os.close(self._stdin)
            self._stdin = -1
        for pipe, tail in zip(self._pipes, (self.stdout, self.stderr), strict=False):
            if not pipe.closed:  # drain what the process wrote before dying
                self._on_output(pipe, tail, drain=True)
                if not pipe.closed:
                    loop.remove_reader(pipe.fileno())
                    pipe.close()
                    tail.close()
        self._exited.set()
        if self.launcher is not None and self._spawn_id:
            self.launcher.reap(self._spawn_id)  # the pid may be reused from now on: alive is False

    @property
    def alive(self) -> bool:
        """True while the process starts or runs."""
        return self._task is not None and not self._exited.is_set()

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` s for the process to end; its return code (None if still running)."""
        try:
            await asyncio.wait_for(self._exited.wait(), timeout)
        except TimeoutError:
            return None
        return self.returncode

    def _signal(self) -> None:
        if self.pid and not self._exited.is_set():  # not reaped before the exit is handled here
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the process group (the runtime and, under bwrap, its sandbox) and every other process
        of the container's resource group (daemons in a new session included); idempotent. A container
        still starting is killed as soon as its process exists."""
        self.killed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        self._signal()
        if self.group is not None and self.pid:
            self.group.kill()

    async def destroy(self) -> None:
        """Kill the process and everything it started, wait for it and remove its work dir and socket (the
        slow parts in a worker thread: the event loop never waits for a teardown)."""
        self.kill()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task
            self.kill()
            await self.wait_exit(5.0)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._remove_files)
        callback, self.on_destroyed = self.on_destroyed, None
        if callback is not None:
            await loop.run_in_executor(None, callback, self)
        if self._own_launcher is not None:
            await self._own_launcher.stop()

    def _remove_files(self) -> None:
        if self.group is not None and self.pid:
            self.group.kill()  # anything forked while the first kill ran
        if self.isolation != "bwrap":
            shutil.rmtree(self.workdir, True)
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)

    # --- HTTP --------------------------------------------------------------------------------------------

    async def post(self, path: str, body: bytes, timeout: float) -> Response:
        """POST ``body`` to the runtime; raises TimeoutError after ``timeout`` s or RuntimeGone."""
        conn = await self._connection()
        try:
            response = await conn.request(path, body, timeout)
        except BaseException:
            conn.close()
            self._open -= 1
            raise
        if conn.usable:
            self._idle.append(conn)
        else:
            self._open -= 1
        return response

    async def _connection(self) -> RuntimeConnection:
        await self.wait_started()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            self._open -= 1
            conn.close()
        try:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_unix_connection(RuntimeConnection, self.socket_path)
        except OSError as exc:
            raise RuntimeGone(f"cannot connect to the runtime: {exc}") from None
        self._open += 1
        return conn


def now_ms() -> int:
    """Epoch milliseconds."""
    return time.time_ns() // 1_000_000
