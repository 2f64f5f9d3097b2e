"""The spawn helper: a small process that starts the invoker's runtime processes (the client is ``spawn.py``).

It runs as ``python -I -S spawn_helper.py FD`` (standard library only, so it stays small) from the moment the
invoker starts. Starting a process from the server itself runs on the controller's event loop, and Python's
``subprocess`` holds the GIL across the fork and exec; with the helper the controller only writes one message
and later reads the answer. The helper ``posix_spawn``\\ s each child (a vfork of a small process) in a new
session with its fds mapped to fixed numbers.

Protocol over a ``SOCK_SEQPACKET`` socket pair (fd ``FD``), one JSON object per packet:

* server -> helper ``{"op": "spawn", "id": N, "argv": [...], "env": {...}}`` with SCM_RIGHTS fds that become
  the child's fds 3, 4, ...; the answer is ``{"id": N, "pid": P}`` with the child's stdin (write end), stdout
  and stderr (read ends) as SCM_RIGHTS, or ``{"id": N, "error": "...", "errno": E}``.
* helper -> server ``{"id": N, "exit": CODE}`` once the child has exited (``subprocess`` convention: minus the
  signal number when a signal ended it). The child stays a zombie until the server sends
  ``{"op": "reap", "id": N}``: its pid, and so its process group, cannot be reused while the server may still
  signal it.
* EOF (the server is gone): the helper exits; the children see EOF on their stdin and end too.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import select
import signal
import socket
import sys

MAX_PACKET = 1 << 20
MAX_FDS = 16
FIRST_CHILD_FD = 3  # the first passed fd becomes this fd in the child
_HIGH_FD = 64  # passed fds are moved at or above this number before they are mapped to 3, 4, ...


def _fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(array.array("i", data[:usable]))
    return fds


def _send(sock: socket.socket, message: dict[str, object], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], ancdata)


def _status(info: os.waitid_result | None) -> int:
    if info is None:
        return -1
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status  # killed or dumped by that signal


def spawn(argv: list[str], env: dict[str, str], passed: list[int]) -> tuple[int, list[int]]:
    """Start ``argv`` in a new session with ``passed`` as fds 3, 4, ... and fresh stdin/stdout/stderr pipes;
    (pid, [stdin write end, stdout read end, stderr read end]). Closes ``passed``."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD) for fd in passed]
    for fd in passed:
        os.close(fd)
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, stdin_r, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
        *((os.POSIX_SPAWN_DUP2, fd, FIRST_CHILD_FD + i) for i, fd in enumerate(high)),
    ]
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            env,
            file_actions=actions,
            setsid=True,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # ignored here, default in the child (as subprocess)
        )
    except BaseException:
        for fd in (stdin_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (stdin_r, out_w, err_w, *high):
            os.close(fd)
    return pid, [stdin_w, out_r, err_r]


def serve(sock: socket.socket) -> None:
    """Answer the server's messages until it closes the socket."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    running: dict[int, tuple[int, int]] = {}  # pidfd -> (id, pid)
    zombies: dict[int, int] = {}  # id -> pid (exited, reported, not yet reaped)
    while True:
        for fd, _ in poller.poll():
            if fd != sock.fileno():
                ident, pid = running.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                try:
                    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                except ChildProcessError:
                    info = None
                zombies[ident] = pid
                _send(sock, {"id": ident, "exit": _status(info)})
                continue
            data, ancdata, _, _ = sock.recvmsg(
                MAX_PACKET, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC
            )
            if not data:
                return
            passed = _fds(ancdata)
            message = json.loads(data)
            ident = message["id"]
            if message["op"] == "reap":
                pid = zombies.pop(ident, 0)
                if pid:
                    try:
                        os.waitpid(pid, 0)
                    except ChildProcessError:
                        pass
                continue
            try:
                pid, pipes = spawn(message["argv"], message["env"], passed)
            except OSError as exc:
                _send(sock, {"id": ident, "error": str(exc), "errno": exc.errno or 0})
                continue
            pidfd = os.pidfd_open(pid)
            running[pidfd] = (ident, pid)
            poller.register(pidfd, select.POLLIN)
            try:
                _send(sock, {"id": ident, "pid": pid}, pipes)
            finally:
                for fd in pipes:
                    os.close(fd)


def main() -> int:
    """Entry point: ``spawn_helper.py FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches the whole group: the
    # server decides when its runtimes end (this helper ends at EOF)
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)  # runtimes must never hold the server's control socket
    sock = socket.socket(fileno=fd)
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
