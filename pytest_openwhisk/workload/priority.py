"""What the OS offers the sender process so it keeps its schedule next to a busy server (Linux).

Applied by the sender's own process (:mod:`pytest_openwhisk.workload.sendproc`) to itself, never to anything
else; every step degrades to "not applied, with the reason" (a CI container may have an empty
``/proc/self/autogroup``, no ``CAP_SYS_NICE`` and read-only cgroups):

* ``priority="nice"``: the nice value ``nice`` for the process and, with autogroups
  (``kernel.sched_autogroup_enabled=1``: the process started a new session, so it is its own group), for its
  scheduling group, which is what weighs against the server's groups;
* ``priority="realtime"``: ``SCHED_FIFO`` at the lowest real-time priority: the sender runs as soon as its
  timer fires, ahead of every normal task. It sleeps between arrivals (a timerfd), so it takes only the CPU
  its requests cost; the kernel's real-time throttle bounds it anyway. Falls back to ``"nice"``;
* ``cpus``: CPU affinity. ``"auto"`` pins the sender to one CPU only when more than two are allowed (the
  others stay with the server); on one or two CPUs pinning only takes choices from the scheduler.
"""

from __future__ import annotations

import os
import sys
from typing import Any

AUTOGROUP = "/proc/self/autogroup"


def _autogroup() -> str | None:
    try:
        with open(AUTOGROUP) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return text or None


def autogroup_nice() -> int | None:
    """The nice value of this process's autogroup; None without one (no file, or an empty one)."""
    line = _autogroup()
    _, sep, nice = (line or "").rpartition(" nice ")
    try:
        return int(nice) if sep else None
    except ValueError:
        return None


def _write_autogroup_nice(nice: int) -> str | None:
    """Write ``nice`` to this process's autogroup; the error text when that was refused."""
    try:
        with open(AUTOGROUP, "w") as handle:
            handle.write(str(nice))
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def set_autogroup_nice(nice: int | None) -> int | None:
    """Set the nice value of this process's scheduling group (``/proc/self/autogroup``); the previous one.

    None (nothing to set), or no autogroups / no permission: nothing changes and None is returned."""
    if nice is None:
        return None
    previous = autogroup_nice()
    if previous is None or _write_autogroup_nice(nice) is not None:
        return None
    return previous


def _set_autogroup_nice(nice: int, notes: list[str]) -> None:
    if _autogroup() is None:
        notes.append("autogroup: none (empty or missing /proc/self/autogroup)")
        return
    error = _write_autogroup_nice(nice)
    if error is not None:
        notes.append(f"autogroup nice {nice}: {error}")


def _set_nice(nice: int, notes: list[str]) -> None:
    _set_autogroup_nice(nice, notes)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:
        notes.append(f"nice {nice}: {exc.strerror or exc} (needs CAP_SYS_NICE for < 0)")


def _set_realtime(notes: list[str]) -> bool:
    policy = getattr(os, "SCHED_FIFO", None)
    if policy is None:
        notes.append("realtime: SCHED_FIFO not offered on this platform")
        return False
    try:
        os.sched_setscheduler(0, policy, os.sched_param(os.sched_get_priority_min(policy)))
    except OSError as exc:
        notes.append(f"realtime: {exc.strerror or exc} (needs CAP_SYS_NICE and real-time runtime)")
        return False
    return True


def choose_cpus(cpus: str | tuple[int, ...], allowed: set[int]) -> set[int] | None:
    """The CPUs to pin the sender to: None to leave the affinity alone."""
    if cpus == "off":
        return None
    if cpus == "auto":
        return {max(allowed)} if len(allowed) > 2 else None
    chosen = {int(cpu) for cpu in cpus} & allowed
    return chosen or None


def apply_scheduling(config: Any) -> dict[str, Any]:
    """Apply ``config``'s ``priority``, ``nice``, ``autogroup_nice`` and ``cpus`` to this process.

    Returns what the process got (policy, nice, autogroup, CPUs) and a note per step that was not permitted.
    """
    notes: list[str] = []
    realtime = False
    if config.priority == "realtime" and not (sys.platform.startswith("linux") and config.precise_timer):
        notes.append("realtime: only with the timerfd timer (the fallback timer spins); nice instead")
        _set_nice(config.nice, notes)
    elif config.priority == "realtime":
        realtime = _set_realtime(notes)
        if not realtime:
            _set_nice(config.nice, notes)
    elif config.priority == "nice":
        _set_nice(config.nice, notes)
    if config.autogroup_nice is not None:
        _set_autogroup_nice(config.autogroup_nice, notes)
    pinned: set[int] | None = None
    if hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
        pinned = choose_cpus(config.cpus, allowed)
        if pinned is not None:
            try:
                os.sched_setaffinity(0, pinned)
            except OSError as exc:
                notes.append(f"cpus {sorted(pinned)}: {exc.strerror or exc}")
                pinned = None
    return {
        "own_process": True,
        "pid": os.getpid(),
        "own_session": os.getsid(0) == os.getpid(),
        "policy": "SCHED_FIFO" if realtime else "normal",
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "autogroup": _autogroup(),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "pinned": pinned is not None,
        "notes": notes,
    }
