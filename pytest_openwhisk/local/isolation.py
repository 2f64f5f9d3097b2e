"""How a runtime process is sandboxed: ``bwrap`` (bubblewrap) or a plain process (``none``).

``bwrap`` mode, for action code treated as hostile (``docs/local.md``, threat model):

* the whole filesystem read-only; a private ``/tmp`` (size-capped tmpfs) that is also the container's
  work dir (``HOME``), so nothing an action writes reaches the host's disk; directories that are not
  world-searchable (e.g. ``/root``) are replaced by empty tmpfs mounts with only the paths the runtime
  needs bound back read-only (the interpreter, the proxies, site-packages);
* new PID, IPC, UTS and cgroup namespaces (the action sees only its own processes), a new session (no
  terminal injection), killed with its parent; the network namespace is shared so actions can call the
  controller's API on loopback, but the invoker talks to the runtime over a Unix socket the action's
  uid cannot reach (``container.py``);
* the runtime runs as a per-container unprivileged uid (:func:`sandbox_uid`) with every capability
  dropped (effective, permitted, inheritable, ambient and the bounding set), ``no_new_privs``, a
  process-count limit (``RLIMIT_NPROC`` for that uid), no core dumps, a file-size limit, and a seccomp
  filter (``seccomp.py``: no mount, namespaces, ptrace, raw packet sockets, kernel modules, ...).

``none`` runs the runtime as a plain child of the server with the server's uid and capabilities: it
protects the server from nothing (see :data:`NONE_WARNING`). ``auto`` uses bwrap when a probe run
succeeds here and falls back to ``none``.

Memory: Python runtimes also limit their own address space (``RLIMIT_AS`` = memory limit +
:data:`PYTHON_AS_SLACK_MB`); Node.js runtimes get ``--max-old-space-size``. The limit on the whole
process tree is ``resources.py``'s (cgroup or watchdog).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.local import seccomp
from pytest_openwhisk.local.manifest import RUNTIMES_DIR

MODES = ("auto", "bwrap", "none")
PYTHON_AS_SLACK_MB = 128
BWRAP_INSTALL = "install bubblewrap (apt-get install bubblewrap, or bash .ci/setup)"
SANDBOX_WORKDIR = "/tmp"  # the runtime's work dir inside a bwrap sandbox (a private tmpfs)
UID_BASE = 1_900_000_000  # per-container uids: UID_BASE + n (no passwd entry needed)
UID_RANGE = 50_000_000
MARKER_OOM = "MemoryError: the action exhausted its memory limit"  # the Python proxy's last words
NONE_WARNING = (
    "isolation none: no sandbox. The action runs as the server's own user with its capabilities; it can "
    "read other actions' code and the server's files, write anywhere the server can, signal or trace the "
    "server and other runtimes, and talk to other containers. Use only with trusted code; use bwrap "
    "(apt-get install bubblewrap) for anything else."
)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def sandbox_uid(seq: int) -> int:
    """The unprivileged uid of container number ``seq`` of this process (distinct per container)."""
    return UID_BASE + (os.getpid() * 4096 + seq) % UID_RANGE


def _needed(command: list[str]) -> set[str]:
    wanted = {
        str(RUNTIMES_DIR),
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    for arg in command:
        for part in arg.split(os.pathsep):
            if os.path.isabs(part) and os.path.exists(part):
                wanted.update((part, os.path.realpath(part)))
    return {p.rstrip("/") or "/" for p in wanted}


def hidden_paths(command: list[str], workdir: str) -> list[str]:
    """Paths the runtime needs that the private ``/tmp`` would hide (bound back in read-only).

    A checkout, virtualenv or site-packages under ``/tmp`` (common on CI runners) holds the proxy
    script, the interpreter or the action's bundled packages: every absolute path in the command line
    (``os.pathsep`` lists included) plus the interpreter's prefixes.
    """
    keep = sorted(p for p in _needed(command) if _under(p, "/tmp") and p != "/tmp" and not _under(p, workdir))
    # a path inside another kept path is already visible
    return [p for p in keep if not any(q != p and _under(p, q) for q in keep)]


def _closed_ancestor(path: str) -> str | None:
    """The outermost ancestor of ``path`` others may not search (mode without o+x), if any."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        ancestor = str(Path(*parts[:i]))
        try:
            mode = os.stat(ancestor).st_mode
        except OSError:
            return None
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return ancestor
    return None


def _masks(command: list[str], workdir: str) -> dict[str, list[str]]:
    """Mount points replaced by an empty tmpfs -> the needed paths bound back under each.

    ``workdir`` (a path inside the sandbox's own ``/tmp``) is not bound from the host."""
    masks: dict[str, list[str]] = {"/tmp": []}
    for path in sorted(_needed(command)):
        if _under(path, "/tmp") and path != "/tmp" and path != workdir:
            masks["/tmp"].append(path)
        if _under(path, "/tmp"):
            continue
        closed = _closed_ancestor(path)
        if closed is not None:
            masks.setdefault(closed, []).append(path)
    for root, paths in masks.items():
        paths.sort()
        masks[root] = [p for p in paths if not any(q != p and _under(p, q) for q in paths)]
    return masks


def _bwrap_args(
    command: list[str],
    workdir: str,
    *,
    uid: int | None = None,
    disk_mb: int = 512,
    pids_max: int = 128,
    seccomp_fd: int | None = None,
) -> list[str]:
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for root, paths in sorted(_masks(command, workdir).items()):
        if root == "/tmp":
            args += ["--perms", "1777", "--size", str(disk_mb * 1024 * 1024), "--tmpfs", "/tmp"]
        else:
            args += ["--perms", "0755", "--tmpfs", root]
        made: set[str] = {root}
        for path in paths:
            parents = [str(p) for p in reversed(Path(path).parents) if _under(str(p), root)]
            for parent in parents:
                if parent not in made:
                    args += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            args += ["--ro-bind", path, path]
    args += [
        "--chdir",
        workdir,
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "openwhisk-action",
        "--new-session",
        "--die-with-parent",
    ]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args.append("--")
    if uid is not None:
        args += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            "prlimit",
            f"--nproc={pids_max}",
            "--core=0",
            f"--fsize={disk_mb * 1024 * 1024}",
            "--",
        ]
    return args


@functools.cache
def bwrap_problem() -> str | None:
    """Why bwrap cannot sandbox runtimes here, or None when it works (probed once per process)."""
    for tool, package in (
        ("bwrap", BWRAP_INSTALL),
        ("setpriv", "apt-get install util-linux"),
        ("prlimit", "apt-get install util-linux"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed; {package}"
    if not seccomp.supported():
        return f"no seccomp filter for this machine ({os.uname().machine}); supported: x86_64, aarch64"
    command = [sys.executable, "-I", "-S", "-c", "import os; assert os.getuid() != 0 or os.geteuid() != 0"]
    fd = seccomp.program_fd()
    try:
        uid = sandbox_uid(0) if os.geteuid() == 0 else None
        probe = [*_bwrap_args(command, SANDBOX_WORKDIR, uid=uid, seccomp_fd=fd), *command]
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False, pass_fds=(fd,))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    finally:
        os.close(fd)
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
    family: str,
    interpreter: list[str],
    memory_mb: int,
    listen_fd: int,
    workdir: str,
    site_dirs: list[str],
    code_max_bytes: int = 0,
) -> list[str]:
    """The runtime proxy command line (without sandbox) for a language family.

    ``code_max_bytes`` caps the unpacked size of a zipped action (0 = no cap)."""
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
            str(code_max_bytes),
        ]
    if family in ("java", "ruby"):  # an actionloop-style Python proxy driving the JVM / ruby launcher
        from pytest_openwhisk.local.manifest import loop_command

        proxy = str(RUNTIMES_DIR / "java_ruby_proxy.py")
        launcher = loop_command(family, memory_mb)
        head = [*interpreter, "-I", "-S", proxy, str(listen_fd), workdir, str(code_max_bytes), family]
        return head + launcher
    proxy = str(RUNTIMES_DIR / "nodejs_proxy.js")
    return [
        *interpreter,
        f"--max-old-space-size={memory_mb}",
        proxy,
        str(listen_fd),
        workdir,
        str(code_max_bytes),
    ]


def sandbox(
    mode: str,
    command: list[str],
    workdir: str,
    *,
    uid: int | None = None,
    disk_mb: int = 512,
    pids_max: int = 128,
    seccomp_fd: int | None = None,
) -> list[str]:
    """Wrap ``command`` for the isolation mode (``workdir`` = the runtime's work dir as it sees it)."""
    if mode == "bwrap":
        args = _bwrap_args(
            command, workdir, uid=uid, disk_mb=disk_mb, pids_max=pids_max, seccomp_fd=seccomp_fd
        )
        return [*args, *command]
    return command


def is_out_of_memory(returncode: int | None, stderr_tail: list[str], group_oom: bool = False) -> bool:
    """Whether a runtime's death means it exhausted its memory limit (not any other SIGKILL).

    True when the resource control saw an OOM kill of the container (cgroup ``oom_kill`` or the
    watchdog), when the Python proxy reported a ``MemoryError`` before exiting with 137, or when V8
    aborted with "out of memory". A SIGKILL from anyone else is not an OOM."""
    if group_oom:
        return True
    if returncode in (137, -9):
        return any(MARKER_OOM in line for line in stderr_tail)
    if returncode in (134, -6, 133, -5):  # V8 aborts (SIGABRT/SIGTRAP) on a heap OOM
        return any("out of memory" in line.lower() for line in stderr_tail)
    return False
