"""Energy on a local host: RAPL package counters through Linux powercap, attributed by CPU-time share.

Never invented: where the counters cannot be read, :func:`availability` says why and nothing is reported.

* :func:`availability` -> ``{"source": "rapl" | "none", "available": bool, "why": str}`` (the fingerprint's
  ``energy`` key; ``why`` is empty when available).
* :class:`Meter` reads every package zone (``intel-rapl:N``, AMD included: the kernel names them so) and
  gives the joules used between two readings, wrap-around of ``energy_uj`` handled with
  ``max_energy_range_uj``.
* :func:`machine_cpu_ns` is the busy CPU time of the whole machine (``/proc/stat``); :func:`attribute`
  gives an activation the package energy in proportion to its share of that CPU time over the same window,
  as Kepler attributes node energy to containers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POWERCAP = Path("/sys/class/powercap")
PROC_STAT = Path("/proc/stat")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Zone:
    """One RAPL package zone."""

    name: str  # e.g. "package-0"
    energy_file: Path
    max_range_uj: int


def zones(root: Path = POWERCAP) -> list[Zone]:
    """The package-level RAPL zones under ``root`` (sub-zones such as core/dram are parts of a package)."""
    found = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        parts = entry.name.split(":")
        if len(parts) != 2 or not parts[0].endswith("rapl"):
            continue
        try:
            name = (entry / "name").read_text().strip()
            max_range = int((entry / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        found.append(Zone(name, entry / "energy_uj", max_range))
    return found


def availability(root: Path = POWERCAP) -> dict[str, Any]:
    """Whether package energy can be measured here, and why not (the fingerprint's ``energy`` key)."""
    if not root.exists():
        why = (
            f"no {root} (no RAPL/powercap driver: a VM, a container without /sys/class/powercap, or not x86)"
        )
        return {"source": "none", "available": False, "why": why}
    found = zones(root)
    if not found:
        return {"source": "none", "available": False, "why": f"no RAPL package zone under {root}"}
    try:
        for zone in found:
            int(zone.energy_file.read_text())
    except PermissionError:
        why = (
            f"{found[0].energy_file} is not readable (root only since CVE-2020-8694; run as root or chmod it)"
        )
        return {"source": "rapl", "available": False, "why": why}
    except (OSError, ValueError) as exc:
        return {"source": "rapl", "available": False, "why": f"cannot read {found[0].energy_file}: {exc}"}
    return {"source": "rapl", "available": True, "why": ""}


class Meter:
    """Package energy between readings (joules, wrap-around handled)."""

    def __init__(self, root: Path = POWERCAP) -> None:
        self.zones = zones(root)

    def read(self) -> list[int]:
        """Current ``energy_uj`` of every package zone."""
        return [int(zone.energy_file.read_text()) for zone in self.zones]

    def joules(self, before: list[int], after: list[int]) -> float:
        """Energy of all packages from ``before`` to ``after`` (each counter may have wrapped once)."""
        total = 0
        for zone, a, b in zip(self.zones, before, after, strict=True):
            total += b - a if b >= a else b + zone.max_range_uj - a
        return total / 1e6


def machine_cpu_ns(proc_stat: Path = PROC_STAT) -> int:
    """Busy CPU time of all CPUs (user, nice, system, irq, softirq, steal) in ns, from ``/proc/stat``."""
    with open(proc_stat, "rb") as handle:
        fields = handle.readline().split()
    if not fields or fields[0] != b"cpu":
        raise ValueError(f"unexpected first line in {proc_stat}: {b' '.join(fields)[:80]!r}")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) * 1_000_000_000 // CLOCK_TICKS


def attribute(package_joules: float, activation_cpu_ns: int, machine_cpu_ns_delta: int) -> float:
    """The activation's share of the package energy: joules x its CPU time / the machine's busy CPU time
    over the same window (at most the whole package energy; 0 for an activation without CPU time)."""
    if activation_cpu_ns <= 0:
        return 0.0
    # /proc/stat counts in clock ticks: over a short window the machine's delta can be below the activation's
    return package_joules * activation_cpu_ns / max(machine_cpu_ns_delta, activation_cpu_ns)
