"""Whole-container resource limits and reaping: a cgroup per container, or a watchdog over the process tree.

A container's memory limit must hold for every process it starts, not per process, and nothing it starts
may outlive it. :func:`select` picks, once per invoker:

* ``cgroup-v2`` (a writable unified hierarchy with the ``memory`` and ``pids`` controllers, e.g. a
  delegated subtree) or ``cgroup-v1`` (writable ``memory``, ``pids`` and ``cpuacct`` hierarchies): one
  cgroup per container under the server's own cgroup with ``memory`` = the action's limit (no swap) and
  ``pids`` = :data:`DEFAULT_PIDS_MAX`. The kernel OOM-kills inside the group (counted in
  ``memory.events`` / ``memory.oom_control`` as ``oom_kill``: that is how an OOM is told from another
  death) and a fork bomb stops at the process limit. The process enters its group before it runs
  anything: the command starts with a gate (``sh`` reading a line from its stdin pipe) that the invoker
  opens after writing the gate's pid into ``cgroup.procs``. Killing a container kills every process in its
  group (``cgroup.kill`` on v2, a kill loop over ``cgroup.procs`` on v1), daemons included.
* ``watchdog`` (no writable cgroups, e.g. an unprivileged user on a v1 host): a task samples the resident
  memory of each container's whole process tree every :data:`WATCHDOG_INTERVAL_S` (PSS when the tree has
  several processes, so copy-on-write pages of forked children count once) and kills a container above its
  limit (reported as an OOM). A burst that allocates and touches memory faster than one interval can
  overshoot before it is killed; cgroups cannot be overshot. Members are the runtime's descendants plus
  any process carrying the container's token in its environment (``__OW_LOCAL_CONTAINER``; daemons that
  re-parent to init keep it). Process counts are then bounded by ``RLIMIT_NPROC`` under a per-container
  uid (bwrap mode only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("pytest_openwhisk.local")

MODES = ("auto", "cgroup", "watchdog")
DEFAULT_PIDS_MAX = 128
WATCHDOG_INTERVAL_S = 0.1
OOM_PEAK_SHARE = 0.9  # a window whose memory peak stayed below this share of the limit had no OOM kill
TOKEN_ENV = "__OW_LOCAL_CONTAINER"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """Resources of one container's process tree: CPU time (ns, user+sys), current and peak RSS (bytes)."""

    cpu_ns: int
    rss_bytes: int
    peak_bytes: int


# --- /proc helpers ------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, rss bytes, cpu ns of the process and its waited-for children) from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        ppid = int(fields[1])
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        rss = int(fields[21]) * PAGE
    except (IndexError, ValueError):
        return None
    return ppid, rss, ticks * 1_000_000_000 // CLOCK_TICKS


def _pss(pid: int, rss: int) -> int:
    """Proportional set size of ``pid`` in bytes (shared copy-on-write pages of forked children are split,
    not counted once per process as RSS counts them); ``rss`` when smaps_rollup is unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss


def _statm_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _tree_cpu_ns(pid: int) -> int:
    """CPU ns of every thread of ``pid`` (schedstat) plus its reaped children (cutime + cstime ticks)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
        fields = raw[raw.rfind(b")") + 2 :].split()
        total += (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        pass
    return total


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def has_token(pid: int, token: bytes) -> bool:
    """Whether process ``pid`` carries ``token`` (``__OW_LOCAL_CONTAINER=...``) in its environment."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return token in handle.read()
    except OSError:
        return False


def tree(root: int, table: dict[int, tuple[int, int, int]]) -> list[int]:
    """``root`` and its descendants in a ``pid -> (ppid, ...)`` table."""
    children: dict[int, list[int]] = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def kill_tokened(prefix: str, exclude: Iterable[int] = ()) -> int:
    """SIGKILL every process whose environment holds ``__OW_LOCAL_CONTAINER=<prefix>...``; how many."""
    needle = f"{TOKEN_ENV}={prefix}".encode()
    skip = {os.getpid(), *exclude}
    count = 0
    for pid in _pids():
        if pid not in skip and has_token(pid, needle):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                count += 1
    return count


# --- groups -------------------------------------------------------------------------------------------


class Group:
    """The resource group of one container (base class: no cgroup; the watchdog variant)."""

    kind = "watchdog"

    def __init__(self, token: str, memory_bytes: int) -> None:
        self.token = token
        self.memory_bytes = memory_bytes
        self.pid = 0
        self.oom = False  # set when the watchdog (or the kernel, for cgroups) killed it for memory
        self.peak_bytes = 0
        self.rss_bytes = 0
        self.cpu_seen_ns = 0
        self._members: set[int] = set()
        self._leaves: set[int] = set()
        self.runtime_pid = 0  # the runtime process itself (below bwrap's processes), found once
        self._acct_pids: list[int] = []
        self._stale = False
        self._acct_members: frozenset[int] = frozenset()
        self._stat_fds: list[int] = []
        self._statm_fds: list[int] = []
        self._sched_fds: list[int] = []
        self._threads: list[int] = []
        self._last_cpu: int | None = None  # the last cpu_ns() reading (reused by start_window)
        self._window_peak: int | None = None  # the peak memory() just read (spares oom_killed a read)

    def attach(self, pid: int) -> None:
        """The runtime process (or its gate) has started with ``pid``."""
        self.pid = pid

    def members(self, table: dict[int, tuple[int, int, int]] | None = None) -> list[int]:
        """Every process of the container (descendants of the runtime plus token holders)."""
        if table is None:
            table = {pid: row for pid in _pids() if (row := _stat(pid)) is not None}
        found = set(tree(self.pid, table)) if self.pid else set()
        needle = f"{TOKEN_ENV}={self.token}".encode()
        # processes that left the tree (re-parented daemons) are remembered once seen
        for pid in self._members - found:
            if pid in table and has_token(pid, needle):
                found.add(pid)
        self._members = found
        parents = {table[p][0] for p in found if p in table}
        self._leaves = {p for p in found if p not in parents}  # the runtime and what it started
        if not self.runtime_pid and self.pid in found:  # the end of the sandbox's chain: the runtime
            pid = self.pid
            while len(kids := [p for p in found if table[p][0] == pid]) == 1:
                pid = kids[0]
            self.runtime_pid = pid
        return sorted(found)

    def sample(self, table: dict[int, tuple[int, int, int]]) -> Usage:
        """Current RSS (sum over the tree), peak so far and CPU time of the live tree."""
        pids = self.members(table)
        rss = sum(_pss(p, table[p][1]) if len(pids) > 1 else table[p][1] for p in pids if p in table)
        cpu = sum(table[p][2] for p in pids if p in table)
        self.rss_bytes = rss
        self.peak_bytes = max(self.peak_bytes, rss)
        self.cpu_seen_ns = max(self.cpu_seen_ns, cpu)
        return Usage(self.cpu_seen_ns, rss, self.peak_bytes)

    def usage(self) -> Usage:
        """Resources used so far."""
        table = {pid: row for pid in _pids() if (row := _stat(pid)) is not None}
        return self.sample(table)

    def oom_killed(self) -> bool:
        """Whether the container was killed for exceeding its memory limit."""
        return self.oom

    # --- accounting (issue 14): cheap reads around one activation ----------------------------------------

    def _open_accounting(self) -> None:
        """Open the /proc files read around every activation: each member's ``stat`` and ``statm`` and
        each of its threads' ``schedstat`` (reopened when the tree or a thread count changes)."""
        self._close_accounting()
        self._last_cpu = None  # other processes: an earlier reading does not compare
        for pid in sorted(self._members or {self.pid}):
            with contextlib.suppress(OSError):
                self._statm_fds.append(os.open(f"/proc/{pid}/statm", os.O_RDONLY))
        # CPU: only the leaves of the tree (the runtime and its children) work during /run; the sandbox's
        # own processes above them (bwrap) wait, and children the runtime reaped are in its cutime/cstime
        runtime = self.runtime_pid or self.pid
        self._acct_pids = sorted({runtime} | {p for p in self._leaves if p in self._members})
        self._stale = False
        for pid in self._acct_pids:
            try:
                stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
            except OSError:
                continue
            self._stat_fds.append(stat)
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                tids = []
            self._threads.append(len(tids))
            for tid in tids:
                with contextlib.suppress(OSError):
                    self._sched_fds.append(os.open(f"/proc/{pid}/task/{tid}/schedstat", os.O_RDONLY))
        self._acct_members = frozenset(self._members)

    def _close_accounting(self) -> None:
        for fd in (*self._stat_fds, *self._statm_fds, *self._sched_fds):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._stat_fds, self._statm_fds, self._sched_fds, self._threads = [], [], [], []

    def cpu_ns(self) -> int:
        """CPU time (user + sys, ns) so far of the processes chosen at :meth:`reset_peak` (the leaves of the
        tree: the runtime and its children) and the children they waited for: per-thread ``schedstat`` (ns
        resolution) plus reaped children's ticks. The files stay open between activations, so a warm read
        is a few ``pread`` calls; children not yet reaped nor seen by a watchdog pass are not counted."""
        self._last_cpu = total = self._read_cpu_ns()
        return total

    def _read_cpu_ns(self) -> int:
        if self._stale or not self._stat_fds:
            return sum(_tree_cpu_ns(pid) for pid in self._acct_pids or [self.pid])
        total, stale = 0, False
        for fd in self._sched_fds:
            try:
                total += int(os.pread(fd, 64, 0).split()[0])
            except (OSError, ValueError, IndexError):
                stale = True
        for fd, threads in zip(self._stat_fds, self._threads, strict=False):
            try:
                raw = os.pread(fd, 1024, 0)
                fields = raw[raw.rfind(b")") + 2 :].split()
                total += (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLOCK_TICKS
                stale = stale or int(fields[17]) != threads  # a thread came or went
            except (OSError, ValueError, IndexError):
                stale = True
        if stale:  # same processes, read the slow way until the next activation reopens the files
            self._stale = True
            return sum(_tree_cpu_ns(pid) for pid in self._acct_pids or [self.pid])
        return total

    def start_window(self) -> int:
        """Start one activation's accounting window: a new peak-memory window (:meth:`reset_peak`); returns
        the CPU counter (:meth:`cpu_ns`) the window starts from.

        When the counter covers the same processes as the reading that ended the previous window, that
        reading is the start (one read per activation instead of two): the container was idle since, and
        the little it used meanwhile (its runtime finishing the previous answer) counts toward this one."""
        reopened = self.reset_peak()
        if not reopened and self._last_cpu is not None:
            return self._last_cpu
        return self.cpu_ns()

    def reset_peak(self) -> bool:
        """Start a new peak-memory window (the next :meth:`memory` reports the peak since now); whether the
        accounting files were (re)opened, i.e. the CPU counter now covers other processes."""
        if not self._members:  # before the watchdog's first pass: find the tree once
            self.members()
        reopened = False
        if self._stale or not self._stat_fds or self._acct_members != frozenset(self._members):
            self._open_accounting()  # the same files are read before and after this activation
            reopened = True
        self.peak_bytes = 0
        return reopened

    def memory(self) -> tuple[int, int]:
        """(current, peak since :meth:`reset_peak`) resident memory of the container in bytes (the peak
        also includes what the watchdog's passes saw during the window)."""
        rss = 0
        for fd in self._statm_fds:
            try:
                rss += int(os.pread(fd, 128, 0).split()[1]) * PAGE
            except (OSError, ValueError, IndexError):
                continue
        self.peak_bytes = max(self.peak_bytes, rss)
        return rss, self.peak_bytes

    def kill(self) -> None:
        """SIGKILL every process of the container, daemons included."""
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        kill_tokened(self.token, exclude=())

    def remove(self) -> None:
        """Forget the group (after its processes are gone)."""
        self._close_accounting()


class CgroupGroup(Group):
    """One cgroup per container (v1: one directory per controller; v2: one directory)."""

    def __init__(self, token: str, memory_bytes: int, dirs: dict[str, Path], version: int, pids_max: int):
        super().__init__(token, memory_bytes)
        self.kind = f"cgroup-v{version}"
        self.version = version
        self.dirs = dirs  # controller -> directory (v2: every controller -> the same directory)
        self._fds: dict[str, int] = {}  # accounting files kept open (pread on the warm path)
        self._flat = False  # the last memory() read had the peak at the current usage
        for path in {*dirs.values()}:
            path.mkdir(exist_ok=True)
        if version == 2:
            d = dirs["memory"]
            _write(d / "memory.max", str(memory_bytes))
            _write(d / "memory.swap.max", "0", missing_ok=True)
            _write(d / "pids.max", str(pids_max))
            _write(d / "memory.oom.group", "1", missing_ok=True)  # an OOM kills the whole container
        else:
            mem = dirs["memory"]
            _write(mem / "memory.limit_in_bytes", str(memory_bytes))
            _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes), missing_ok=True)
            _write(mem / "memory.swappiness", "0", missing_ok=True)
            _write(dirs["pids"] / "pids.max", str(pids_max))

    def _fd(self, name: str, controller: str = "memory", writable: bool = False) -> int:
        key = f"{controller}/{name}"
        fd = self._fds.get(key)
        if fd is None:
            fd = os.open(self.dirs[controller] / name, os.O_RDWR if writable else os.O_RDONLY)
            self._fds[key] = fd
        return fd

    def cpu_ns(self) -> int:
        try:
            if self.version == 2:
                text = os.pread(self._fd("cpu.stat"), 512, 0)
                total = int(text.split(b"usage_usec", 1)[1].split()[0]) * 1000
            else:
                total = int(os.pread(self._fd("cpuacct.usage", "cpuacct"), 32, 0))
        except (OSError, ValueError, IndexError):
            self._last_cpu = None
            return 0
        self._last_cpu = total
        return total

    def reset_peak(self) -> bool:
        """The whole group is counted, so the CPU counter always compares (False). The kernel's peak is
        reset unless the previous window ended with its peak at the current usage (nothing to reset then:
        the idle container's usage has not moved since, and the write is spared)."""
        if self._flat:
            self._flat = False
            return False
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            os.pwrite(self._fd(name, writable=True), b"0" if self.version == 1 else b"reset", 0)
        except OSError:
            pass
        return False

    def memory(self) -> tuple[int, int]:
        current, peak = (
            ("memory.current", "memory.peak")
            if self.version == 2
            else (
                "memory.usage_in_bytes",
                "memory.max_usage_in_bytes",
            )
        )
        try:
            rss = int(os.pread(self._fd(current), 32, 0))
            high = int(os.pread(self._fd(peak, writable=True), 32, 0))
        except (OSError, ValueError):
            self._flat = False
            return 0, 0
        self._flat = high <= rss
        self._window_peak = max(rss, high)
        return rss, max(rss, high)

    def attach(self, pid: int) -> None:
        super().attach(pid)
        for path in {*self.dirs.values()}:
            _write(path / "cgroup.procs", str(pid))

    def members(self, table: dict[int, tuple[int, int, int]] | None = None) -> list[int]:
        return _procs(self.dirs["memory"])

    def usage(self) -> Usage:
        mem, cpu = self.dirs["memory"], self.dirs.get("cpuacct", self.dirs["memory"])
        if self.version == 2:
            rss = _read_int(mem / "memory.current")
            peak = _read_int(mem / "memory.peak", default=rss)
            cpu_ns = _read_kv(cpu / "cpu.stat").get("usage_usec", 0) * 1000
        else:
            rss = _read_int(mem / "memory.usage_in_bytes")
            peak = _read_int(mem / "memory.max_usage_in_bytes")
            cpu_ns = _read_int(cpu / "cpuacct.usage")
        self.rss_bytes, self.peak_bytes, self.cpu_seen_ns = rss, max(peak, self.peak_bytes), cpu_ns
        return Usage(cpu_ns, rss, self.peak_bytes)

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of the group. Right after :meth:`memory`, a window
        whose peak stayed below :data:`OOM_PEAK_SHARE` of the limit answers without a read (an OOM kill
        happens only with the usage at the limit)."""
        if self.oom:
            return True
        peak, self._window_peak = self._window_peak, None
        if peak is not None and peak < OOM_PEAK_SHARE * self.memory_bytes:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = os.pread(self._fd(name), 512, 0)
        except OSError:
            return False
        _, found, rest = text.partition(b"oom_kill ")
        return bool(found) and int(rest.split()[0] or 0) > 0

    def kill(self) -> None:
        if self.version == 2 and _write(self.dirs["memory"] / "cgroup.kill", "1", missing_ok=True):
            return
        for _ in range(100):  # v1: kill until empty (a forking process may add members meanwhile)
            pids = self.members()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        super().remove()
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        for path in {*self.dirs.values()}:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still has members being torn down
                    time.sleep(0.002)


def _write(path: Path, text: str, *, missing_ok: bool = False) -> bool:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except FileNotFoundError:
        if missing_ok:
            return False
        raise
    return True


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value.strip())
    return out


def _procs(path: Path) -> list[int]:
    try:
        return [int(x) for x in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


# --- choosing a mode ----------------------------------------------------------------------------------


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path ("" key for the unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def _v1_parent(controller: str, own: dict[str, str], nonce: str, root: Path) -> Path | None:
    base = root / controller
    if not (base / "cgroup.procs").exists() or controller not in own:
        return None
    parent = base / own[controller].lstrip("/") / f"ow-{nonce}"
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return parent


def _v2_parent(own: dict[str, str], nonce: str, root: Path) -> Path | None:
    unified = root if (root / "cgroup.controllers").exists() else root / "unified"
    if not (unified / "cgroup.controllers").exists() or "" not in own:
        return None
    base = unified / own[""].lstrip("/")
    try:
        available = set((base / "cgroup.controllers").read_text().split())
    except OSError:
        return None
    if not {"memory", "pids"} <= available:
        return None
    parent = base / f"ow-{nonce}"
    try:
        parent.mkdir(exist_ok=True)
        # a process may not sit in an inner cgroup that enables controllers: our children go in leaves
        _write(parent / "cgroup.subtree_control", "+memory +pids" + (" +cpu" if "cpu" in available else ""))
    except OSError:
        with contextlib.suppress(OSError):
            parent.rmdir()
        return None
    return parent


class Control:
    """The invoker's resource control: makes a :class:`Group` per container and runs the watchdog."""

    def __init__(self, mode: str, parents: dict[str, Path], why: str = "") -> None:
        self.mode = mode  # "cgroup-v1", "cgroup-v2" or "watchdog"
        self.parents = parents
        self.why = why  # why cgroups are not used (watchdog mode)
        self.nonce = (parents and next(iter(parents.values())).name.removeprefix("ow-")) or secrets.token_hex(
            6
        )
        self.groups: dict[str, Group] = {}
        self._task: asyncio.Task[None] | None = None
        self.on_oom: Callable[[str], None] | None = None
        self.samples = 0

    @property
    def token_prefix(self) -> str:
        """Prefix of every container token of this invoker (for reaping after a crash)."""
        return f"{self.nonce}-"

    def group(self, container_id: str, memory_mb: int, pids_max: int) -> Group:
        """A new group for a container."""
        token = f"{self.nonce}-{container_id}"
        memory_bytes = memory_mb * 1024 * 1024
        if self.mode == "watchdog":
            group = Group(token, memory_bytes)
        else:
            version = 2 if self.mode == "cgroup-v2" else 1
            dirs = {name: parent / container_id for name, parent in self.parents.items()}
            if version == 2:
                one = self.parents["memory"] / container_id
                dirs = {"memory": one, "pids": one, "cpuacct": one}
            group = CgroupGroup(token, memory_bytes, dirs, version, pids_max)
        self.groups[container_id] = group
        return group

    def forget(self, container_id: str) -> None:
        """The container is gone: remove its group."""
        group = self.groups.pop(container_id, None)
        if group is not None:
            group.remove()

    def start(self) -> None:
        """Start the watchdog (RSS limits in watchdog mode; in cgroup modes it turns the kernel's OOM kill
        of one process into the end of the whole container, as v1 has no ``memory.oom.group``)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        """Stop the watchdog and remove the server's cgroup directories."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for container_id in list(self.groups):
            self.groups[container_id].kill()
            self.forget(container_id)
        for parent in self.parents.values():
            for _ in range(100):  # children whose last processes were still exiting when they were freed
                left = [c for c in parent.glob("*") if c.is_dir()]
                for child in left:
                    with contextlib.suppress(OSError):
                        child.rmdir()
                if not any(c.is_dir() for c in parent.glob("*")):
                    break
                await asyncio.sleep(0.01)
            with contextlib.suppress(OSError):
                parent.rmdir()

    def check(self) -> None:
        """One watchdog pass: kill every container whose process tree exceeds its memory limit."""
        if not self.groups:
            return
        if self.mode != "watchdog":
            for container_id, group in list(self.groups.items()):
                if not group.oom and group.oom_killed():
                    group.oom = True
                    group.kill()
                    if self.on_oom is not None:
                        self.on_oom(container_id)
            return
        table = {pid: row for pid in _pids() if (row := _stat(pid)) is not None}
        self.samples += 1
        for container_id, group in list(self.groups.items()):
            usage = group.sample(table)
            if usage.rss_bytes > group.memory_bytes and not group.oom:
                group.oom = True
                log.warning(
                    "container %s: process tree RSS %d MB > limit %d MB; killed",
                    container_id,
                    usage.rss_bytes >> 20,
                    group.memory_bytes >> 20,
                )
                group.kill()
                if self.on_oom is not None:
                    self.on_oom(container_id)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_INTERVAL_S)
            try:
                self.check()
            except Exception:  # a vanished process must not stop the watchdog
                log.exception("resource watchdog pass failed")


def select(requested: str, root: Path = CGROUP_ROOT) -> Control:
    """The resource control for ``PoolConfig.enforcement``: ``auto`` (cgroups when writable, else the
    watchdog), ``cgroup`` (ConfigError when unusable) or ``watchdog``."""
    from pytest_openwhisk.errors import ConfigError

    if requested not in MODES:
        raise ConfigError(f"pool enforcement {requested!r} is not supported; use one of {', '.join(MODES)}")
    if requested == "watchdog":
        return Control("watchdog", {}, "watchdog requested")
    nonce = secrets.token_hex(6)
    own = _own_cgroups()
    why = ""
    v2 = _v2_parent(own, nonce, root)
    if v2 is not None:
        return Control("cgroup-v2", {"memory": v2}, "")
    parents: dict[str, Path] = {}
    for controller in ("memory", "pids", "cpuacct"):
        parent = _v1_parent(controller, own, nonce, root)
        if parent is None:
            why = f"no writable cgroup v2 subtree with memory+pids, nor a writable v1 {controller} hierarchy"
            break
        parents[controller] = parent
    if len(parents) == 3:
        return Control("cgroup-v1", parents, "")
    for parent in parents.values():
        with contextlib.suppress(OSError):
            parent.rmdir()
    if requested == "cgroup":
        raise ConfigError(f"pool enforcement 'cgroup' is not usable: {why}; or set enforcement='auto'")
    return Control("watchdog", {}, why)


def probe_mode() -> str:
    """The mode ``select("auto")`` picks on this host, leaving no cgroup directory behind."""
    control = select("auto")
    for parent in control.parents.values():
        with contextlib.suppress(OSError):
            parent.rmdir()
    return control.mode


def reap(info: dict[str, Any]) -> int:
    """Kill what a dead server left (``info`` from its ready file: ``token_prefix``, ``cgroups``) and remove
    its cgroup directories; the number of processes killed."""
    killed = 0
    for parent in (Path(p) for p in info.get("cgroups") or ()):
        for child in [c for c in parent.glob("*") if c.is_dir()] + [parent]:
            for _ in range(20):
                pids = _procs(child)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                        killed += 1
                time.sleep(0.01)
            if child != parent:
                with contextlib.suppress(OSError):
                    child.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()
    if info.get("token_prefix"):
        killed += kill_tokened(str(info["token_prefix"]))
    return killed


def gate_command(command: list[str]) -> list[str]:
    """``command`` behind a gate that waits for a line on stdin (sent once the invoker moved it into its
    cgroup); the shell's ``read`` takes only that line, the runtime keeps stdin (EOF = invoker gone)."""
    return ["/bin/sh", "-c", 'read _ || exit 111; exec "$@"', "gate", *command]
