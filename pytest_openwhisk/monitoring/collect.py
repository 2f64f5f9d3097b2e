"""The PromQL run for one benchmark window, shaped as ``extra_info["ow_monitoring"]``.

Counters and histograms are read as differences between two instant evaluations: ``@ start`` (the
values of the last scrape at or before the window start, ``baseline_at``) and ``@ evaluated_at`` (the
first scrape at or after the window end), so short windows and series that appear mid-window are
counted. Prometheus cannot tell what happened between two scrapes, so activity in
``(baseline_at, start)`` and ``(end, evaluated_at]`` is counted too: each span is shorter than one
scrape interval, reported as ``resolution_s``. A caller that waits for a fresh scrape just before it
starts the window (:meth:`~pytest_openwhisk.monitoring.prometheus.LocalPrometheus.open_window`, used by
the local backend after a measurement's warm-up) leaves nothing of its own in the first span, so
sequential measurements are counted exactly. Metric names are OpenWhisk's user-events names
(``openwhisk_action_*``), which the embedded server exposes too. Resource usage comes from cAdvisor
(``container_*``) on Kubernetes and from the process collector (``process_*``) locally.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.errors import BackendError, StartupTimeout
from pytest_openwhisk.monitoring.prometheus import PromClient, scraped_after
from pytest_openwhisk.wait import wait_until

HISTOGRAMS = {
    "wait_ms": "openwhisk_action_waitTime_seconds",
    "init_ms": "openwhisk_action_initTime_seconds",
    "duration_ms": "openwhisk_action_duration_seconds",
}
#: counters, matched with and without the ``_total`` suffix (Prometheus Java client versions differ)
ACTIVATIONS = "openwhisk_action_activations"
COLD_STARTS = "openwhisk_action_coldStarts"
STATUS = "openwhisk_action_status"
#: how long a cluster window may wait after its end for OpenWhisk's counters to catch up (Kafka hop)
CATCH_UP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Scope:
    """What to look at: Kubernetes namespace and release (cluster) or the scrape job (local)."""

    backend: str = "local"  # "local" or a Kubernetes backend name ("kind", "existing")
    namespace: str = "openwhisk"  # Kubernetes namespace of the release
    release: str = "owdev"
    job: str = "openwhisk"  # local scrape job
    action: str | None = None  # restrict OpenWhisk metrics to this action (suffix match)

    @property
    def kube(self) -> bool:
        """True for cluster backends (cAdvisor metrics), False for the embedded server."""
        return self.backend != "local"

    def ow_selector(self) -> str:
        """Label matchers for ``openwhisk_action_*`` series (without braces)."""
        parts = [] if self.kube else [f'job="{self.job}"']
        if self.action:
            parts.append(f'action=~"(.*/)?{_escape(self.action)}"')
        return ",".join(parts)

    def up_selector(self) -> str:
        """The ``up`` series whose next scrape closes the window."""
        return 'up{job="kubelet"}' if self.kube else f'up{{job="{self.job}"}}'


def _escape(text: str) -> str:
    return "".join("\\\\" + ch if ch in ".+*?()[]{}|^$\\" else ch for ch in text)


def _series(metric: str, matchers: str) -> str:
    """A selector: counters (no ``_total`` given) match both spellings, other names match exactly."""
    if metric.endswith(("_count", "_sum", "_bucket", "_seconds_total")):
        return f"{metric}{{{matchers}}}"
    name = f'__name__=~"{metric}(_total)?"'
    return "{" + ",".join(filter(None, (name, matchers))) + "}"


def _delta(metric: str, matchers: str, start: float, end: float, by: str = "") -> str:
    """PromQL for the increase of a counter between two instants (absent at ``start`` counts as 0)."""
    group = f" by ({by})" if by else ""
    at_end = f"sum{group}({_series(metric, matchers)} @ {end:.3f})"
    at_start = f"sum{group}({_series(metric, matchers)} @ {start:.3f})"
    return f"({at_end} - {at_start}) or {at_end}"


def window_metrics(
    prom: PromClient,
    start: float,
    end: float,
    *,
    backend: str = "local",
    scope: Scope | None = None,
    settle_timeout: float = 30.0,
    sent: int | None = None,
    catch_up_timeout: float = CATCH_UP_TIMEOUT,
) -> dict[str, Any]:
    """Query Prometheus for the window ``[start, end]`` (epoch s) and return the ``ow_monitoring`` dict.

    Waits (``wait_until``) for the first scrape after ``end``. Besides the metrics the result holds
    ``baseline_at`` (the scrape the counters start from, at or before ``start``; None when no scrape
    precedes the window) and ``resolution_s`` (the longest scrape interval seen around the window: the
    most by which each end of the counted span can differ from the window). Queries that fail are
    listed under ``errors`` instead of failing the benchmark; a Prometheus that cannot be reached
    raises :class:`BackendError`.
    """
    scope = scope or Scope(backend=backend)
    if end < start:
        raise BackendError(f"monitoring window ends before it starts ({start} > {end})")
    closed = scraped_after(prom, end, scope.up_selector(), settle_timeout)
    opened = start
    closed_by = "the first scrape after the window end"
    if scope.kube:  # openwhisk_action_* arrive after a Kafka hop into user-events: wait until they catch up
        closed, closed_by = catch_up(prom, scope, opened, closed, sent, catch_up_timeout)
    out: dict[str, Any] = {
        "source": "prometheus",
        "url": prom.base_url,
        "backend": scope.backend,
        "start": start,
        "end": end,
        "evaluated_at": closed,
        "closed_by": closed_by,
        "errors": [],
    }
    _try(out, out, "baseline_at", lambda: prom.value(f"min(timestamp({scope.up_selector()}))", at=start))
    _try(out, out, "resolution_s", lambda: scrape_resolution(prom, scope.up_selector(), start, closed))
    ow: dict[str, Any] = {}
    sel = scope.ow_selector()
    _try(out, ow, "activations", lambda: prom.value(_delta(ACTIVATIONS, sel, opened, closed)))
    _try(out, ow, "cold_starts", lambda: prom.value(_delta(COLD_STARTS, sel, opened, closed)))
    _try(
        out,
        ow,
        "status",
        lambda: _nonzero(prom.by_label(_delta(STATUS, sel, opened, closed, "status"), "status")),
    )
    for key, metric in HISTOGRAMS.items():
        _try(out, ow, key, lambda metric=metric: _histogram(prom, metric, sel, opened, closed))
    out["openwhisk"] = ow
    resources: dict[str, Any] = {}
    if scope.kube:
        _try(out, resources, "action_pods", lambda: _pods(prom, scope, "wsk.*", opened, closed))
        invoker = f"{scope.release}-invoker.*"
        _try(out, resources, "invoker", lambda: _pods(prom, scope, invoker, opened, closed))
    else:
        _try(out, resources, "server", lambda: _process(prom, scope, opened, closed))
    out["resources"] = resources
    return out


def catch_up(
    prom: PromClient, scope: Scope, start: float, closed: float, sent: int | None, timeout: float
) -> tuple[float, str]:
    """Move the window's closing evaluation until the activation counter has caught up.

    With ``sent`` (invocations the client sent in the window): until the counted activations reach it.
    Without: until two evaluations one scrape apart agree. Stops at ``timeout`` seconds after the
    first scrape past the window end and says so (the counts may then miss late events).
    """
    sel = scope.ow_selector()
    state: dict[str, float | None] = {"last": None}

    def counted(at: float) -> float:
        return prom.value(_delta(ACTIVATIONS, sel, start, at)) or 0.0

    def caught_up() -> float | None:
        now = time.time()
        value = counted(now)
        if sent is not None:
            return now if value >= sent else None
        previous, state["last"] = state["last"], value
        return now if previous is not None and previous == value else None

    try:
        at = wait_until(
            caught_up, what="OpenWhisk's activation counters", timeout=timeout, interval=1.0, max_interval=1.0
        )
    except StartupTimeout:
        at = time.time()
        got = counted(at)
        wanted = f" of {sent} sent" if sent is not None else ""
        return at, f"deadline {timeout:g}s after the window end: counted {got:g} activations{wanted}"
    if sent is not None:
        return at, f"counters caught up with the {sent} invocations sent"
    return at, "counters stable over two evaluations 1 s apart"


def series_resolution(prom: PromClient, selector: str, at: float, lookback: float = 120.0) -> float | None:
    """How often the series of ``selector`` really change (s): the median gap between value updates of
    their raw samples over ``lookback`` seconds before ``at`` (cAdvisor refreshes ``container_*`` every
    10-15 s whatever the scrape interval). None when a series changed fewer than twice."""
    gaps: list[float] = []
    for series in prom.query(f"{selector}[{int(lookback)}s]", at=at):
        points = sorted((float(t), str(v)) for t, v in series.get("values", []))
        changes = [t for (t, v), (_, before) in zip(points[1:], points, strict=False) if v != before]
        gaps += [b - a for a, b in itertools.pairwise(changes)]
    if not gaps:
        return None
    gaps.sort()
    return round(gaps[len(gaps) // 2], 3)


def scrape_resolution(prom: PromClient, up_selector: str, start: float, end: float) -> float | None:
    """The longest gap (s) between consecutive scrapes of ``up_selector`` from the last scrape before
    ``start`` through ``end``, i.e. how far each end of a counted span can stray from the window.

    None when fewer than two scrapes are stored in that range.
    """
    lookback = max(math.ceil(end - start), 0) + 60  # also the last scrape(s) before the window
    matrix = prom.query(f"{up_selector}[{lookback}s]", at=end)  # raw samples: [t, value]
    gaps: list[float] = []
    for series in matrix:
        stamps = sorted(float(t) for t, _ in series.get("values", []))
        before = [t for t in stamps if t <= start]
        kept = ([before[-1]] if before else []) + [t for t in stamps if t > start]
        if len(kept) < 2 and len(stamps) >= 2:  # no scrape inside: the usual interval of the series
            kept = stamps[-2:]
        gaps += [b - a for a, b in itertools.pairwise(kept)]
    return round(max(gaps), 3) if gaps else None


def _try(out: dict[str, Any], into: dict[str, Any], key: str, query: Any) -> None:
    try:
        into[key] = query()
    except BackendError as exc:
        into[key] = None
        out["errors"].append(f"{key}: {exc}")


def _histogram(prom: PromClient, metric: str, sel: str, start: float, end: float) -> dict[str, Any]:
    """count, mean, p50, p95 (ms) of one histogram over the window."""
    count = prom.value(_delta(f"{metric}_count", sel, start, end)) or 0.0
    result: dict[str, Any] = {"count": int(count), "mean": None, "p50": None, "p95": None}
    if count <= 0:
        return result
    total = prom.value(_delta(f"{metric}_sum", sel, start, end))
    result["mean"] = None if total is None else round(total / count * 1000.0, 3)
    buckets = _delta(f"{metric}_bucket", sel, start, end, by="le")
    for name, q in (("p50", 0.5), ("p95", 0.95)):
        seconds = prom.value(f"histogram_quantile({q}, {buckets})")
        result[name] = None if seconds is None or math.isinf(seconds) else round(seconds * 1000.0, 3)
    return result


def _pods(prom: PromClient, scope: Scope, pod_regex: str, start: float, end: float) -> dict[str, Any]:
    """CPU (millicores, mean over the window per pod) and working-set memory (bytes, peak per pod).

    Each figure carries the real resolution of its series (how often cAdvisor updated it, not the scrape
    interval) and ``short_window`` when the window is shorter: such values rest on at most one update
    and are flagged, never passed off as measured over the window.
    """
    span = max(end - start, 1.0)
    window = f"{math.ceil(span)}s"
    match = f'namespace="{scope.namespace}",pod=~"{pod_regex}",container!="",container!="POD"'
    cpu = prom.by_label(
        f"sum by (pod) (increase(container_cpu_usage_seconds_total{{{match}}}[{window}] @ {end:.3f}))"
        f" / {span:.3f} * 1000",
        "pod",
    )
    memory = prom.by_label(
        f"max by (pod) (max_over_time(container_memory_working_set_bytes{{{match}}}[{window}] @ {end:.3f}))",
        "pod",
    )
    cpu_res = series_resolution(prom, f"container_cpu_usage_seconds_total{{{match}}}", end)
    mem_res = series_resolution(prom, f"container_memory_working_set_bytes{{{match}}}", end)
    found: dict[str, Any] = {
        "pods": len(set(cpu) | set(memory)),
        "cpu_millicores_avg": _mean(cpu.values()),
        "cpu_millicores_max": _max(cpu.values()),
        "memory_bytes_avg": _mean(memory.values()),
        "memory_bytes_max": _max(memory.values()),
        "resolution_s": {"cpu": cpu_res, "memory": mem_res},
        "window_s": round(end - start, 3),
    }
    short = [
        name for name, res in (("cpu", cpu_res), ("memory", mem_res)) if res is not None and end - start < res
    ]
    found["short_window"] = short
    found["per_pod"] = {
        pod: {
            "cpu_millicores": None if "cpu" in short else _round(cpu.get(pod)),
            "memory_bytes": None if "memory" in short else _round(memory.get(pod)),
        }
        for pod in sorted(set(cpu) | set(memory))
    }
    resolution = {"cpu": cpu_res or 0.0, "memory": mem_res or 0.0}
    if short:
        for name, keys in (
            ("cpu", ("cpu_millicores_avg", "cpu_millicores_max")),
            ("memory", ("memory_bytes_avg", "memory_bytes_max")),
        ):
            if name in short:  # not a figure: at most one update fell into the window
                found.update(dict.fromkeys(keys))
        found["flag"] = (
            f"window of {end - start:.1f}s is shorter than the update interval of "
            f"{', '.join(f'{n} ({resolution[n]:g}s)' for n in short)}: those values are not reported "
            "(at most one cAdvisor update fell into the window); measure longer windows"
        )
    return found


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _process(prom: PromClient, scope: Scope, start: float, end: float) -> dict[str, Any]:
    """CPU (millicores over the window) and peak resident memory of the scraped server process."""
    sel = f'job="{scope.job}"'
    span = max(end - start, 1e-3)
    cpu = prom.value(f"({_delta('process_cpu_seconds_total', sel, start, end)}) / {span:.3f} * 1000")
    window = f"{max(math.ceil(end - start), 1)}s"
    rss = prom.value(f"max(max_over_time(process_resident_memory_bytes{{{sel}}}[{window}] @ {end:.3f}))")
    return {
        "cpu_millicores": None if cpu is None else round(cpu, 1),
        "memory_bytes_max": None if rss is None else int(rss),
    }


def _nonzero(counts: dict[str, float]) -> dict[str, float]:
    """Statuses that occurred in the window (the embedded server pre-creates every status series)."""
    return {status: count for status, count in counts.items() if count}


def _mean(values: Any) -> float | None:
    items = list(values)
    return round(sum(items) / len(items), 3) if items else None


def _max(values: Any) -> float | None:
    items = list(values)
    return round(max(items), 3) if items else None
