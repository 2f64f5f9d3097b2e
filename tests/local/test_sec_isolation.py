"""Attacks from hostile action code against the bwrap sandbox (issue 12 items 1-3).

Each action tries an escape and reports what happened; the sandbox must make every attempt fail.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local.config import StemCell
from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.isolation import bwrap_problem
from pytest_openwhisk.local.types import SUCCESS, RunOutcome

from .invoker_helpers import request, run_with, spec

pytestmark = pytest.mark.skipif(
    bwrap_problem() is not None, reason=f"bwrap unusable here ({bwrap_problem()}); apt-get install bubblewrap"
)

ESCAPE = r"""
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)

def attempt(fn):
    try:
        rc = fn()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    if rc is None or rc == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

def main(args):
    lines = open("/proc/self/status").read().splitlines()
    status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    def write_host():
        with open(os.path.join(args["host_dir"], "pwned"), "w") as handle:
            handle.write("x")
    def packet():
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()
    def raw_ip():
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
    return {
        "uid": os.getuid(),
        "cap_eff": status["CapEff"].strip(),
        "cap_bnd": status["CapBnd"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "seccomp": status["Seccomp"].strip(),
        "umount_tmp": attempt(lambda: libc.umount2(b"/tmp", 2)),
        "remount_root_rw": attempt(lambda: libc.mount(None, b"/", None, 32 | 4096 | 16384, None)),
        "mount_tmpfs": attempt(lambda: libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)),
        "unshare_user": attempt(lambda: libc.unshare(0x10000000)),
        "ptrace_attach": attempt(lambda: libc.ptrace(16, 1, None, None)),
        "write_host": attempt(write_host),
        "af_packet": attempt(packet),
        "raw_ip": attempt(raw_ip),
        "read_root_home": attempt(lambda: os.listdir("/root") and None),
        "setuid_root": attempt(lambda: os.setuid(0)),
        "loopback_tcp": attempt(lambda: socket.create_connection(("127.0.0.1", args["port"]), 2).close()),
    }
"""


def _run(code: str, params: dict[str, Any], **pool: Any) -> RunOutcome:
    async def scenario(invoker: Invoker) -> RunOutcome:
        return await invoker.run(request(spec(code, "attacker", memory_mb=128), params))

    return run_with(scenario, isolation="bwrap", **pool)


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A world-writable host directory outside /tmp (the sandbox must still not write into it)."""
    path = Path(tempfile.mkdtemp(prefix="ow-host-", dir="/var/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_escape_attempts_fail_in_the_sandbox(host_dir: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        outcome = _run(ESCAPE, {"host_dir": str(host_dir), "port": listener.getsockname()[1]})
    finally:
        listener.close()
    assert outcome.status_code == SUCCESS, outcome.result
    r = outcome.result
    assert r["cap_eff"] == r["cap_bnd"] == "0000000000000000"  # item 1: no capability at all
    assert r["no_new_privs"] == "1"
    assert r["seccomp"] == "2"  # a filter is loaded
    assert r["uid"] != 0
    assert r["umount_tmp"] == "EPERM"
    assert r["remount_root_rw"] == "EPERM"
    assert r["mount_tmpfs"] == "EPERM"
    assert r["unshare_user"] == "EPERM"
    assert r["ptrace_attach"] == "EPERM"
    assert r["write_host"] == "EROFS"  # the host's filesystem is read-only, even where mode 0777
    assert not (host_dir / "pwned").exists()
    assert r["af_packet"] == "EPERM"  # item 2: no sniffing of loopback traffic (API keys)
    assert r["raw_ip"] == "EPERM"
    assert r["setuid_root"] == "EPERM"
    assert r["read_root_home"] in ("ok", "EACCES")  # /root is an empty tmpfs or unreadable
    assert r["loopback_tcp"] == "ok"  # actions can still call the controller's API


LIST_ROOT = "import os\ndef main(args):\n    return {'root': sorted(os.listdir('/root'))}\n"


def test_private_home_directories_are_hidden() -> None:
    outcome = _run(LIST_ROOT, {})
    assert outcome.status_code == SUCCESS, outcome.result
    # only the path to the interpreter survives (when it lives under /root), never root's files
    assert set(outcome.result["root"]) <= {".pyenv", ".local", ".nvm", ".cache"}


HIJACK = r"""
import json, socket

def main(args):
    seen = args["victim"] in open("/proc/net/unix").read()
    body = json.dumps({"value": {"name": "x", "main": "main", "binary": False, "env": {},
                                 "code": "def main(a):\n    return {'pwned': True}\n"}}).encode()
    head = b"POST /init HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(args["victim"])
            sock.sendall(head % len(body) + body)
            answer = sock.recv(100).decode(errors="replace")
    except OSError as exc:
        answer = type(exc).__name__
    return {"seen": seen, "answer": answer}
"""


def test_an_action_cannot_init_another_container() -> None:
    async def scenario(invoker: Invoker) -> tuple[RunOutcome, RunOutcome]:
        stem = next(e for e in invoker.pool.entries if e.state == "prewarm")
        attack = await invoker.run(
            request(spec(HIJACK, "attacker", memory_mb=128), {"victim": stem.container.socket_path})
        )
        victim = await invoker.run(request(spec("def main(a):\n    return {'mine': True}\n", "victim")))
        return attack, victim

    attack, victim = run_with(scenario, isolation="bwrap", prewarm=(StemCell("python:3.11", 1, 256),))
    assert attack.status_code == SUCCESS, attack.result
    assert attack.result["answer"] in ("PermissionError", "FileNotFoundError"), attack.result
    assert victim.status_code == SUCCESS, victim.result
    assert victim.result == {"mine": True}  # the stem cell got the victim's code, not the attacker's
    assert victim.prewarmed


SNOOP = "import os\ndef main(args):\n    return {'n': len([p for p in os.listdir('/proc') if p.isdigit()])}\n"


def test_the_sandbox_sees_only_its_own_processes() -> None:
    outcome = _run(SNOOP, {"tag": uuid.uuid4().hex})
    assert outcome.status_code == SUCCESS, outcome.result
    assert outcome.result["n"] < 10
