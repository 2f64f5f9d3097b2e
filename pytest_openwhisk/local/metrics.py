"""Prometheus ``/metrics`` of the embedded controller (one CollectorRegistry per server).

Activation metrics use the names and labels of OpenWhisk's user-events service
(``core/monitoring/user-events`` ``PrometheusRecorder``): ``openwhisk_action_activations_total``,
``openwhisk_action_coldStarts_total``, ``openwhisk_action_status_total`` (OpenWhisk's Java client
names it ``openwhisk_action_status``; Python's client adds ``_total`` to every counter),
``openwhisk_action_waitTime_seconds``, ``openwhisk_action_initTime_seconds``,
``openwhisk_action_duration_seconds``,
``openwhisk_action_limit_{concurrent,timed}_total``. Labels: ``namespace`` (the action's), ``initiator`` (the
caller's), ``action`` (``[pkg/]name``), ``kind``, ``memory``, ``status``. The embedded server adds
``openwhisk_local_activations_inflight`` and the pool gauges ``openwhisk_local_containers{state}``,
``openwhisk_local_pool_memory_mb{kind=used|budget}`` and ``openwhisk_local_pool_queued``, read from
``Invoker.stats()`` at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from pytest_openwhisk.local.types import STATUS_STRINGS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: sub-millisecond to minutes: the embedded server's wait times are often well below 5 ms
BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    float("inf"),
)
_LABELS = ("namespace", "initiator", "action")
_LE = {bound: "+Inf" if bound == float("inf") else repr(float(bound)) for bound in BUCKETS}  # "le" values


class _PoolCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, Any]], inflight: Callable[[], int]) -> None:
        self._stats, self._inflight = stats, inflight

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "openwhisk_local_activations_inflight",
            "Activations accepted by the controller and not finished yet",
            value=self._inflight(),
        )
        stats = self._stats()
        containers = GaugeMetricFamily(
            "openwhisk_local_containers", "Runtime processes by pool state", labels=["state"]
        )
        for state, count in sorted((stats.get("containers") or {}).items()):
            containers.add_metric([str(state)], float(count))
        yield containers
        memory = GaugeMetricFamily(
            "openwhisk_local_pool_memory_mb", "Container pool memory (MB)", labels=["kind"]
        )
        for kind, value in sorted((stats.get("memory_mb") or {}).items()):
            memory.add_metric([str(kind)], float(value))
        yield memory
        yield GaugeMetricFamily(
            "openwhisk_local_pool_queued",
            "Activations waiting for pool capacity",
            value=float(stats.get("queued", 0)),
        )
        cost = stats.get("cost") or {}
        cpu = CounterMetricFamily(
            "openwhisk_local_action_cpu_seconds",
            "CPU time (user + sys) of the action's containers during its activations (issue 14 accounting)",
            labels=["action"],
        )
        peak = GaugeMetricFamily(
            "openwhisk_local_action_memory_peak_mb",
            "Highest memory peak of the action's container tree during one activation (MB)",
            labels=["action"],
        )
        accounted = CounterMetricFamily(
            "openwhisk_local_action_accounted_activations",
            "Activations whose CPU time and memory were accounted",
            labels=["action"],
        )
        for path, figures in sorted(cost.items()):
            cpu.add_metric([path], float(figures["cpu_seconds"]))
            peak.add_metric([path], float(figures["memory_peak_mb"]))
            accounted.add_metric([path], float(figures["activations"]))
        yield cpu
        yield peak
        yield accounted
        energy = stats.get("energy")
        if energy is not None:
            available = GaugeMetricFamily(
                "openwhisk_local_energy_available",
                "1 when RAPL package energy is measured and attributed to activations, else 0 (see why)",
                labels=["source", "why"],
            )
            available.add_metric(
                [str(energy.get("source")), str(energy.get("why"))], float(bool(energy.get("available")))
            )
            yield available


class _Histogram:
    """Bucket counts and sum of one label set (rendered as a Prometheus histogram at scrape time)."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)  # per bucket, not cumulative
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, out = 0, []
        for bound, count in zip(BUCKETS, self.counts, strict=True):
            cumulative += count
            out.append((_LE[bound], float(cumulative)))
        return out


class _ActionMetrics:
    """The figures of one (namespace, initiator, action, kind, memory): plain numbers, no locks.

    :meth:`Metrics.observe` runs once per activation on the event loop; the Prometheus families are
    built from these numbers only when ``/metrics`` is scraped."""

    __slots__ = ("activations", "cold", "duration", "init", "status", "wait")

    def __init__(self) -> None:
        self.activations = 0
        self.cold = 0
        self.status = dict.fromkeys(STATUS_STRINGS, 0)
        self.wait = _Histogram()
        self.init = _Histogram()
        self.duration = _Histogram()


class _ActivationCollector(Collector):
    """OpenWhisk's user-events activation metrics, from :attr:`Metrics.actions` at scrape time."""

    def __init__(self, actions: dict[tuple[str, str, str, str, str], _ActionMetrics]) -> None:
        self._actions = actions

    def collect(self) -> Iterator[Metric]:
        activations = CounterMetricFamily(
            "openwhisk_action_activations", "Activation Count", labels=[*_LABELS, "kind", "memory"]
        )
        cold = CounterMetricFamily("openwhisk_action_coldStarts", "Cold start counts", labels=_LABELS)
        status = CounterMetricFamily(
            "openwhisk_action_status", "Activation failure status type", labels=[*_LABELS, "status"]
        )
        histograms = [
            (HistogramMetricFamily(name, doc, labels=_LABELS), field)
            for name, doc, field in (
                ("openwhisk_action_waitTime_seconds", "Internal system hold time", "wait"),
                (
                    "openwhisk_action_initTime_seconds",
                    "Time it took to initialize an action, e.g. docker init",
                    "init",
                ),
                ("openwhisk_action_duration_seconds", "Actual time the action code was running", "duration"),
            )
        ]
        for key, m in list(self._actions.items()):
            ns, initiator, action, kind, memory = key
            labels = [ns, initiator, action]
            activations.add_metric([*labels, kind, memory], float(m.activations))
            cold.add_metric(labels, float(m.cold))
            for code, text in STATUS_STRINGS.items():
                status.add_metric([*labels, text], float(m.status[code]))
            for family, field in histograms:
                h: _Histogram = getattr(m, field)
                family.add_metric(labels, h.buckets(), h.total)
        yield activations
        yield cold
        yield status
        for family, _ in histograms:
            yield family


class Metrics:
    """The controller's metrics; :meth:`observe` is called once per finished primitive activation."""

    def __init__(self, stats: Callable[[], dict[str, Any]], inflight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.actions: dict[tuple[str, str, str, str, str], _ActionMetrics] = {}
        r.register(_ActivationCollector(self.actions))
        self.limit_concurrent = Counter(
            "openwhisk_action_limit_concurrent",
            "a user has exceeded its limit for concurrent invocations",
            ["namespace"],
            registry=r,
        )
        self.limit_timed = Counter(
            "openwhisk_action_limit_timed",
            "the user has reached its per minute limit for the number of invocations",
            ["namespace"],
            registry=r,
        )
        r.register(_PoolCollector(stats, inflight))

    def observe(
        self,
        *,
        namespace: str,
        initiator: str,
        action: str,
        kind: str,
        memory_mb: int,
        status_code: int,
        wait_ms: int,
        init_ms: int | None,
        duration_ms: int,
    ) -> None:
        key = (namespace, initiator, action, kind, str(memory_mb))
        m = self.actions.get(key)
        if m is None:
            m = self.actions[key] = _ActionMetrics()
        m.activations += 1
        m.status[status_code] += 1
        if init_ms is not None:
            m.cold += 1
            m.init.observe(init_ms / 1000)
        m.wait.observe(wait_ms / 1000)
        m.duration.observe(duration_ms / 1000)

    def throttled(self, namespace: str, limit_name: str) -> None:
        (self.limit_concurrent if limit_name == "ConcurrentRateLimit" else self.limit_timed).labels(
            namespace
        ).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
