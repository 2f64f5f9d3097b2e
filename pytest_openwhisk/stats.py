"""Percentiles and summaries of measured invocations (:class:`~pytest_openwhisk.samples.Sample`).

Percentile method: numpy's ``linear`` interpolation (Hyndman & Fan type 7, the default of numpy,
R and Excel's ``PERCENTILE.INC``): for ``n`` sorted values the p-th percentile sits at rank
``(n - 1) * p / 100`` and is interpolated linearly between the two neighbouring values. With one
value every percentile is that value; with none it is ``None``.

Which samples count where:

- client latency (``latency_ms``) uses every sample that got an HTTP response (``http_status != 0``);
  a refused or reset connection has no meaningful latency and is counted only as an error;
- server time is activation ``duration + waitTime`` for samples that carry an activation record;
- ``init_ms`` only exists on cold starts, so its percentiles describe cold starts only;
- cost (``cpu_ms``, ``memory_mb``, ``energy_j``) counts the samples whose record carried it.

Two throughputs, never mixed up:

- :func:`client_throughput_rps`: responses per second over the client's window (first send to last
  response), what the measuring client achieved;
- :func:`activation_throughput_rps`: activations per second over the server's window (first activation
  start to last end, FaaSProfiler's definition), what the platform completed.

:func:`distribution` is the one block of statistics (count, min, percentiles, max, mean, stdev) used
by the ``ow_summary`` and by the workload analyzer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from pytest_openwhisk.samples import Sample

#: percentiles reported for client latency and server time
SUMMARY_PERCENTILES = (50, 90, 95, 99)
#: percentiles reported for each part of the breakdown
BREAKDOWN_PERCENTILES = (50, 95)
#: per-sample quantities :func:`field_values` knows, and what they read
FIELDS = ("latency", "server", "duration", "wait", "init", "overhead", "cpu", "memory", "energy")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of ``values`` by linear interpolation, or None when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q!r} is out of range; use a number from 0 to 100, e.g. 95")
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q, method="linear"))


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean of ``values``, or None when empty."""
    if not values:
        return None
    return float(np.mean(np.asarray(values, dtype=float)))


def stdev(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1 in the denominator); 0.0 for one value, None when empty."""
    if not values:
        return None
    if len(values) == 1:
        return 0.0
    return float(np.std(np.asarray(values, dtype=float), ddof=1))


def responded(samples: Iterable[Sample]) -> list[Sample]:
    """The samples that received an HTTP response (their latency is meaningful)."""
    return [s for s in samples if s.http_status != 0]


def latencies_ms(samples: Iterable[Sample]) -> list[float]:
    """Client latencies (ms) of the samples that received an HTTP response, in order."""
    return [s.latency_ms for s in responded(samples)]


def server_ms(sample: Sample) -> float | None:
    """Server-side time of one sample: activation duration plus waitTime (ms), or None without a record."""
    if sample.duration_ms is None:
        return None
    return sample.duration_ms + (sample.wait_ms or 0.0)


def field_values(samples: Iterable[Sample], field: str) -> list[float]:
    """The non-null values of one per-sample quantity, in order.

    ``field`` is one of :data:`FIELDS`: ``latency``, ``server``, ``duration``, ``wait``, ``init``,
    ``overhead``, ``cpu`` (ms), ``memory`` (MB), ``energy`` (J).
    """
    if field == "latency":
        return latencies_ms(samples)
    getters: dict[str, Callable[[Sample], float | None]] = {
        "server": server_ms,
        "duration": lambda s: s.duration_ms,
        "wait": lambda s: s.wait_ms,
        "init": lambda s: s.init_ms,
        "overhead": lambda s: s.overhead_ms,
        "cpu": lambda s: s.cpu_ms,
        "memory": lambda s: s.memory_mb,
        "energy": lambda s: s.energy_j,
    }
    try:
        getter = getters[field]
    except KeyError:
        allowed = ", ".join(["latency", *getters])
        raise ValueError(f"unknown sample field {field!r}; allowed: {allowed}") from None
    out: list[float] = []
    for sample in samples:
        value = getter(sample)
        if value is not None:
            out.append(float(value))
    return out


def client_throughput_rps(samples: Sequence[Sample]) -> float | None:
    """Responses per second over the client's window, first send to last response (epoch seconds).

    Counts every sample that got an HTTP response; None without one or when the window is empty.
    """
    answered = responded(samples)
    if not answered:
        return None
    window = max(s.received for s in answered) - min(s.sent for s in answered)
    return len(answered) / window if window > 0 else None


def activation_throughput_rps(samples: Sequence[Sample]) -> float | None:
    """Activations per second over the server's window, first activation start to last end (FaaSProfiler).

    Counts the samples whose record has both ``start`` and ``end``; None without one or for an empty window.
    """
    timed = [s for s in samples if s.start_ms is not None and s.end_ms is not None]
    if not timed:
        return None
    span_ms = max(s.end_ms or 0 for s in timed) - min(s.start_ms or 0 for s in timed)
    return len(timed) * 1000.0 / span_ms if span_ms > 0 else None


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, min, p50/p90/p95/p99, max, mean and stdev of ``values`` (None for each when empty)."""
    out: dict[str, float | int | None] = {"count": len(values), "min": min(values) if values else None}
    out.update(_pcts(values, SUMMARY_PERCENTILES))
    out.update({"max": max(values) if values else None, "mean": mean(values), "stdev": stdev(values)})
    return out


def errors_by_status(samples: Iterable[Sample]) -> dict[str, int]:
    """Count of failed samples per status string (e.g. ``{"application error": 2}``), sorted by status."""
    counts = Counter(s.status for s in samples if not s.ok)
    return dict(sorted(counts.items()))


def _pcts(values: Sequence[float], qs: Iterable[int]) -> dict[str, float | None]:
    return {f"p{q}": percentile(values, q) for q in qs}


def breakdown(samples: Sequence[Sample]) -> dict[str, dict[str, float | None]]:
    """p50/p95 of waitTime, initTime, duration and overhead (client latency minus duration), in ms."""
    return {
        f"{field}_ms": _pcts(field_values(samples, field), BREAKDOWN_PERCENTILES)
        for field in ("wait", "init", "duration", "overhead")
    }


def cost(samples: Sequence[Sample]) -> dict[str, Any]:
    """What the invocations cost: ``cpu_ms``, ``memory_mb``, ``energy_j`` distributions (count 0: unknown)."""
    return {
        f"{field}_{unit}": distribution(field_values(samples, field))
        for field, unit in (("cpu", "ms"), ("memory", "mb"), ("energy", "j"))
    }


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """The ``ow_summary`` dict of docs/architecture.md for a list of samples (JSON-ready)."""
    count = len(samples)
    errors = sum(1 for s in samples if not s.ok)
    cold = sum(1 for s in samples if s.cold)
    return {
        "count": count,
        "errors": errors,
        "error_rate": errors / count if count else None,
        "cold_count": cold,
        "cold_ratio": cold / count if count else None,
        "client_throughput_rps": client_throughput_rps(samples),
        "activation_throughput_rps": activation_throughput_rps(samples),
        "latency_ms": distribution(latencies_ms(samples)),
        "server_ms": _pcts(field_values(samples, "server"), SUMMARY_PERCENTILES),
        "breakdown": breakdown(samples),
        "cost": cost(samples),
        "errors_by_status": errors_by_status(samples),
    }
