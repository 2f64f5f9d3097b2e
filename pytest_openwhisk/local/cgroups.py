"""Cgroups for containers: :class:`CgroupGroup` (one cgroup per container, v2 or v1) and the server's own
cgroup directories they are made under (:func:`v2_parent`, :func:`v1_parent`, found by :func:`own_cgroups`).

The kernel enforces the limits (memory without swap, a process count) and OOM-kills inside the group; the
accounting files are kept open and read with ``pread`` on the warm path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from pytest_openwhisk.local.group import Group, Usage

OOM_PEAK_SHARE = 0.9  # a window whose memory peak stayed below this share of the limit had no OOM kill


class CgroupGroup(Group):
    """One cgroup per container (v1: one directory per controller; v2: one directory)."""

    def __init__(
        self,
        token: str,
        memory_bytes: int,
        dirs: dict[str, Path],
        version: int,
        pids_max: int,
        *,
        marker: bytes,
    ):
        super().__init__(token, memory_bytes, marker=marker)
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

    def members(self, table: dict[int, tuple[int, int, int]] | None = None) -> list[int]:
        return procs(self.dirs["memory"])

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


def procs(path: Path) -> list[int]:
    """The processes in cgroup directory ``path`` (none when it is gone)."""
    try:
        return [int(x) for x in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def own_cgroups() -> dict[str, str]:
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


def v1_parent(controller: str, own: dict[str, str], nonce: str, root: Path) -> Path | None:
    """``ow-<nonce>`` made under this process's cgroup in the v1 ``controller`` hierarchy (None: cannot)."""
    base = root / controller
    if not (base / "cgroup.procs").exists() or controller not in own:
        return None
    parent = base / own[controller].lstrip("/") / f"ow-{nonce}"
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return parent


def v2_parent(own: dict[str, str], nonce: str, root: Path) -> Path | None:
    """``ow-<nonce>`` made under this process's v2 cgroup with memory, pids (and cpu) enabled for its children
    (None: no writable unified hierarchy with those controllers)."""
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
