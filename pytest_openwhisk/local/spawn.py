"""The invoker's side of the spawn helper (``spawn_helper.py``): runtime processes start off the event loop.

A :class:`Launcher` starts the helper process once and sends it one message per container start; the answer
(pid and the child's stdin/stdout/stderr pipes) and later the exit status arrive as loop callbacks. Nothing in
here blocks: a send that does not fit in the socket buffer waits in a queue until the socket is writable. When
the helper dies, pending starts fail with :class:`SpawnError`, running children are reported as exited (code
``-1``) and the next start launches a new helper.

The preparation of each start (the container's cgroup, its command line, its socket) runs in the launcher's
one worker thread (:meth:`Launcher.prepare`), one container after the other. It is mostly Python code: in the
loop's default pool, several preparations at once took the GIL from the event loop in a cold-start storm
(a waiting thread gets it after the 5 ms switch interval, and the next waiting thread may be another
preparation), and the first 0.25 s of a storm had 202s of up to 55 ms. One thread at a time costs starts
nothing: they share the one GIL anyway.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pytest_openwhisk.local import spawn_helper

HELPER = Path(spawn_helper.__file__)
LISTEN_FD = spawn_helper.FIRST_CHILD_FD  # the runtime's listening socket in the child
EXTRA_FD = LISTEN_FD + 1  # the first extra fd in the child (bwrap's seccomp program)
HELPER_GONE = -1  # exit code reported for children of a helper that died
PREPARE_THREAD = "ow-prepare"  # the name of the launcher's worker thread
T = TypeVar("T")


class SpawnError(OSError):
    """The runtime process could not be started (the cause is in the message)."""


@dataclass
class Started:
    """A started child: its pid and the server's ends of its pipes (the caller owns the fds)."""

    pid: int
    stdin: int
    stdout: int
    stderr: int


class Launcher:
    """Starts processes through one spawn helper; see the module docstring. Use on one event loop."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Started]] = {}
        self._exits: dict[int, Callable[[int], None]] = {}
        self._queue: deque[tuple[bytes, list[int]]] = deque()
        self._preparer: ThreadPoolExecutor | None = None
        self.helper_pid = 0

    def start(self) -> None:
        """Start the helper process (done by the first :meth:`spawn` when not called before)."""
        if self._sock is not None:
            return
        self._loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(HELPER), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.helper_pid = self._proc.pid
        ours.setblocking(False)
        self._sock = ours
        self._loop.add_reader(ours.fileno(), self._on_readable)

    def spawn(
        self, argv: list[str], env: dict[str, str], fds: list[int], on_exit: Callable[[int], None]
    ) -> tuple[int, asyncio.Future[Started]]:
        """Ask for ``argv`` with ``fds`` as the child's fds 3, 4, ... (this call takes them over and closes
        them); (id, future of :class:`Started`). ``on_exit(code)`` runs on the loop when the child ends; then
        call :meth:`reap` (until then its pid stays reserved)."""
        self.start()
        assert self._loop is not None
        ident = next(self._ids)
        future: asyncio.Future[Started] = self._loop.create_future()
        self._pending[ident] = future
        self._exits[ident] = on_exit
        self._send({"op": "spawn", "id": ident, "argv": argv, "env": env}, fds)
        return ident, future

    def prepare(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``work()`` (a start's preparation) in the launcher's one worker thread, after the
        preparations asked for before it; see the module docstring."""
        if self._preparer is None:
            self._preparer = ThreadPoolExecutor(1, thread_name_prefix=PREPARE_THREAD)
        return asyncio.get_running_loop().run_in_executor(self._preparer, work)

    def reap(self, ident: int) -> None:
        """Let the helper reap child ``ident`` (after its exit was reported)."""
        self._exits.pop(ident, None)
        if self._sock is not None:
            self._send({"op": "reap", "id": ident}, [])

    async def stop(self) -> None:
        """Close the socket (the helper exits at EOF) and wait for the helper; idempotent. Preparations not
        begun are cancelled."""
        self._close("the invoker stopped")
        preparer, self._preparer = self._preparer, None
        if preparer is not None:
            preparer.shutdown(wait=False, cancel_futures=True)
        proc, self._proc = self._proc, None
        if proc is not None:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.run_in_executor(None, proc.wait), 5.0)
            except TimeoutError:
                proc.kill()
                await loop.run_in_executor(None, proc.wait)

    # --- socket ------------------------------------------------------------------------------------------

    def _send(self, message: dict[str, object], fds: list[int]) -> None:
        data = json.dumps(message).encode()
        if self._sock is None:
            for fd in fds:
                os.close(fd)
            raise SpawnError("the spawn helper is not running")
        self._queue.append((data, fds))
        if len(self._queue) == 1:
            self._flush()

    def _flush(self) -> None:
        assert self._sock is not None
        assert self._loop is not None
        while self._queue:
            data, fds = self._queue[0]
            ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            try:
                self._sock.sendmsg([data], ancdata)
            except BlockingIOError:
                self._loop.add_writer(self._sock.fileno(), self._flush)
                return
            except OSError as exc:
                self._close(f"cannot write to the spawn helper: {exc}")
                return
            self._queue.popleft()
            for fd in fds:
                os.close(fd)
        self._loop.remove_writer(self._sock.fileno())

    def _on_readable(self) -> None:
        assert self._sock is not None
        while self._sock is not None:
            try:
                data, ancdata, _, _ = self._sock.recvmsg(
                    1 << 16, socket.CMSG_SPACE(3 * 4), socket.MSG_CMSG_CLOEXEC
                )
            except BlockingIOError:
                return
            except OSError as exc:
                self._close(f"cannot read from the spawn helper: {exc}")
                return
            if not data:
                code = self._proc.poll() if self._proc is not None else None
                self._close(f"the spawn helper exited (code {code})")
                return
            self._dispatch(json.loads(data), spawn_helper._fds(ancdata))

    def _dispatch(self, message: dict[str, object], fds: list[int]) -> None:
        ident = int(str(message["id"]))
        if "exit" in message:
            callback = self._exits.get(ident)
            if callback is not None:
                callback(int(str(message["exit"])))
            else:  # nobody waits for it any more
                self._send({"op": "reap", "id": ident}, [])
            return
        future = self._pending.pop(ident, None)
        if "pid" in message and len(fds) == 3:
            started = Started(int(str(message["pid"])), *fds)
            if future is not None and not future.done():
                future.set_result(started)
            return
        for fd in fds:
            os.close(fd)
        self._exits.pop(ident, None)
        error = SpawnError(int(str(message.get("errno", 0))), str(message.get("error", "no answer")))
        if future is not None and not future.done():
            future.set_exception(error)

    def _close(self, why: str) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(sock.fileno())
        self._loop.remove_writer(sock.fileno())
        sock.close()
        for _, fds in self._queue:
            for fd in fds:
                os.close(fd)
        self._queue.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(SpawnError(why))
        exits, self._exits = self._exits, {}
        for callback in exits.values():
            with contextlib.suppress(Exception):
                callback(HELPER_GONE)
