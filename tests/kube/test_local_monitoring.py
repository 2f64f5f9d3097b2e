"""The same PromQL path on the embedded OpenWhisk: a real Prometheus scraping its /metrics."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.config import LocalConfig
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.monitoring.collect import Scope, window_metrics
from pytest_openwhisk.monitoring.prometheus import LocalPrometheus

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="the prometheus binary is not installed; run `bash .ci/setup` (apt-get install prometheus)",
)


def test_window_metrics_of_embedded_openwhisk(tmp_path: Path) -> None:
    with (
        LocalOpenWhisk(LocalConfig.benchmark()) as ow,
        OpenWhiskClient(ow.apihost, ow.auth, "guest") as client,
    ):
        client.create_action("mon-hello", "def main(args):\n    return {'ok': True}\n", kind="python:default")
        with LocalPrometheus(f"{ow.apihost}/metrics", tmp_path / "prom", scrape_interval=1.0) as prom:
            prom.wait_first_scrape()
            assert prom.client is not None
            client.invoke("mon-hello", {}, blocking=True)  # a warm-up right before the window: the
            client.invoke("mon-hello", {}, blocking=True)  # cold start and one more, not counted
            start = prom.open_window()
            for _ in range(3):
                client.invoke("mon-hello", {}, blocking=True)
            end = time.time()
            result = window_metrics(prom.client, start, end, scope=Scope(action="mon-hello"))
    ow_metrics = result["openwhisk"]
    assert result["errors"] == []
    assert ow_metrics["activations"] == 3
    assert ow_metrics["cold_starts"] == 0  # the cold start (no python stem cell) was before the window
    assert ow_metrics["status"] == {"success": 3}
    assert ow_metrics["init_ms"]["count"] == 0
    assert result["baseline_at"] <= start
    assert ow_metrics["duration_ms"]["count"] == 3
    assert ow_metrics["duration_ms"]["p50"] is not None
