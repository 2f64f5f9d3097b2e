"""CPU priority of runtime processes: a cold-start storm must not starve the controller of CPU.

Every runtime starts in a new session (``start_new_session``, and bwrap's ``--new-session``). On kernels with
``sched_autogroup_enabled`` (most distributions) each new session is its own scheduling group, weighing as
much as the controller's whole process: 30 runtimes booting at once got 30 shares of the CPU against the
controller's one, and its ``202 Accepted`` took up to a second (``benchmarks/embedded/test_storm.py``). A
``nice`` value inside a runtime does not help there: autogroups compete by their own weight.

:func:`entry_command` makes a runtime move itself, before it runs anything, into one
cpu cgroup shared by every runtime of this server, ``cpu.shares`` = :data:`SHARES_PER_CPU` x CPUs (cgroup
v1 ``cpu`` hierarchy, writable when the server runs as root): together the runtimes weigh as much as that
many busy processes, the controller keeps its own share, and nothing is capped while CPUs are free (shares
are not quotas). Without a writable cpu hierarchy it raises the nice value of the runtime's autogroup
(``/proc/<pid>/autogroup``), which covers the runtime in isolation ``none`` (bwrap starts another session
inside the sandbox, which that does not reach). Both are best effort: a failure leaves the runtime as it was.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path

from pytest_openwhisk.local.resources import CgroupGroup, Group, _own_cgroups

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
SHARES_PER_CPU = 1024  # the cpu.shares of one process (cgroup v1 default)
AUTOGROUP_NICE = 10  # weight 110 vs 1024 for the controller's autogroup
PREFIX = "ow-runtimes-"
#: ``PYTEST_OPENWHISK_RUNTIME_WEIGHT=0`` leaves runtimes at full weight (to measure what this changes)
ENV = "PYTEST_OPENWHISK_RUNTIME_WEIGHT"

_lock = threading.Lock()
_group: Path | None = None
_tried = False


def _own_cpu_cgroup() -> str | None:
    """This process's path in the v1 ``cpu`` hierarchy (None when there is none)."""
    return _own_cgroups().get("cpu")


def _stale(directory: Path) -> None:
    """Remove empty runtime groups left by servers that are gone."""
    for old in directory.glob(f"{PREFIX}*"):
        pid = old.name[len(PREFIX) :]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                old.rmdir()


def runtime_group(root: Path = CPU_ROOT, cpus: int | None = None) -> Path | None:
    """The cpu cgroup of this server's runtimes (created once; None when the hierarchy is not writable)."""
    global _group, _tried
    with _lock:
        if _tried:
            return _group
        _tried = True
        own = _own_cpu_cgroup()
        if own is None or not (root / "cpu.shares").exists():
            return None
        parent = root / own.lstrip("/")
        group = parent / f"{PREFIX}{os.getpid()}"
        try:
            _stale(parent)
            group.mkdir(exist_ok=True)
            shares = SHARES_PER_CPU * (cpus or os.cpu_count() or 1)
            (group / "cpu.shares").write_text(str(shares))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            return None
        _group = group
        atexit.register(remove)
        return group


def remove() -> None:
    """Remove the runtime group once no runtime is left in it (at exit; a later server cleans up too)."""
    global _group, _tried
    with _lock:
        group, _group, _tried = _group, None, False
    if group is not None:
        with contextlib.suppress(OSError):
            group.rmdir()


#: the first thing every runtime runs (``sh -c``): enter the work dir, the runtimes' cpu group (best effort)
#: and the container's resource cgroups (required: exit 111 naming the file when one cannot be entered),
#: then exec the runtime command. Arguments: work dir, cpu group procs file or "", count, procs files, argv.
ENTRY_SCRIPT = (
    'cd -- "$1" || exit 111; [ -z "$2" ] || echo $$ 2>/dev/null > "$2"; n=$3; shift 3; '
    'while [ "$n" -gt 0 ]; do echo $$ > "$1" || { echo "' + "{marker}" + ' $1" >&2; exit 111; }; '
    'shift; n=$((n - 1)); done; exec "$@"'
)
ENTRY_FAILED = 111  # the entry script's exit code when it could not enter a cgroup (or the work dir)
ENTRY_MARKER = "pytest-openwhisk: cannot enter"


def procs_files(group: Group | None) -> list[str]:
    """The ``cgroup.procs`` files a runtime of ``group`` must enter before it runs (none for the watchdog)."""
    if not isinstance(group, CgroupGroup):
        return []
    return sorted({str(d / "cgroup.procs") for d in group.dirs.values()})


def entry_command(argv: list[str], cwd: str, procs: list[str]) -> list[str]:
    """``argv`` behind the entry script: the process enters ``cwd``, the runtimes' cpu group (unless there
    is none or the weight is turned off through :data:`ENV`) and the cgroups whose ``procs`` files are
    given, then execs ``argv``.

    The process moves itself, before anything of the runtime runs: a cgroup v1 migration can wait for an RCU
    grace period (up to ~12 ms measured here); written by the server, it would stall the controller's event
    loop (or serialise starts in the spawn helper) once per container start."""
    group = None if os.environ.get(ENV, "1") == "0" else runtime_group()
    cpu = str(group / "cgroup.procs") if group is not None else ""
    script = ENTRY_SCRIPT.replace("{marker}", ENTRY_MARKER)
    return ["/bin/sh", "-c", script, "entry", cwd, cpu, str(len(procs)), *procs, *argv]


def deprioritize(pid: int) -> str:
    """Give runtime ``pid`` the runtimes' CPU weight; how: ``cgroup`` (it moved itself, see
    :func:`entry_command`),
    ``autogroup`` (its autogroup's nice raised) or ``""`` (neither possible, or turned off through
    :data:`ENV`)."""
    if os.environ.get(ENV, "1") == "0":
        return ""
    if runtime_group() is not None:
        return "cgroup"  # it moved itself (entry_command)
    try:
        theirs = Path(f"/proc/{pid}/autogroup")
        if theirs.read_text().split()[0] == Path("/proc/self/autogroup").read_text().split()[0]:
            return ""  # still in the controller's own group (no new session yet): never lower that one
        theirs.write_text(str(AUTOGROUP_NICE))
        return "autogroup"
    except (OSError, IndexError):
        return ""
