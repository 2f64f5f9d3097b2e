"""Percentiles and summaries of measured invocations (:class:`~pytest_openwhisk.samples.Sample`).

Percentile method: numpy's ``linear`` interpolation (Hyndman & Fan type 7, the default of numpy,
R and Excel's ``PERCENTILE.INC``): for ``n`` sorted values the p-th percentile sits at rank
``(n - 1) * p / 100`` and is interpolated linearly between the two neighbouring values. With one
value every percentile is that value; with none it is ``None``.

Which samples count where:

- client latency (``latency_ms``) uses every sample that got an HTTP response (``http_status != 0``);
  a refused or reset connection has no meaningful latency and is counted only as an error;
- server time is activation ``duration + waitTime`` for samples that carry an activation record;
- ``init_ms`` only exists on cold starts, so its percentiles describe cold starts only.
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

    ``field`` is one of ``latency``, ``server``, ``duration``, ``wait``, ``init``, ``overhead``.
    """
    if field == "latency":
        return latencies_ms(samples)
    getters: dict[str, Callable[[Sample], float | None]] = {
        "server": server_ms,
        "duration": lambda s: s.duration_ms,
        "wait": lambda s: s.wait_ms,
        "init": lambda s: s.init_ms,
        "overhead": lambda s: s.overhead_ms,
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


def throughput_rps(samples: Sequence[Sample]) -> float | None:
    """Completed invocations per second over the measurement window.

    The window runs from the first send to the last response (client clocks, epoch seconds); None
    when there are no samples or the window is empty.
    """
    if not samples:
        return None
    window = max(s.received for s in samples) - min(s.sent for s in samples)
    if window <= 0:
        return None
    return len(samples) / window


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


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """The ``ow_summary`` dict of docs/architecture.md for a list of samples (JSON-ready)."""
    count = len(samples)
    errors = sum(1 for s in samples if not s.ok)
    cold = sum(1 for s in samples if s.cold)
    lat = latencies_ms(samples)
    server = field_values(samples, "server")
    latency: dict[str, float | None] = {"min": min(lat) if lat else None}
    latency.update(_pcts(lat, SUMMARY_PERCENTILES))
    latency.update({"max": max(lat) if lat else None, "mean": mean(lat), "stdev": stdev(lat)})
    return {
        "count": count,
        "errors": errors,
        "error_rate": errors / count if count else None,
        "cold_count": cold,
        "cold_ratio": cold / count if count else None,
        "throughput_rps": throughput_rps(samples),
        "latency_ms": latency,
        "server_ms": _pcts(server, SUMMARY_PERCENTILES),
        "breakdown": breakdown(samples),
        "errors_by_status": errors_by_status(samples),
    }
