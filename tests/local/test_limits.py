"""Throttles (429 per minute and concurrent), LocalConfig.benchmark() and the Prometheus /metrics."""

from __future__ import annotations

import re

import requests

from pytest_openwhisk.local.config import LocalConfig
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.local.throttle import Throttle
from pytest_openwhisk.wait import wait_until

from .conftest import FAIL, SLEEP, ServerFactory


def _freeze_clock(server: LocalOpenWhisk, at: float = 6000.0) -> None:
    """Pin the throttle's clock inside one calendar minute (no flake at a minute boundary)."""
    assert server.server is not None
    server.server.controller.throttle.clock = lambda: at


def test_per_minute_throttle_is_429_with_the_charged_count(make_server: ServerFactory) -> None:
    server, api = make_server(invocations_per_minute=3)
    _freeze_clock(server)
    api.put_action("a")
    assert [api.invoke("a").status_code for _ in range(3)] == [200, 200, 200]
    throttled = api.invoke("a")
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "Too many requests in the last minute (count: 4, allowed: 3)."
    again = api.invoke("missing-action")  # the throttle is charged before the action is looked up
    assert again.json()["error"] == "Too many requests in the last minute (count: 5, allowed: 3)."
    assert api.get("/activations", params={"count": "true"}).json() == {"activations": 3}
    _freeze_clock(server, at=6060.0)  # next calendar minute
    assert api.invoke("a").status_code == 200


def test_concurrent_throttle_is_429(make_server: ServerFactory) -> None:
    _server, api = make_server(concurrent_invocations=2)
    api.put_action("slow", code=SLEEP)
    ids = [api.invoke("slow", {"ms": 800}, blocking=False).json()["activationId"] for _ in range(2)]
    throttled = api.invoke("slow", {"ms": 1})
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "Too many concurrent requests in flight (count: 2, allowed: 2)."
    wait_until(lambda: all(api.activation(i).ok for i in ids), what="slow activations", timeout=30)
    assert api.invoke("slow", {"ms": 1}).status_code == 200


def test_throttle_unit_rate_then_concurrency() -> None:
    now = [120.0]
    throttle = Throttle(per_minute=2, concurrent=1, clock=lambda: now[0])
    assert throttle.check("ns") is None
    throttle.begin("ns")
    assert throttle.check("ns") == (
        "ConcurrentRateLimit",
        "Too many concurrent requests in flight (count: 1, allowed: 1).",
    )
    throttle.end("ns")
    assert throttle.check("ns") == (
        "TimedRateLimit",
        "Too many requests in the last minute (count: 3, allowed: 2).",
    )
    assert throttle.check("other") is None
    now[0] = 180.0
    assert throttle.check("ns") is None


def test_benchmark_preset_raises_the_throttles() -> None:
    config = LocalConfig.benchmark()
    assert config.port == 0
    assert config.limits.invocations_per_minute >= 1_000_000
    assert config.limits.concurrent_invocations >= 1_000


def test_metrics_use_openwhisk_names(make_server: ServerFactory) -> None:
    server, api = make_server(invocations_per_minute=3)
    _freeze_clock(server)
    api.put_action("a")
    api.put_action("f", code=FAIL)
    api.invoke("a")
    api.invoke("a")
    api.invoke("f")
    api.invoke("a")  # 429
    text = requests.get(api.apihost + "/metrics", timeout=10).text  # no auth, like OpenWhisk's /metrics

    def value(pattern: str) -> float:
        match = re.search("^" + pattern + r" ([0-9.e+]+)$", text, re.MULTILINE)
        assert match, pattern
        return float(match.group(1))

    labels = 'action="a",initiator="guest",kind="python:3.11",memory="256",namespace="guest"'
    assert value(f"openwhisk_action_activations_total{{{labels}}}") == 2
    assert value('openwhisk_action_coldStarts_total{action="a",initiator="guest",namespace="guest"}') == 1
    assert (
        value(
            'openwhisk_action_status_total{action="f",initiator="guest",namespace="guest",'
            'status="application error"}'
        )
        == 1
    )
    assert (
        value('openwhisk_action_waitTime_seconds_count{action="a",initiator="guest",namespace="guest"}') == 2
    )
    assert (
        value('openwhisk_action_initTime_seconds_count{action="a",initiator="guest",namespace="guest"}') == 1
    )
    assert (
        value('openwhisk_action_duration_seconds_count{action="f",initiator="guest",namespace="guest"}') == 1
    )
    assert value('openwhisk_action_limit_timed_total{namespace="guest"}') == 1
    assert value("openwhisk_local_activations_inflight") == 0
    assert value('openwhisk_local_containers{state="idle"}') == 1
    assert value('openwhisk_local_pool_memory_mb{kind="budget"}') == 2048
    assert server.auth.split(":")[1] not in text
