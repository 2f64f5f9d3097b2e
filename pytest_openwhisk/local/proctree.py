"""A container's processes as ``/proc`` shows them: stat rows, PSS, per-thread CPU time, the process tree, and
the processes that carry a marker (the container's token) in their environment.

Read by the watchdog's groups (:mod:`~pytest_openwhisk.local.group`), the resource control
(:mod:`~pytest_openwhisk.local.resources`) and the container's final kill pass.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable

PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat_row(pid: int) -> tuple[int, int, int] | None:
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


def pss(pid: int, rss: int) -> int:
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


def tree_cpu_ns(pid: int) -> int:
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


def all_pids() -> list[int]:
    """The pid of every process (``/proc``)."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_table() -> dict[int, tuple[int, int, int]]:
    """Every process's :func:`stat_row` by pid."""
    return {pid: row for pid in all_pids() if (row := stat_row(pid)) is not None}


def has_token(pid: int, token: bytes) -> bool:
    """Whether process ``pid`` carries ``token`` (e.g. ``__OW_LOCAL_CONTAINER=...``) in its environment."""
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


def kill_holding(needle: bytes, exclude: Iterable[int] = ()) -> int:
    """SIGKILL every process (but this one and ``exclude``) whose environment holds ``needle``; how many."""
    skip = {os.getpid(), *exclude}
    count = 0
    for pid in all_pids():
        if pid not in skip and has_token(pid, needle):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                count += 1
    return count
