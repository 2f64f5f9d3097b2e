"""How a runtime process is sandboxed and memory-limited: ``bwrap`` (bubblewrap) or a plain process.

``bwrap`` mode: the whole filesystem read-only, a private ``/tmp``, ``/dev`` and ``/proc``, the
container's own work dir writable, new PID/IPC/UTS namespaces, killed with its parent; the network
namespace is shared so actions can call the controller's API on loopback. ``auto`` uses bwrap when
a probe run succeeds here and falls back to ``none``.

Memory: Python runtimes limit their own address space (``RLIMIT_AS`` = memory limit +
:data:`PYTHON_AS_SLACK_MB` for the interpreter's mappings and thread stacks); Node.js runtimes get
``--max-old-space-size`` = the memory limit (V8 reserves far more address space than it uses, so
``RLIMIT_AS`` would break it). cgroups are not used: their hierarchy is not writable in the test
environment. Both runtimes end with exit code 137 (or SIGABRT for V8) when the limit is hit.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_openwhisk.errors import ConfigError

MODES = ("auto", "bwrap", "none")
PYTHON_AS_SLACK_MB = 128
RUNTIMES_DIR = Path(__file__).resolve().parent / "runtimes"
BWRAP_INSTALL = "install bubblewrap (apt-get install bubblewrap, or bash .ci/setup)"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def hidden_paths(command: list[str], workdir: str) -> list[str]:
    """Paths the runtime needs that the private ``/tmp`` would hide (bound back in read-only).

    A checkout, virtualenv or site-packages under ``/tmp`` (common on CI runners) holds the proxy
    script, the interpreter or the action's bundled packages: every absolute path in the command line
    (``os.pathsep`` lists included) plus the interpreter's prefixes.
    """
    wanted = {str(RUNTIMES_DIR), sys.prefix, sys.base_prefix}
    for arg in command:
        for part in arg.split(os.pathsep):
            if os.path.isabs(part) and os.path.exists(part):
                wanted.update((part, os.path.realpath(part)))
    keep = sorted(p for p in wanted if _under(p, "/tmp") and p != "/tmp" and not _under(p, workdir))
    # a path inside another kept path is already visible
    return [p for p in keep if not any(q != p and _under(p, q) for q in keep)]


def _bwrap_args(workdir: str, visible: list[str] | tuple[str, ...] = ()) -> list[str]:
    rebinds = [arg for path in visible for arg in ("--ro-bind", path, path)]
    return [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        *rebinds,
        "--bind",
        workdir,
        workdir,
        "--chdir",
        workdir,
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--hostname",
        "openwhisk-action",
        "--die-with-parent",
        "--",
    ]


@functools.cache
def bwrap_problem() -> str | None:
    """Why bwrap cannot sandbox runtimes here, or None when it works (probed once per process)."""
    if shutil.which("bwrap") is None:
        return f"bwrap is not installed; {BWRAP_INSTALL}"
    command = [sys.executable, "-I", "-S", "-c", "pass"]
    probe = [*_bwrap_args("/", hidden_paths(command, "/nonexistent")), *command]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if done.returncode != 0:
        return f"bwrap exited with {done.returncode}: {done.stderr.decode(errors='replace').strip()[:300]}"
    return None


def resolve_mode(requested: str) -> str:
    """The isolation actually used for ``config.pool.isolation``: ``"bwrap"`` or ``"none"``.

    Raises :class:`ConfigError` for unknown values and when ``"bwrap"`` is required but unusable.
    """
    if requested not in MODES:
        raise ConfigError(f"pool isolation {requested!r} is not supported; use one of {', '.join(MODES)}")
    if requested == "none":
        return "none"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if requested == "bwrap":
        raise ConfigError(f"pool isolation 'bwrap' is not usable: {problem}; or set isolation='auto'/'none'")
    return "none"


def python_memory_bytes(memory_mb: int) -> int:
    """The RLIMIT_AS a Python runtime sets on itself for an action memory limit."""
    return (memory_mb + PYTHON_AS_SLACK_MB) * 1024 * 1024


def runtime_command(
    family: str, interpreter: list[str], memory_mb: int, listen_fd: int, workdir: str, site_dirs: list[str]
) -> list[str]:
    """The runtime proxy command line (without sandbox) for a language family."""
    if family == "python":
        proxy = str(RUNTIMES_DIR / "python_proxy.py")
        return [
            *interpreter,
            "-I",
            "-S",
            proxy,
            str(listen_fd),
            str(python_memory_bytes(memory_mb)),
            workdir,
            os.pathsep.join(site_dirs),
        ]
    proxy = str(RUNTIMES_DIR / "nodejs_proxy.js")
    return [*interpreter, f"--max-old-space-size={memory_mb}", proxy, str(listen_fd), workdir]


def sandbox(mode: str, command: list[str], workdir: str) -> list[str]:
    """Wrap ``command`` for the isolation mode."""
    if mode == "bwrap":
        return [*_bwrap_args(workdir, hidden_paths(command, workdir)), *command]
    return command


def is_out_of_memory(returncode: int | None, stderr_tail: list[str]) -> bool:
    """Whether a runtime's death means it exhausted its memory limit."""
    if returncode in (137, -9):
        return True
    if returncode in (134, -6, 133, -5):  # V8 aborts (SIGABRT/SIGTRAP) on a heap OOM
        return any("out of memory" in line.lower() for line in stderr_tail)
    return False
