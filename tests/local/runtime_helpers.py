"""A runtime process started by hand for the runtime tests: a blocking socket to it, and its stdout and
stderr on pipes the test reads (what is already there when a response arrives shows the order of writes)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pytest_openwhisk.local.isolation import runtime_command
from pytest_openwhisk.local.logs import SENTINEL

from .invoker_helpers import init_body

SENTINEL_LINE = SENTINEL.encode() + b"\n"


class RawRuntime:
    """One runtime process: ``conn`` is connected to it; ``stdout``/``stderr`` are the read ends of its
    output pipes."""

    def __init__(self, conn: socket.socket, stdout: int, stderr: int) -> None:
        self.conn, self.stdout, self.stderr = conn, stdout, stderr
        self._buf = b""

    def send(self, path: str, payload: Any) -> None:
        """Write one POST request (no waiting for the response)."""
        body = json.dumps(payload).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.conn.sendall(head + body)

    def response(self, timeout: float = 5.0) -> tuple[int, Any]:
        """The next response: ``(status, decoded JSON body)``; raises TimeoutError when none comes."""
        self.conn.settimeout(timeout)
        while (end := self._buf.find(b"\r\n\r\n")) < 0 or len(self._buf) < end + 4 + _length(self._buf[:end]):
            data = self.conn.recv(65536)
            if not data:
                raise ConnectionError(f"the runtime closed the connection; got {self._buf!r}")
            self._buf += data
        length = _length(self._buf[:end])
        status, body = int(self._buf.split(None, 2)[1]), self._buf[end + 4 : end + 4 + length]
        self._buf = self._buf[end + 4 + length :]
        return status, json.loads(body)

    def post(self, path: str, payload: Any) -> tuple[int, Any]:
        """One request and its response."""
        self.send(path, payload)
        return self.response()

    def available(self, fd: int) -> bytes:
        """What the runtime has written on ``fd`` so far (no waiting)."""
        data = b""
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        return data

    def read_until_sentinel(self, fd: int, timeout: float = 5.0) -> bytes:
        """What the runtime wrote on ``fd`` up to and including the next sentinel line."""
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(SENTINEL_LINE):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"no sentinel on fd {fd} within {timeout} s; got {data[-200:]!r}")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError(f"fd {fd} closed before the sentinel; got {data[-200:]!r}")
            data += chunk
        return data


def assert_failed_init(runtime: RawRuntime, code: str, problem: str) -> None:
    """``/init`` of ``code`` answers 502 naming ``problem``; the details and both sentinels are in the logs
    by the time the answer arrives."""
    status, body = runtime.post("/init", init_body(code))
    assert status == 502
    assert problem in body["error"]
    assert runtime.available(runtime.stdout) == SENTINEL_LINE
    err = runtime.available(runtime.stderr)
    assert problem.encode() in err
    assert err.endswith(SENTINEL_LINE)


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@contextmanager
def raw_runtime(
    tmp_path: Path,
    family: str,
    interpreter: list[str],
    env: dict[str, str] | None = None,
    memory_mb: int = 256,
) -> Iterator[RawRuntime]:
    """Start the ``family`` runtime (``env`` added to its environment); it is killed on exit."""
    with ExitStack() as stack:
        path = str(tmp_path / "runtime.sock")
        listener = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        listener.bind(path)
        listener.listen(4)
        pipes = [os.pipe(), os.pipe()]
        for read_end, _ in pipes:
            stack.callback(os.close, read_end)
        workdir = tmp_path / "work"
        workdir.mkdir()
        argv = runtime_command(family, interpreter, memory_mb, listener.fileno(), str(workdir), [])
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=pipes[0][1],
                stderr=pipes[1][1],
                pass_fds=[listener.fileno()],
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), **(env or {})},
                cwd=workdir,
            )
        finally:  # the runtime has its copies: the read ends see EOF once it is gone
            for _, write_end in pipes:
                os.close(write_end)
        stack.callback(process.wait)
        stack.callback(process.kill)
        assert process.stdin is not None
        stack.callback(process.stdin.close)
        conn = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        conn.connect(path)
        yield RawRuntime(conn, pipes[0][0], pipes[1][0])
