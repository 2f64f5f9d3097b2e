"""Whole-container resource limits and reaping: a cgroup per container, or a watchdog over the process tree.

A container's memory limit must hold for every process it starts, not per process, and nothing it starts
may outlive it. :func:`select` picks, once per invoker, and :class:`Control` makes a group per container and
runs the watchdog task:

* ``cgroup-v2`` (a writable unified hierarchy with the ``memory`` and ``pids`` controllers, e.g. a
  delegated subtree) or ``cgroup-v1`` (writable ``memory``, ``pids`` and ``cpuacct`` hierarchies): one
  cgroup per container (:class:`~pytest_openwhisk.local.cgroups.CgroupGroup`) under the server's own cgroup
  with ``memory`` = the action's limit (no swap) and ``pids`` = ``PoolConfig.pids_max``. The kernel
  OOM-kills inside the group (counted in ``memory.events`` / ``memory.oom_control`` as ``oom_kill``: that
  is how an OOM is told from another death) and a fork bomb stops at the process limit. The process enters
  its group before it runs anything (``spawner.entry_command``). Killing a container kills every process
  in its group (``cgroup.kill`` on v2, a kill loop over ``cgroup.procs`` on v1), daemons included.
* ``watchdog`` (no writable cgroups, e.g. an unprivileged user on a v1 host): a task samples the resident
  memory of each container's whole process tree (:class:`~pytest_openwhisk.local.group.Group`) every
  :data:`WATCHDOG_INTERVAL_S` (PSS when the tree has several processes, so copy-on-write pages of forked
  children count once) and kills a container above its limit (reported as an OOM). A burst that allocates
  and touches memory faster than one interval can overshoot before it is killed; cgroups cannot be
  overshot. Members are the runtime's descendants plus any process carrying the container's token in its
  environment (:data:`TOKEN_ENV`; daemons that re-parent to init keep it). Process counts are then bounded
  by ``RLIMIT_NPROC`` under a per-container uid (bwrap mode only).

:func:`reap` kills what a dead server left behind, by its cgroups and its containers' tokens.
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
from pathlib import Path
from typing import Any

from pytest_openwhisk.local.cgroups import CgroupGroup, own_cgroups, procs, v1_parent, v2_parent
from pytest_openwhisk.local.group import Group
from pytest_openwhisk.local.proctree import kill_holding, process_table

log = logging.getLogger("pytest_openwhisk.local")
MODES = ("auto", "cgroup", "watchdog")
WATCHDOG_INTERVAL_S = 0.1
#: the environment variable that carries a container's token into its processes (set by the invoker)
TOKEN_ENV = "__OW_LOCAL_CONTAINER"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def kill_tokened(prefix: str, exclude: Iterable[int] = ()) -> int:
    """SIGKILL every process whose environment holds ``__OW_LOCAL_CONTAINER=<prefix>...``; how many."""
    return kill_holding(f"{TOKEN_ENV}={prefix}".encode(), exclude)


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
        marker = f"{TOKEN_ENV}={token}".encode()
        if self.mode == "watchdog":
            group = Group(token, memory_bytes, marker=marker)
        else:
            version = 2 if self.mode == "cgroup-v2" else 1
            dirs = {name: parent / container_id for name, parent in self.parents.items()}
            if version == 2:
                one = self.parents["memory"] / container_id
                dirs = {"memory": one, "pids": one, "cpuacct": one}
            group = CgroupGroup(token, memory_bytes, dirs, version, pids_max, marker=marker)
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
        table = process_table()
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
    own = own_cgroups()
    why = ""
    v2 = v2_parent(own, nonce, root)
    if v2 is not None:
        return Control("cgroup-v2", {"memory": v2}, "")
    parents: dict[str, Path] = {}
    for controller in ("memory", "pids", "cpuacct"):
        parent = v1_parent(controller, own, nonce, root)
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
                pids = procs(child)
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
