"""Arrival processes: turn a :class:`~pytest_openwhisk.workload.spec.Workload` into a send schedule.

Every instance draws from its own random stream, seeded by ``(workload seed, stable hash of the instance
name)`` through numpy's ``SeedSequence``; the hash is BLAKE2b, not Python's per-process salted ``hash``.
Adding or removing an instance therefore never changes the arrivals of the others, and the same seed
gives the same schedule bytes on every run (:meth:`Schedule.to_json_bytes`).

- ``poisson``: exponential gaps of mean ``1/rate`` from the window start, kept while ``t < end``;
- ``uniform``: gaps of exactly ``1/rate``, the first shifted by a random phase in ``[0, 1/rate)``;
- ``trace``: the given gaps replayed from the window start (FaaSProfiler: the first gap is the first
  absolute time), cut at the window end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from pytest_openwhisk.workload.spec import Instance, Workload

#: offsets are rounded to this many decimals (microseconds) so the JSON bytes are stable
DECIMALS = 6


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process (BLAKE2b)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def instance_rng(seed: int, instance: str) -> np.random.Generator:
    """The independent random stream of ``instance`` under ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stable_hash(instance)])))


@dataclass(frozen=True)
class Arrival:
    """One scheduled request: ``offset`` seconds after the workload start."""

    offset: float
    instance: str
    action: str
    seq: int  # position in the whole schedule (0-based)


@dataclass(frozen=True)
class Schedule:
    """All arrivals of a workload, in send order."""

    workload: str
    seed: int
    duration_s: float
    arrivals: tuple[Arrival, ...]

    def __len__(self) -> int:
        return len(self.arrivals)

    def counts(self) -> dict[str, int]:
        """Number of arrivals per instance."""
        out: dict[str, int] = {}
        for arrival in self.arrivals:
            out[arrival.instance] = out.get(arrival.instance, 0) + 1
        return out

    def to_json_bytes(self) -> bytes:
        """The canonical JSON bytes of this schedule (equal seeds and workloads give equal bytes)."""
        doc = {
            "workload": self.workload,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "arrivals": [[a.offset, a.instance, a.action] for a in self.arrivals],
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def instance_offsets(instance: Instance, duration_s: float, seed: int) -> np.ndarray:
    """Arrival offsets (seconds from the workload start) of one instance, sorted."""
    start, end = instance.bounds(duration_s)
    if instance.distribution == "trace":
        times = start + np.cumsum(np.asarray(instance.interarrivals, dtype=float))
        return times[times < end]
    if instance.rate <= 0 or end <= start:
        return np.empty(0)
    rng = instance_rng(seed, instance.name)
    if instance.distribution == "uniform":
        gap = 1.0 / instance.rate
        first = start + rng.uniform(0.0, gap)
        count = max(0, int(np.ceil((end - first) / gap)))
        times = first + gap * np.arange(count, dtype=float)
        return times[times < end]
    # poisson: draw in chunks until the window is covered (bounded: each chunk adds ~rate*span arrivals)
    span = end - start
    chunks: list[np.ndarray] = []
    last = start
    chunk = int(instance.rate * span * 1.1) + 16
    while last < end:
        times = last + np.cumsum(rng.exponential(1.0 / instance.rate, size=chunk))
        chunks.append(times)
        last = float(times[-1])
    times = np.concatenate(chunks)
    return times[times < end]


def build_schedule(workload: Workload) -> Schedule:
    """The full, reproducible schedule of ``workload`` (all instances merged by time)."""
    rows: list[tuple[float, str, str]] = []
    for inst in workload.instances:
        for t in instance_offsets(inst, workload.duration_s, workload.seed):
            rows.append((round(float(t), DECIMALS), inst.name, inst.action))
    rows.sort()
    arrivals = tuple(
        Arrival(offset=t, instance=name, action=action, seq=i) for i, (t, name, action) in enumerate(rows)
    )
    return Schedule(
        workload=workload.name, seed=workload.seed, duration_s=workload.duration_s, arrivals=arrivals
    )
