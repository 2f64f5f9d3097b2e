"""One pytest-benchmark entry per :class:`~pytest_openwhisk.measure.runners.Measurement`.

Each measurement is appended to pytest-benchmark's session (the ``pytest-benchmark`` plugin's
``benchmarks`` list) as a ``pytest_benchmark.stats.Metadata`` built through its own constructor, from
an :class:`EntrySource` standing in for the ``BenchmarkFixture`` it normally copies from; its stats are
the per-invocation client latencies in seconds. pytest-benchmark then saves, compares, prints and
regression-checks them like any other benchmark, so ``--benchmark-autosave``, ``--benchmark-json``,
``--benchmark-compare`` and ``--benchmark-compare-fail`` work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from pytest_benchmark.stats import Metadata

from pytest_openwhisk.measure.machine import secrets_of
from pytest_openwhisk.measure.scrub import scrub
from pytest_openwhisk.samples import SAMPLE_COLUMNS
from pytest_openwhisk.stats import responded

if TYPE_CHECKING:
    from pytest_openwhisk.measure.runners import Measurement


@dataclass
class EntrySource:
    """What ``Metadata(fixture, iterations, options)`` reads from its fixture, for one measurement.

    ``has_error`` is False: a measurement with failed invocations is still a valid measurement.
    """

    name: str
    fullname: str
    group: str | None
    param: str | None
    params: dict[str, Any] | None
    extra_info: dict[str, Any] = field(default_factory=dict)
    cprofile_stats: None = None
    has_error: bool = False


def benchmark_session(config: pytest.Config) -> Any | None:
    """pytest-benchmark's ``BenchmarkSession`` (registered as plugin ``pytest-benchmark``), or None."""
    return config.pluginmanager.get_plugin("pytest-benchmark")


def raw_samples(measurement: Measurement) -> dict[str, list[Any]]:
    """``ow_samples``: every :data:`~pytest_openwhisk.samples.SAMPLE_COLUMNS` column in invocation order."""
    return {name: [s.column(name) for s in measurement.samples] for name in SAMPLE_COLUMNS}


def extra_info(measurement: Measurement) -> dict[str, Any]:
    """The ``extra_info`` of one measurement's benchmark entry (see docs/architecture.md)."""
    info: dict[str, Any] = {
        "ow_mode": measurement.mode,
        "ow_action": measurement.action,
        "ow_summary": measurement.summary(),
        "ow_samples": raw_samples(measurement),
        "ow_slo": [v.to_dict() for v in measurement.slo],
    }
    monitoring = measurement.extra.get("monitoring")
    if monitoring:
        info["ow_monitoring"] = monitoring
    rest = {key: value for key, value in measurement.extra.items() if key != "monitoring"}
    if rest:
        info["ow_extra"] = rest
    return info


def with_label(base: str, label: str) -> str:
    """``test_x`` + ``warm`` -> ``test_x[warm]``; ``test_x[a]`` + ``warm`` -> ``test_x[a-warm]``."""
    if base.endswith("]") and "[" in base:
        return f"{base[:-1]}-{label}]"
    return f"{base}[{label}]"


def record_measurement(config: pytest.Config, fixture: Any, measurement: Measurement) -> Metadata | None:
    """Append ``measurement`` to pytest-benchmark's session as its own benchmark; return the entry.

    ``fixture`` is the test's ``BenchmarkFixture`` (name, fullname, group, params, disabled). Nothing is
    recorded under ``--benchmark-disable`` (or xdist), or when no invocation got an HTTP response.
    """
    if fixture is None or fixture.disabled:
        return None
    session = benchmark_session(config)
    if session is None:
        return None
    latencies = [s.latency_ms / 1000.0 for s in responded(measurement.samples)]
    if not latencies:
        return None
    options = {
        "timer": "time.perf_counter",
        "disable_gc": False,
        "min_rounds": len(latencies),
        "min_time": 0,
        "max_time": 0,
        "warmup": measurement.extra.get("warmup", False),
        "ow_mode": measurement.mode,
    }
    source = EntrySource(
        name=with_label(fixture.name, measurement.name),
        fullname=with_label(fixture.fullname, measurement.name),
        group=fixture.group if fixture.group is not None else fixture.name,
        param=fixture.param,
        params=dict(fixture.params) if fixture.params is not None else None,
        extra_info=scrub(extra_info(measurement), secrets_of(config)),
    )
    entry = Metadata(source, 1, options)  # type: ignore[no-untyped-call]  # pytest-benchmark is untyped
    for value in latencies:
        entry.stats.update(value)  # type: ignore[no-untyped-call]
    session.benchmarks.append(entry)
    return entry
