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

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
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


class _ActionMetrics:
    """The label children of one (namespace, initiator, action, kind, memory), bound once."""

    __slots__ = ("activations", "cold", "duration", "init", "status", "wait")

    def __init__(self, m: Metrics, key: tuple[str, str, str, str, str]) -> None:
        ns, initiator, action, kind, memory = key
        self.activations = m.activations.labels(ns, initiator, action, kind, memory)
        self.cold = m.cold_starts.labels(ns, initiator, action)
        self.wait = m.wait_time.labels(ns, initiator, action)
        self.init = m.init_time.labels(ns, initiator, action)
        self.duration = m.duration.labels(ns, initiator, action)
        self.status = {
            code: m.status.labels(ns, initiator, action, text) for code, text in STATUS_STRINGS.items()
        }


class Metrics:
    """The controller's metrics; :meth:`observe` is called once per finished primitive activation."""

    def __init__(self, stats: Callable[[], dict[str, Any]], inflight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.activations = Counter(
            "openwhisk_action_activations", "Activation Count", [*_LABELS, "kind", "memory"], registry=r
        )
        self.cold_starts = Counter("openwhisk_action_coldStarts", "Cold start counts", _LABELS, registry=r)
        self.status = Counter(
            "openwhisk_action_status", "Activation failure status type", [*_LABELS, "status"], registry=r
        )
        self.wait_time = Histogram(
            "openwhisk_action_waitTime_seconds",
            "Internal system hold time",
            _LABELS,
            buckets=BUCKETS,
            registry=r,
        )
        self.init_time = Histogram(
            "openwhisk_action_initTime_seconds",
            "Time it took to initialize an action, e.g. docker init",
            _LABELS,
            buckets=BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "openwhisk_action_duration_seconds",
            "Actual time the action code was running",
            _LABELS,
            buckets=BUCKETS,
            registry=r,
        )
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
        self._children: dict[tuple[str, str, str, str, str], _ActionMetrics] = {}

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
        m = self._children.get(key)
        if m is None:
            m = self._children[key] = _ActionMetrics(self, key)
        m.activations.inc()
        m.status[status_code].inc()
        if init_ms is not None:
            m.cold.inc()
            m.init.observe(init_ms / 1000)
        m.wait.observe(wait_ms / 1000)
        m.duration.observe(duration_ms / 1000)

    def throttled(self, namespace: str, limit_name: str) -> None:
        (self.limit_concurrent if limit_name == "ConcurrentRateLimit" else self.limit_timed).labels(
            namespace
        ).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
