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
are not quotas). A runtime boots in a sibling group of low weight (:data:`BOOT_SHARES` for all booting
runtimes together) and the invoker moves it to the runtimes' group after its ``/init`` (:func:`promote`, in a
worker thread): during a cold-start storm the booting runtimes take what the controller leaves, so its
``202 Accepted`` stays prompt. Without a writable cpu hierarchy it raises the nice value of the runtime's
autogroup (``/proc/<pid>/autogroup``), which covers the runtime in isolation ``none`` (bwrap starts another
session inside the sandbox, which that does not reach). Both are best effort: a failure leaves the runtime as
it was.

The other side is the controller itself: ``serve`` (``__main__.py``) calls :func:`raise_controller` once at
start, which moves the server process into a sibling group ``ow-controller-<pid>`` weighing
:data:`CONTROLLER_SHARES_PER_CPU` x CPUs (4 times the runtimes' group; nothing without a writable
hierarchy). During a storm its event loop waits in the CPU's run queue, not on
the GIL nor on its own work (measured: ~90 % of every stall over 2 ms was run-queue wait), so weight is what
shortens the ``202`` tail when the runtimes and other processes compete for the CPUs. :func:`shorten_slice`
also asks for a short scheduling slice for the event loop's thread (EEVDF): woken by a request, it runs
before a runtime in the middle of its slice has finished it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import platform
import struct
import sys
import threading
from pathlib import Path

from pytest_openwhisk.local.cgroups import CgroupGroup
from pytest_openwhisk.local.cgroups import own_cgroups as _own_cgroups
from pytest_openwhisk.local.group import Group

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
SHARES_PER_CPU = 1024  # the cpu.shares of one process (cgroup v1 default)
AUTOGROUP_NICE = 10  # weight 110 vs 1024 for the controller's autogroup
PREFIX = "ow-runtimes-"
BOOT_PREFIX = "ow-boot-"
CONTROLLER_PREFIX = "ow-controller-"
#: ``cpu.shares`` of the controller's group per CPU: 4 times the runtimes' group (a weight, not a cap: it
#: takes only what its event loop and worker threads use, ahead of booting runtimes and other processes)
CONTROLLER_SHARES_PER_CPU = 4 * SHARES_PER_CPU
#: ``cpu.shares`` of the group runtimes boot in (all booting runtimes together: a quarter of one process),
#: so a cold-start storm leaves the controller most of the CPU; a runtime moves to the runtimes' group after
#: its /init (:func:`promote`)
BOOT_SHARES = 256
#: the event loop thread's scheduling slice (``sched_setattr`` ``sched_runtime``, the kernel's minimum; its
#: default is 0.7 ms x (1 + log2 CPUs))
CONTROLLER_SLICE_NS = 100_000
#: ``sched_setattr`` system call numbers (Python has no wrapper)
SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
#: ``PYTEST_OPENWHISK_RUNTIME_WEIGHT=0`` leaves runtimes at full weight and the controller at its own (to
#: measure what this changes)
ENV = "PYTEST_OPENWHISK_RUNTIME_WEIGHT"

_lock = threading.Lock()
_group: Path | None = None
_tried = False
_boot: Path | None = None
_controller: Path | None = None


def _own_cpu_cgroup() -> str | None:
    """This process's path in the v1 ``cpu`` hierarchy (None when there is none)."""
    return _own_cgroups().get("cpu")


def _stale(directory: Path) -> None:
    """Remove empty runtime groups left by servers that are gone."""
    for prefix in (PREFIX, BOOT_PREFIX, CONTROLLER_PREFIX):
        for old in directory.glob(f"{prefix}*"):
            pid = old.name[len(prefix) :]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(OSError):
                    old.rmdir()


def _make(parent: Path, prefix: str, shares: int) -> Path | None:
    """Create ``parent/<prefix><our pid>`` with ``shares`` (None when that fails; nothing is left behind)."""
    group = parent / f"{prefix}{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        (group / "cpu.shares").write_text(str(shares))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    return group


def runtime_group(root: Path = CPU_ROOT, cpus: int | None = None) -> Path | None:
    """The cpu cgroup of this server's runtimes (created once, with its sibling :func:`boot_group`; None when
    the hierarchy is not writable)."""
    global _group, _tried, _boot
    with _lock:
        if _tried:
            return _group
        _tried = True
        own = _own_cpu_cgroup()
        if own is None or not (root / "cpu.shares").exists():
            return None
        parent = root / own.lstrip("/")
        with contextlib.suppress(OSError):
            _stale(parent)
        group = _make(parent, PREFIX, SHARES_PER_CPU * (cpus or os.cpu_count() or 1))
        if group is None:
            return None
        _group, _boot = group, _make(parent, BOOT_PREFIX, BOOT_SHARES)
        atexit.register(remove)
        return group


def boot_group() -> Path | None:
    """The cpu cgroup runtimes boot in (``cpu.shares`` :data:`BOOT_SHARES`), a sibling of
    :func:`runtime_group`; None without one (then runtimes boot in the runtimes' group)."""
    return _boot if runtime_group() is not None else None


def remove() -> None:
    """Remove the runtime groups once no runtime is left in them, and the controller's group after moving
    this process back to its parent (at exit; a later server cleans up too)."""
    global _group, _tried, _boot, _controller
    with _lock:
        groups, _group, _tried, _boot, _controller = (_group, _boot, _controller), None, False, None, None
    if groups[2] is not None:
        with contextlib.suppress(OSError):
            (groups[2].parent / "cgroup.procs").write_text(str(os.getpid()))
    for group in groups:
        if group is not None:
            with contextlib.suppress(OSError):
                group.rmdir()


def raise_controller(root: Path = CPU_ROOT, cpus: int | None = None) -> str:
    """Give this process (the server: its event loop and worker threads) more CPU weight than the runtimes;
    what it got, or why not (for the ready file). Call once, at start, before any runtime starts.

    With a writable cpu hierarchy: a group ``ow-controller-<pid>`` next to the runtimes' groups (created
    first, so they stay siblings), ``cpu.shares`` :data:`CONTROLLER_SHARES_PER_CPU` x CPUs, and the whole
    process moves into it. Nothing without one, or with the weighting turned off through :data:`ENV`."""
    global _controller
    if os.environ.get(ENV, "1") == "0":
        return f"not raised ({ENV}=0)"
    group = runtime_group(root, cpus)
    if group is not None:
        shares = CONTROLLER_SHARES_PER_CPU * (cpus or os.cpu_count() or 1)
        controller = _make(group.parent, CONTROLLER_PREFIX, shares)
        if controller is not None:
            try:
                (controller / "cgroup.procs").write_text(str(os.getpid()))
            except OSError as exc:
                with contextlib.suppress(OSError):
                    controller.rmdir()
                return f"cpu group {controller.name}: {exc.strerror or exc}"
            _controller = controller
            return f"cpu group {controller.name} (cpu.shares {shares})"
    return "not raised: no writable cpu cgroup hierarchy (v1 cpu.shares)"


def promote(pids: list[int]) -> int:
    """Move the processes ``pids`` (a container's, after its ``/init``) from the boot group to the runtimes'
    group; returns how many moved. Blocking (a v1 migration can take ~12 ms): call it from a worker thread.
    Best effort: a process that is gone or a group that cannot be written is skipped."""
    group = _group if os.environ.get(ENV, "1") != "0" else None
    if group is None or _boot is None:
        return 0
    moved = 0
    for pid in pids:
        try:
            (group / "cgroup.procs").write_text(str(pid))
            moved += 1
        except OSError:
            continue
    return moved


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
    """``argv`` behind the entry script: the process enters ``cwd``, the boot cpu group (else the runtimes'
    group; neither when there is none or the weight is turned off through :data:`ENV`) and the cgroups
    whose ``procs`` files are given, then execs ``argv``.

    The process moves itself, before anything of the runtime runs: a cgroup v1 migration can wait for an RCU
    grace period (up to ~12 ms measured here); written by the server, it would stall the controller's event
    loop (or serialise starts in the spawn helper) once per container start."""
    group = None if os.environ.get(ENV, "1") == "0" else (boot_group() or runtime_group())
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


def shorten_slice(slice_ns: int = CONTROLLER_SLICE_NS) -> str:
    """Ask for a ``slice_ns`` scheduling slice for the calling thread (the event loop's: call it there);
    what it got, or why not (for the ready file).

    A task with a shorter slice gets an earlier virtual deadline, so EEVDF (Linux >= 6.12 honours a slice
    set through ``sched_setattr``) runs it at its wakeup before a task that has not used up its own slice.
    Any user may shorten its own slice; it changes when the thread runs, not how much CPU it gets. The
    policy and nice value stay as they are."""
    if os.environ.get(ENV, "1") == "0":
        return f"not shortened ({ENV}=0)"
    number = SCHED_SETATTR.get(platform.machine()) if sys.platform == "linux" else None
    if number is None:
        return f"not shortened: no sched_setattr on {sys.platform} {platform.machine()}"
    policy = os.sched_getscheduler(0)
    if policy not in (os.SCHED_OTHER, os.SCHED_BATCH):
        return f"not shortened: scheduling policy {policy} (not a fair-share one)"
    nice = os.getpriority(os.PRIO_PROCESS, 0)  # of the calling thread (Linux)
    # struct sched_attr (version 0, 48 bytes): size, policy, flags, nice, priority, runtime, deadline, period
    attr = ctypes.create_string_buffer(struct.pack("=IIQiIQQQ", 48, policy, 0, nice, 0, slice_ns, 0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, attr, 0) != 0:
        return f"not shortened: {os.strerror(ctypes.get_errno())}"
    got = _slice_ns()
    if got != slice_ns:
        return f"not shortened: the kernel keeps a {got} ns slice (custom slices need Linux >= 6.12)"
    return f"slice {slice_ns / 1e6:g} ms"


def _slice_ns(sched: str = "/proc/thread-self/sched") -> int | None:
    """The calling thread's slice in ns (``se.slice`` in ``/proc/thread-self/sched``; None without one)."""
    try:
        with open(sched) as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == "se.slice":
                    return int(float(value))
    except (OSError, ValueError):
        pass
    return None
