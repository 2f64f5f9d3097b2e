"""The resource group of one container seen as its process tree: :class:`Group`, the watchdog's group and the
base of :class:`~pytest_openwhisk.local.cgroups.CgroupGroup`.

Members are the runtime's descendants plus any process carrying the group's marker (the container's token)
in its environment, so daemons that re-parent to init stay members. Around each activation the group reads
its CPU time and memory cheaply: the ``/proc`` files of its processes stay open in between (issue 14).
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass

from pytest_openwhisk.local.proctree import (
    CLOCK_TICKS,
    PAGE,
    has_token,
    kill_holding,
    process_table,
    pss,
    tree,
    tree_cpu_ns,
)


@dataclass
class Usage:
    """Resources of one container's process tree: CPU time (ns, user+sys), current and peak RSS (bytes)."""

    cpu_ns: int
    rss_bytes: int
    peak_bytes: int


class Group:
    """The resource group of one container (base class: no cgroup; the watchdog variant)."""

    kind = "watchdog"

    def __init__(self, token: str, memory_bytes: int, *, marker: bytes) -> None:
        self.token = token
        self.marker = marker  # what its processes carry in their environment (the token's variable)
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
        """The runtime process (its entry shell) has started with ``pid``."""
        self.pid = pid

    def members(self, table: dict[int, tuple[int, int, int]] | None = None) -> list[int]:
        """Every process of the container (descendants of the runtime plus token holders)."""
        if table is None:
            table = process_table()
        found = set(tree(self.pid, table)) if self.pid else set()
        needle = self.marker
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
        rss = sum(pss(p, table[p][1]) if len(pids) > 1 else table[p][1] for p in pids if p in table)
        cpu = sum(table[p][2] for p in pids if p in table)
        self.rss_bytes = rss
        self.peak_bytes = max(self.peak_bytes, rss)
        self.cpu_seen_ns = max(self.cpu_seen_ns, cpu)
        return Usage(self.cpu_seen_ns, rss, self.peak_bytes)

    def usage(self) -> Usage:
        """Resources used so far."""
        return self.sample(process_table())

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
            return sum(tree_cpu_ns(pid) for pid in self._acct_pids or [self.pid])
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
            return sum(tree_cpu_ns(pid) for pid in self._acct_pids or [self.pid])
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
        kill_holding(self.marker, exclude=())

    def remove(self) -> None:
        """Forget the group (after its processes are gone)."""
        self._close_accounting()
