"""What the sandbox hardening costs (issue 12): spawn chains and the warm hop, measured in one run.

    python benchmarks/embedded/sandbox_cost.py [--spawns 40] [--hops 3000]

* spawn: ``python -I -S -c pass`` bare, inside the previous bwrap arguments (read-only root, private
  /tmp, PID/IPC/UTS namespaces), inside today's chain (+ seccomp filter, per-container uid via setpriv,
  rlimits via prlimit, tmpfs masks), and the same behind the entry shell that moves the process into its
  cgroups first (``spawner.entry_command``, as the invoker starts runtimes), interleaved, ``--spawns`` each:
  median and IQR in ms, ratio to bare.
* warm hop: keep-alive ``POST /run`` round trips to one initialised Python runtime over loopback TCP (the
  previous transport) and over the invoker-only Unix socket (today's), interleaved in blocks of 100.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_openwhisk.local import resources, seccomp, spawner
from pytest_openwhisk.local.group import Group
from pytest_openwhisk.local.isolation import SANDBOX_WORKDIR, runtime_command, sandbox, sandbox_uid

PY = [sys.executable, "-I", "-S", "-c", "pass"]
OLD_BWRAP = [
    "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "openwhisk-action",
    "--die-with-parent", "--",
]  # fmt: skip


def _spawn(argv: list[str], fds: tuple[int, ...] = (), group: Group | None = None) -> float:
    t0 = time.perf_counter()
    if group is not None:  # the process enters its cgroups itself, then execs argv
        command = spawner.entry_command(argv, os.getcwd(), spawner.procs_files(group))
        proc = subprocess.Popen(command, pass_fds=fds)
        group.attach(proc.pid)
    else:
        proc = subprocess.Popen(argv, pass_fds=fds)
    code = proc.wait()
    elapsed = (time.perf_counter() - t0) * 1000
    assert code == 0, (argv[:3], code)
    return elapsed


def spawns(n: int) -> dict[str, list[float]]:
    """Interleaved spawn timings (ms) of the four chains."""
    control = resources.select("auto")
    uid = sandbox_uid(1) if os.geteuid() == 0 else None
    out: dict[str, list[float]] = {
        "bare": [],
        "bwrap before": [],
        "bwrap now": [],
        "bwrap now + cgroup entry": [],
    }
    try:
        for i in range(n):
            out["bare"].append(_spawn(PY))
            out["bwrap before"].append(_spawn([*OLD_BWRAP, *PY]))
            fd = seccomp.program_fd()
            try:
                new = sandbox("bwrap", PY, SANDBOX_WORKDIR, uid=uid, seccomp_fd=fd)
                out["bwrap now"].append(_spawn(new, (fd,)))
            finally:
                os.close(fd)
            if control.mode != "watchdog":
                fd = seccomp.program_fd()
                group = control.group(f"cost{i}", 256, 128)
                try:
                    new = sandbox("bwrap", PY, SANDBOX_WORKDIR, uid=uid, seccomp_fd=fd)
                    out["bwrap now + cgroup entry"].append(_spawn(new, (fd,), group))
                finally:
                    os.close(fd)
                    control.forget(f"cost{i}")
    finally:
        asyncio.run(control.stop())
    return {k: v for k, v in out.items() if v}


async def _client(connect: object, count: int) -> list[float]:
    reader, writer = await connect  # type: ignore[misc]
    body = json.dumps({"value": {}}).encode()
    request = b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        writer.write(request)
        length = 0
        await reader.readline()
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out.append((time.perf_counter() - t0) * 1000)
    writer.close()
    return out


def hops(n: int) -> dict[str, list[float]]:
    """Warm /run round trips (ms) over TCP and over a Unix socket to initialised Python runtimes."""
    tmp = Path(tempfile.mkdtemp(prefix="ow-cost-"))
    procs, targets = [], {}
    try:
        for transport in ("tcp", "unix"):
            if transport == "tcp":
                listener = socket.socket()
                listener.bind(("127.0.0.1", 0))
            else:
                listener = socket.socket(socket.AF_UNIX)
                listener.bind(str(tmp / "sock"))
            listener.listen(16)
            work = tmp / transport
            work.mkdir()
            argv = runtime_command("python", [sys.executable], 256, listener.fileno(), str(work), [])
            procs.append(
                subprocess.Popen(
                    argv,
                    pass_fds=(listener.fileno(),),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            targets[transport] = listener.getsockname()
            listener.close()

        async def main() -> dict[str, list[float]]:
            init = {
                "value": {
                    "name": "a",
                    "main": "main",
                    "binary": False,
                    "code": "def main(a):\n    return {}\n",
                }
            }
            for transport, address in targets.items():
                conn = (
                    asyncio.open_connection(*address)
                    if transport == "tcp"
                    else asyncio.open_unix_connection(address)
                )
                reader, writer = await conn
                body = json.dumps(init).encode()
                writer.write(b"POST /init HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await reader.readline()
                writer.close()
            out: dict[str, list[float]] = {"tcp": [], "unix": []}
            for _ in range(n // 100):
                for transport, address in targets.items():
                    conn = (
                        asyncio.open_connection(*address)
                        if transport == "tcp"
                        else asyncio.open_unix_connection(address)
                    )
                    out[transport] += await _client(conn, 100)
            return out

        return asyncio.run(main())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def describe(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"median {statistics.median(values):7.3f} ms, IQR {q[2] - q[0]:6.3f} ms (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spawns", type=int, default=40)
    parser.add_argument("--hops", type=int, default=3000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    spawn = spawns(args.spawns)
    bare = statistics.median(spawn["bare"])
    for name, values in spawn.items():
        print(f"spawn {name:26s} {describe(values)}, ratio to bare {statistics.median(values) / bare:.2f}")
    hop = hops(args.hops)
    for name, values in hop.items():
        print(f"warm hop {name:5s} {describe(values)}")
    print(f"unix/tcp median ratio {statistics.median(hop['unix']) / statistics.median(hop['tcp']):.3f}")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
