"""``/metrics`` activation figures are plain numbers per action, rendered at scrape time: the samples must
be exactly what prometheus_client's own Counter and Histogram give for the same observations."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from pytest_openwhisk.local.metrics import BUCKETS, Metrics
from pytest_openwhisk.local.types import STATUS_STRINGS

LABELS = ("namespace", "initiator", "action")
OBSERVATIONS = [  # (action, status, wait ms, init ms, duration ms)
    ("a", 0, 0, 25, 3),
    ("a", 0, 1, None, 1),
    ("a", 1, 5, None, 1000),
    ("pkg/b", 2, 2500, None, 400_000),  # above the last finite bucket
    ("pkg/b", 3, 1, 1, 0),
]


def _samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), round(s.value, 9))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
        and s.name.startswith("openwhisk_action_")
        and "limit" not in s.name
    }


def _reference() -> str:
    r = CollectorRegistry()
    activations = Counter("openwhisk_action_activations", "", [*LABELS, "kind", "memory"], registry=r)
    cold = Counter("openwhisk_action_coldStarts", "", LABELS, registry=r)
    status = Counter("openwhisk_action_status", "", [*LABELS, "status"], registry=r)
    hist = {
        name: Histogram(f"openwhisk_action_{name}_seconds", "", LABELS, buckets=BUCKETS, registry=r)
        for name in ("waitTime", "initTime", "duration")
    }
    for action, code, wait, init, duration in OBSERVATIONS:
        labels = ("guest", "guest", action)
        activations.labels(*labels, "python:3.11", "256").inc()
        cold.labels(*labels)
        hist["initTime"].labels(*labels)
        for text in STATUS_STRINGS.values():
            status.labels(*labels, text)
        status.labels(*labels, STATUS_STRINGS[code]).inc()
        if init is not None:
            cold.labels(*labels).inc()
            hist["initTime"].labels(*labels).observe(init / 1000)
        hist["waitTime"].labels(*labels).observe(wait / 1000)
        hist["duration"].labels(*labels).observe(duration / 1000)
    from prometheus_client import generate_latest

    return generate_latest(r).decode()


def test_activation_metrics_match_prometheus_client() -> None:
    metrics = Metrics(dict, lambda: 0)
    for action, code, wait, init, duration in OBSERVATIONS:
        metrics.observe(
            namespace="guest",
            initiator="guest",
            action=action,
            kind="python:3.11",
            memory_mb=256,
            status_code=code,
            wait_ms=wait,
            init_ms=init,
            duration_ms=duration,
        )
    ours = _samples(metrics.render().decode())
    assert ours == _samples(_reference())
    assert (
        "openwhisk_action_duration_seconds_bucket",
        (("action", "pkg/b"), ("initiator", "guest"), ("le", "+Inf"), ("namespace", "guest")),
        2.0,
    ) in ours
