"""The PromQL path against a real local Prometheus (Debian ``prometheus``) scraping a local /metrics."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, start_http_server

from pytest_openwhisk.errors import BackendError, StartupTimeout, ToolMissing
from pytest_openwhisk.monitoring.collect import (
    Scope,
    _pods,
    catch_up,
    scrape_resolution,
    series_resolution,
    window_metrics,
)
from pytest_openwhisk.monitoring.kepler import energy_window
from pytest_openwhisk.monitoring.prometheus import (
    JOB,
    LocalPrometheus,
    PromClient,
    find_prometheus,
    free_port,
    scrape_config,
    scraped_after,
)
from pytest_openwhisk.wait import wait_until

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="the prometheus binary is not installed; run `bash .ci/setup` (apt-get install prometheus)",
)
LABELS = ("namespace", "initiator", "action")


class FakeOpenWhiskMetrics:
    """OpenWhisk user-events metrics served by prometheus_client on a loopback port."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.activations = Counter(
            "openwhisk_action_activations", "n", (*LABELS, "kind", "memory"), registry=self.registry
        )
        self.cold = Counter("openwhisk_action_coldStarts", "n", LABELS, registry=self.registry)
        self.status = Counter("openwhisk_action_status", "n", (*LABELS, "status"), registry=self.registry)
        buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
        self.wait = Histogram(
            "openwhisk_action_waitTime_seconds", "s", LABELS, buckets=buckets, registry=self.registry
        )
        self.init = Histogram(
            "openwhisk_action_initTime_seconds", "s", LABELS, buckets=buckets, registry=self.registry
        )
        self.duration = Histogram(
            "openwhisk_action_duration_seconds", "s", LABELS, buckets=buckets, registry=self.registry
        )
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", registry=self.registry)
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def activation(
        self, action: str, *, cold: bool, wait_s: float, duration_s: float, ok: bool = True
    ) -> None:
        labels = ("guest", "guest", f"guest/{action}")
        self.activations.labels(*labels, "python:3", "256").inc()
        self.status.labels(*labels, "success" if ok else "application_error").inc()
        self.wait.labels(*labels).observe(wait_s)
        self.duration.labels(*labels).observe(duration_s)
        if cold:
            self.cold.labels(*labels).inc()
            self.init.labels(*labels).observe(0.3)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def target() -> Iterator[FakeOpenWhiskMetrics]:
    metrics = FakeOpenWhiskMetrics()
    yield metrics
    metrics.close()


@pytest.fixture(scope="module")
def prometheus(
    target: FakeOpenWhiskMetrics, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    """One server for the module: Prometheus applies scrape targets ~5 s after start."""
    with LocalPrometheus(target.url, tmp_path_factory.mktemp("prom"), scrape_interval=1.0) as prom:
        prom.wait_first_scrape()
        yield prom


@needs_prometheus
def test_window_metrics_counts_activations_cold_starts_and_histograms(
    target: FakeOpenWhiskMetrics, prometheus: LocalPrometheus
) -> None:
    # activity before the window must not be counted
    target.activation("before", cold=True, wait_s=0.02, duration_s=0.02)
    prometheus.wait_scraped_after(time.time())
    start = time.time()
    for i in range(10):  # series of "hello" appear inside the window
        target.activation("hello", cold=i < 2, wait_s=0.02, duration_s=0.04, ok=i != 9)
    end = time.time()
    assert prometheus.client is not None
    result = window_metrics(prometheus.client, start, end, backend="local")

    ow = result["openwhisk"]
    assert result["errors"] == []
    assert ow["activations"] == 10
    assert ow["cold_starts"] == 2
    assert ow["status"] == {"success": 9, "application_error": 1}
    assert ow["wait_ms"]["count"] == 10
    assert ow["wait_ms"]["mean"] == pytest.approx(20.0, rel=1e-6)
    assert 10.0 < ow["wait_ms"]["p50"] <= 25.0  # inside the (10ms, 25ms] bucket
    assert 25.0 < ow["duration_ms"]["p95"] <= 50.0
    assert ow["init_ms"]["count"] == 2
    assert result["evaluated_at"] >= end
    server = result["resources"]["server"]
    assert server["memory_bytes_max"] > 1_000_000  # this pytest process, via the process collector
    assert server["cpu_millicores"] is not None
    assert server["cpu_millicores"] >= 0


@needs_prometheus
def test_activity_just_before_an_opened_window_is_not_counted(
    target: FakeOpenWhiskMetrics, prometheus: LocalPrometheus
) -> None:
    for _ in range(4):  # a warm-up right before the window, no scrape in between
        target.activation("warmed", cold=True, wait_s=0.01, duration_s=0.01)
    start = prometheus.open_window()
    target.activation("warmed", cold=False, wait_s=0.01, duration_s=0.01)
    end = time.time()
    assert prometheus.client is not None
    result = window_metrics(prometheus.client, start, end, scope=Scope(backend="local", action="warmed"))
    assert result["errors"] == []
    assert result["openwhisk"]["activations"] == 1
    assert result["openwhisk"]["cold_starts"] == 0
    assert result["openwhisk"]["duration_ms"]["count"] == 1
    assert start - 1.5 < result["baseline_at"] <= start  # the fresh scrape taken by open_window
    assert result["evaluated_at"] >= end
    assert 0.5 <= result["resolution_s"] <= 2.0  # the scrape interval (1 s)


@needs_prometheus
def test_window_metrics_restricted_to_one_action(
    target: FakeOpenWhiskMetrics, prometheus: LocalPrometheus
) -> None:
    start = time.time()
    target.activation("a.b", cold=True, wait_s=0.01, duration_s=0.01)
    target.activation("axb", cold=False, wait_s=0.01, duration_s=0.01)
    end = time.time()
    assert prometheus.client is not None
    result = window_metrics(prometheus.client, start, end, scope=Scope(backend="local", action="a.b"))
    assert result["openwhisk"]["activations"] == 1  # the dot is literal, not a regex wildcard
    assert result["openwhisk"]["cold_starts"] == 1


@needs_prometheus
def test_empty_window_gives_zero_counts_and_no_quantiles(prometheus: LocalPrometheus) -> None:
    start = end = time.time()
    assert prometheus.client is not None
    ow = window_metrics(prometheus.client, start, end, scope=Scope(action="never-invoked"))["openwhisk"]
    assert ow["activations"] is None  # no series at all: nothing to report
    assert ow["wait_ms"] == {"count": 0, "mean": None, "p50": None, "p95": None}


@needs_prometheus
def test_bad_query_names_expression_and_error(prometheus: LocalPrometheus) -> None:
    assert prometheus.client is not None
    with pytest.raises(BackendError, match=r"Prometheus rejected query 'sum\(' \(HTTP 400\): .*parse error"):
        prometheus.client.query("sum(")


@needs_prometheus
def test_prometheus_exits_on_bad_target_config(tmp_path: Path) -> None:
    with pytest.raises(
        BackendError, match=r"invalid scrape target 'ftp://x'; use http\(s\)://host:port/path"
    ):
        LocalPrometheus("ftp://x", tmp_path).__enter__()


@needs_prometheus
def test_first_scrape_timeout_names_target(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    with LocalPrometheus(dead, tmp_path, scrape_interval=0.2) as prom:
        with pytest.raises(StartupTimeout, match=rf"first successful scrape of {dead} not ready after 1s"):
            prom.wait_first_scrape(timeout=1)
        proc = prom._proc
    assert proc is not None
    assert proc.poll() is not None  # stopped on exit


def test_missing_prometheus_binary_names_install_step() -> None:
    with pytest.raises(ToolMissing) as info:
        find_prometheus("prometheus-not-installed-here")
    assert str(info.value) == (
        "'prometheus-not-installed-here' was not found on PATH (needed by --ow-monitoring); install it with "
        "`sudo apt-get install prometheus` (Debian/Ubuntu) or `bash .ci/setup`, or put a release from "
        "https://prometheus.io/download/ on PATH"
    )


def test_unreachable_prometheus_is_a_backend_error() -> None:
    client = PromClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(BackendError, match=r"did not answer query 'up'"):
        client.query("up")


def test_scrape_config_is_loopback_target_with_interval() -> None:
    config = scrape_config("http://127.0.0.1:3233/metrics", 1.0)
    assert config["global"]["scrape_interval"] == "1000ms"
    job = config["scrape_configs"][0]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:3233"]}]
    assert job["metrics_path"] == "/metrics"


def test_prometheus_that_exits_at_startup_fails_fast(tmp_path: Path) -> None:
    """A server that never becomes ready: the message names it (uses a fake prometheus executable)."""
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\necho 'bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"prometheus exited with code 3 at startup: bad flag"):
        LocalPrometheus(
            "http://127.0.0.1:1/metrics", tmp_path / "w", binary=str(fake), startup_timeout=20
        ).__enter__()
    assert time.monotonic() - started < 5  # an exited server fails fast, not at the deadline


class SlowCadvisor:
    """cAdvisor-like series of one action pod, updated every ``period`` seconds (scraped every second)."""

    def __init__(self, registry: CollectorRegistry, period: float = 2.0) -> None:
        from prometheus_client import Gauge

        labels = ("namespace", "pod", "container")
        self.cpu = Counter("container_cpu_usage_seconds", "s", labels, registry=registry)
        self.memory = Gauge("container_memory_working_set_bytes", "b", labels, registry=registry)
        self.period = period
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pod = ("openwhisk", "wskowdev-invoker-00-1-guest-x", "user-action")
        step = 0
        while not self.stop.wait(self.period):  # bounded by stop()
            step += 1
            self.cpu.labels(*pod).inc(0.1)
            self.memory.labels(*pod).set(50_000_000 + step)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@needs_prometheus
def test_short_windows_are_flagged_with_the_series_real_resolution(
    prometheus: LocalPrometheus, target: FakeOpenWhiskMetrics
) -> None:
    """Defect 7: the scrape interval is 1 s but the series change every 2 s; a 1 s window is flagged."""
    slow = SlowCadvisor(target.registry)
    try:
        client = prometheus.client
        assert client is not None
        resolution = wait_until(
            lambda: series_resolution(
                client, 'container_cpu_usage_seconds_total{namespace="openwhisk"}', time.time()
            ),
            what="three updates of the slow series",
            timeout=30,
            interval=0.5,
        )
        assert 1.5 <= resolution <= 2.8
        assert scrape_resolution(client, f'up{{job="{JOB}"}}', time.time() - 5, time.time()) == pytest.approx(
            1.0, abs=0.5
        )
        end = time.time()
        found = _pods(client, Scope(backend="kind", namespace="openwhisk"), "wsk.*", end - 1.0, end)
        assert found["short_window"] == ["cpu", "memory"]
        assert "shorter than the update interval" in found["flag"]
        assert found["cpu_millicores_avg"] is None  # flagged, not reported as a figure
        assert found["memory_bytes_max"] is None
        assert found["per_pod"] == {
            "wskowdev-invoker-00-1-guest-x": {"cpu_millicores": None, "memory_bytes": None}
        }
        assert found["resolution_s"]["cpu"] >= 1.5
        longer = _pods(client, Scope(backend="kind", namespace="openwhisk"), "wsk.*", end - 8.0, end)
        assert longer["short_window"] == []
        assert "flag" not in longer
        assert longer["memory_bytes_max"] >= 50_000_000
        assert longer["per_pod"]["wskowdev-invoker-00-1-guest-x"]["cpu_millicores"] > 0
    finally:
        slow.close()


@needs_prometheus
def test_window_closes_when_counters_catch_up(
    prometheus: LocalPrometheus, target: FakeOpenWhiskMetrics
) -> None:
    """Defect 8: events that reach the counters after the window end are waited for (or a stated deadline)."""
    client = prometheus.client
    assert client is not None
    scope = Scope(backend="local", job=JOB, action="late")
    start = prometheus.open_window()
    end = time.time()
    closed = scraped_after(client, end, scope.up_selector(), 30)

    def late_events() -> None:
        for _ in range(3):
            target.activation("late", cold=False, wait_s=0.01, duration_s=0.01)

    timer = threading.Timer(1.5, late_events)
    timer.start()
    try:
        at, why = catch_up(client, scope, start, closed, sent=3, timeout=30)
    finally:
        timer.join(5)
    assert why == "counters caught up with the 3 invocations sent"
    assert client.value(f'sum(openwhisk_action_activations_total{{action=~".*late"}} @ {at:.3f})') == 3
    at, why = catch_up(client, scope, start, closed, sent=5, timeout=2)
    assert why == "deadline 2s after the window end: counted 3 activations of 5 sent"
    at, why = catch_up(client, scope, start, closed, sent=None, timeout=30)
    assert why == "counters stable over two evaluations 1 s apart"


@needs_prometheus
def test_kepler_joules_per_invocation_and_short_windows(
    prometheus: LocalPrometheus, target: FakeOpenWhiskMetrics
) -> None:
    """Issue 14 on clusters: joules of the action pods over the window / activations, never invented."""
    joules = Counter(
        "kepler_container_joules", "J", ("container_namespace", "pod_name"), registry=target.registry
    )
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):  # bounded by stop
            joules.labels("openwhisk", "wskowdev-invoker-00-7-guest-e").inc(2.0)
            joules.labels("other", "wskowdev-invoker-00-8-guest-e").inc(
                100.0
            )  # another namespace: not counted

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    client = prometheus.client
    assert client is not None
    try:
        wait_until(
            lambda: (
                (
                    series_resolution(client, 'kepler_container_joules_total{pod_name=~"wsk.*"}', time.time())
                    or 0
                )
                > 0
            ),
            what="kepler updates",
            timeout=30,
            interval=0.5,
        )
        end = time.time()
        found = energy_window(client, "openwhisk", end - 6.0, end, activations=4)
        assert found["metric"] == "kepler_container_joules_total"
        assert 6.0 <= found["joules"] <= 16.0  # 2 J per second over ~6 s, at scrape granularity
        assert found["joules_per_invocation"] == pytest.approx(found["joules"] / 4)
        short = energy_window(client, "openwhisk", end - 0.2, end, activations=1)
        assert short["joules"] is None
        assert "shorter than Kepler's update interval" in short["flag"]
        missing = energy_window(client, "nowhere-ns", end - 6.0, end, activations=1)
        assert missing["joules"] is None
        assert "nowhere-ns" in missing["why"]
    finally:
        stop.set()
        thread.join(5)


def test_energy_is_unavailable_with_the_reason() -> None:
    from pytest_openwhisk.kube.deploy import energy_unavailable
    from pytest_openwhisk.options import Settings

    none = energy_unavailable(Settings(cluster="kind"))
    assert none == {
        "source": "none",
        "available": False,
        "why": "no energy source on this cluster: add --ow-energy=kepler --ow-monitoring=on",
    }
    settings = Settings(cluster="kind")
    object.__setattr__(settings, "energy", "kepler")  # the option lands in options.py (CORE)
    assert "needs --ow-monitoring=on" in energy_unavailable(settings)["why"]
