"""``--ow-monitoring=on`` on the embedded OpenWhisk: the local backend runs Prometheus, results carry it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.backends.local import LocalBackend
from pytest_openwhisk.errors import BackendError, ToolMissing
from pytest_openwhisk.options import Settings

PROMETHEUS = Path("/usr/bin/prometheus")
needs_prometheus = pytest.mark.skipif(
    not PROMETHEUS.exists(),
    reason="/usr/bin/prometheus is not installed; run `bash .ci/setup` (apt-get install prometheus)",
)
#: plugins in-process pytester runs do not need (each costs seconds of re-imports)
FAST = (
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:anyio",
    "-p",
    "no:xdist",
    "-p",
    "no:xdist.looponfail",
    "-p",
    "no:pytest-kind",
    "-p",
    "no:cacheprovider",
)


@needs_prometheus
def test_monitoring_lands_in_the_benchmark_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_mon(ow_action, ow_bench):
            action = ow_action("mon", code="def main(args):\\n    return {'ok': True}\\n", kind="python:3")
            # the warm-up (the cold start) ends just before the window; the backend waits for a fresh
            # scrape after it, so it must not be counted
            warm = ow_bench.warm(action, rounds=3, warmup=1)
            assert warm.extra["monitoring"]["openwhisk"]["activations"] == 3
        """
    )
    result = pytester.runpytest(
        *FAST,
        "--ow-monitoring=on",
        "--ow-prewarm=none",
        "--ow-local-mode=thread",
        "--benchmark-json=out.json",
    )
    result.assert_outcomes(passed=1)
    doc = json.loads((pytester.path / "out.json").read_text())
    [bench] = doc["benchmarks"]
    monitoring = bench["extra_info"]["ow_monitoring"]
    assert monitoring["source"] == "prometheus"
    assert monitoring["backend"] == "local"
    assert monitoring["errors"] == []
    ow = monitoring["openwhisk"]
    assert ow["activations"] == 3
    assert ow["cold_starts"] == 0  # the cold start (no stem cells, --ow-prewarm=none) was the warm-up
    assert ow["init_ms"]["count"] == 0
    assert ow["status"] == {"success": 3}
    assert ow["duration_ms"]["count"] == 3
    assert monitoring["baseline_at"] <= monitoring["start"]
    assert 0.5 <= monitoring["resolution_s"] <= 2.0  # the local Prometheus scrapes every second
    assert set(monitoring["resources"]["server"]) == {"cpu_millicores", "memory_bytes_max"}


def _no_prometheus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_missing_prometheus_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_prometheus(monkeypatch, pytester.path)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(*FAST, "--ow-monitoring=on")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --ow-cluster=local cannot start:",
            "  - 'prometheus' was not found on PATH (needed by --ow-monitoring); install it with "
            "`sudo apt-get install prometheus` (Debian/Ubuntu) or `bash .ci/setup`*; "
            "or drop --ow-monitoring=on",
        ]
    )


def test_missing_prometheus_stops_the_half_started_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_prometheus(monkeypatch, tmp_path)
    backend = LocalBackend(Settings(monitoring=True, prewarm=(), local_mode="thread"), tmp_path)
    with pytest.raises(ToolMissing, match=r"bash \.ci/setup"):
        backend.__enter__()
    assert backend.server is None  # the embedded server was stopped again


@needs_prometheus
def test_prometheus_is_stopped_with_the_backend(tmp_path: Path) -> None:
    backend = LocalBackend(Settings(monitoring=True, prewarm=(), local_mode="thread"), tmp_path)
    with backend:
        prom: Any = backend._prom
        assert prom is not None
        assert prom.client is not None
        assert prom.client.ready()
        client = prom.client
    assert backend._prom is None
    with pytest.raises(Exception):  # noqa: B017, PT011 - connection refused: Prometheus is gone
        client.ready()
    assert backend.monitor(0.0, 1.0) == {}


@needs_prometheus
def test_first_scrape_failure_stops_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_openwhisk.monitoring.prometheus import LocalPrometheus

    started: list[LocalPrometheus] = []
    real_enter = LocalPrometheus.__enter__

    def enter(self: LocalPrometheus) -> LocalPrometheus:
        started.append(self)
        return real_enter(self)

    def never(self: LocalPrometheus, timeout: float = 30.0) -> None:
        raise BackendError("injected: no first scrape")

    monkeypatch.setattr(LocalPrometheus, "__enter__", enter)
    monkeypatch.setattr(LocalPrometheus, "wait_first_scrape", never)
    backend = LocalBackend(Settings(monitoring=True, prewarm=(), local_mode="thread"), tmp_path)
    with pytest.raises(BackendError, match="injected"):
        backend.__enter__()
    [prom] = started
    assert prom._proc is None  # terminated by the backend's cleanup
    assert backend._prom is None
    assert backend.server is None
