"""pytest-benchmark integration: one benchmark entry per Measurement, extra_info, machine_info fingerprint.

Each :class:`~pytest_openwhisk.measure.Measurement` is appended to pytest-benchmark's session as its
own :class:`MeasurementBenchmark` (a ``pytest_benchmark.stats.Metadata``) whose stats are the
per-invocation client latencies in seconds. pytest-benchmark then saves, compares, prints and
regression-checks them like any other benchmark, so ``--benchmark-autosave``, ``--benchmark-json``,
``--benchmark-compare`` and ``--benchmark-compare-fail`` work unchanged.

pytest-benchmark checks ``machine_info`` against the compared run when it loads it, at configure time,
before any cluster runs. :func:`compare_machine_info` takes that check over for runs saved by this
plugin: it remembers the compared run's ``ow_fingerprint`` and :func:`check_compared` compares it with
the backend's once :func:`remember_cluster` captured it, warning (:class:`FingerprintWarning`) only
about fields that really differ.
"""

from __future__ import annotations

import json
import platform
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning
from pytest_benchmark.stats import Metadata, Stats

from pytest_openwhisk.session import SESSION_KEY
from pytest_openwhisk.stats import responded

if TYPE_CHECKING:
    from pytest_openwhisk.measure import Measurement

#: the backend's name, fingerprint and secrets, captured while it runs (session fixtures are torn down
#: before pytest-benchmark writes its JSON at session finish)
CLUSTER_KEY = pytest.StashKey["ClusterInfo"]()
#: machine_info keys that describe the host running pytest, not the cluster (dropped)
HOST_KEYS = ("processor", "machine", "release", "system", "cpu")
MASK = "***"
#: compared runs saved by this plugin whose fingerprint awaits the backend's (see compare_machine_info)
COMPARED_KEY = pytest.StashKey[list["ComparedRun"]]()
#: the python keys of machine_info checked against a compared run besides ow_fingerprint
PYTHON_KEYS = ("python_implementation", "python_version")
#: field names whose values are never printed in a difference (auth keys, tokens, passwords, ...)
SECRET_FIELD = re.compile(r"auth|key|token|secret|passw|credential|cert", re.IGNORECASE)
#: a difference lists at most this many fields (then "... and N more")
MAX_DIFFERENCES = 20
#: a printed value longer than this is shortened with "..."
MAX_VALUE_CHARS = 80
_MISSING = object()


class FingerprintWarning(PytestBenchmarkWarning):
    """The cluster (or Python) of this run differs from the run ``--benchmark-compare`` compares with."""


@dataclass(frozen=True)
class ComparedRun:
    """What :func:`check_compared` needs from a compared run saved by this plugin."""

    label: str
    machine_info: dict[str, Any]


@dataclass(frozen=True)
class ClusterInfo:
    """What the saved JSON needs from the backend after it stopped (``auth`` only to mask it)."""

    name: str
    fingerprint: dict[str, Any]
    auth: str = field(default="", repr=False)


def remember_cluster(config: pytest.Config, backend: Any) -> ClusterInfo:
    """Capture the backend's name, fingerprint and auth once per session (for ``machine_info``)."""
    known = config.stash.get(CLUSTER_KEY, None)
    if known is not None:
        return known
    auth = str(getattr(backend, "auth", "") or "")
    fingerprint = scrub(backend.fingerprint(), _auth_words([auth]))
    info = ClusterInfo(str(getattr(backend, "name", "") or "unknown"), fingerprint, auth)
    config.stash[CLUSTER_KEY] = info
    check_compared(config, info)
    return info


def is_ours(machine_info: object) -> bool:
    """Whether a saved ``machine_info`` was written by this plugin (it has an ``ow_fingerprint`` dict)."""
    return isinstance(machine_info, Mapping) and isinstance(machine_info.get("ow_fingerprint"), Mapping)


@contextmanager
def compare_machine_info(config: pytest.Config, machine_info: dict[str, Any],
                         compared_benchmark: dict[str, Any]) -> Iterator[bool]:
    """Take pytest-benchmark's machine_info check over for a compared run saved by this plugin.

    For the plugin's ``pytest_benchmark_compare_machine_info`` wrapper, around pytest-benchmark's own
    implementation. That one runs at configure time, before the cluster is up, so it would always
    warn "Benchmark machine_info is different". When the compared run has an ``ow_fingerprint``, its
    machine_info is remembered for :func:`check_compared` and, while the wrapped implementations run,
    ``compared_benchmark["machine_info"]`` is the current one (restored afterwards), so pytest-benchmark
    finds nothing to warn about. A run not made by this plugin is left alone: pytest-benchmark compares
    the whole machine_info and warns as usual. Yields whether the check was taken over.
    """
    saved = compared_benchmark.get("machine_info")
    if not is_ours(saved):
        yield False
        return
    assert isinstance(saved, dict)
    label = str(compared_benchmark.get("datetime") or "unknown date")
    pending = config.stash.setdefault(COMPARED_KEY, [])
    pending.append(ComparedRun(label, dict(saved)))
    known = config.stash.get(CLUSTER_KEY, None)
    compared_benchmark["machine_info"] = machine_info
    try:
        yield True
    finally:
        compared_benchmark["machine_info"] = saved
    if known is not None:  # the backend already ran (not the case at configure time): check at once
        check_compared(config, known)


def _show(path: str, value: object) -> str:
    """A value for a difference line: ``***`` for secret-like fields, compact JSON, shortened."""
    if value is _MISSING:
        return "<missing>"
    if SECRET_FIELD.search(path.rpartition(".")[2]):
        return MASK
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def differences(old: object, new: object, path: str = "") -> list[tuple[str, object, object]]:
    """``(dotted path, old, new)`` for every leaf that differs between two JSON-like values.

    Mappings are walked key by key (a key only on one side pairs with ``_MISSING``); anything else,
    lists included, is compared as a whole. Tuples equal lists (a saved file holds lists).
    """
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[tuple[str, object, object]] = []
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            found += differences(old.get(key, _MISSING), new.get(key, _MISSING), child)
        return found
    if isinstance(old, tuple):
        old = list(old)
    if isinstance(new, tuple):
        new = list(new)
    return [] if old == new else [(path, old, new)]


def fingerprint_message(config: pytest.Config, compared: ComparedRun,
                        current: Mapping[str, Any]) -> str | None:
    """The warning text for a compared run whose cluster or Python differs from ``current``; else None.

    ``current`` holds ``node``, ``ow_fingerprint`` and the :data:`PYTHON_KEYS`. One line per differing
    field, ``field: old -> new`` (dotted paths from machine_info, values of secret-like fields as
    ``***``), with every auth key known to the run masked.
    """
    keys = ("node", "ow_fingerprint", *PYTHON_KEYS)
    old = {key: compared.machine_info[key] for key in keys if key in compared.machine_info}
    new = {key: current[key] for key in keys if key in current}
    found = differences(old, new)
    if not found:
        return None
    lines = [f"  {path}: {_show(path, a)} -> {_show(path, b)}" for path, a, b in found[:MAX_DIFFERENCES]]
    if len(found) > MAX_DIFFERENCES:
        lines.append(f"  ... and {len(found) - MAX_DIFFERENCES} more")
    text = (f"Benchmark cluster differs from the compared run ({compared.label}) in "
            f"{len(found)} field(s), so timings may not be comparable:\n" + "\n".join(lines))
    return str(scrub(text, secrets_of(config)))


def check_compared(config: pytest.Config, cluster: ClusterInfo) -> list[str]:
    """Warn once per compared run whose fingerprint or Python differs from this run's; return the texts.

    Called by :func:`remember_cluster` once the backend's fingerprint is known (and by
    :func:`compare_machine_info` if it already was). Each pending compared run is checked only once.
    """
    pending = config.stash.get(COMPARED_KEY, [])
    if not pending:
        return []
    config.stash[COMPARED_KEY] = []
    current: dict[str, Any] = {"node": cluster.name, "ow_fingerprint": cluster.fingerprint,
                               "python_implementation": platform.python_implementation(),
                               "python_version": platform.python_version()}
    current = json.loads(json.dumps(current, default=str))  # as it would be saved (tuples -> lists)
    messages = [m for m in (fingerprint_message(config, run, current) for run in pending) if m]
    for message in messages:
        warnings.warn(FingerprintWarning(message), stacklevel=2)
    return messages


class MeasurementBenchmark(Metadata):
    """A pytest-benchmark entry built from a Measurement instead of a timed Python loop."""

    def __init__(self, *, name: str, fullname: str, group: str | None, param: str | None,
                 params: Mapping[str, Any] | None, extra_info: dict[str, Any], latencies_s: Iterable[float],
                 options: dict[str, Any]) -> None:
        # Metadata.__init__ copies these from a BenchmarkFixture; we have none, so set them directly.
        self.name = name
        self.fullname = fullname
        self.group = group
        self.param = param
        self.params = dict(params) if params is not None else None
        self.extra_info = extra_info
        self.cprofile_stats = None  # type: ignore[assignment]  # no profile: as_dict() skips it
        self.iterations = 1
        self.options = options
        self.fixture = None
        self.stats = Stats()  # type: ignore[no-untyped-call]  # pytest-benchmark is untyped
        for value in latencies_s:
            self.stats.update(value)  # type: ignore[no-untyped-call]

    @property
    def has_error(self) -> bool:
        """Never: a measurement with failed invocations is still a valid measurement."""
        return False


def benchmark_session(config: pytest.Config) -> Any | None:
    """pytest-benchmark's ``BenchmarkSession`` (registered as plugin ``pytest-benchmark``), or None."""
    return config.pluginmanager.get_plugin("pytest-benchmark")


def _auth_words(auths: Iterable[object]) -> list[str]:
    """Each ``uuid:key`` auth and its key part (longest first), the strings to mask."""
    found: set[str] = set()
    for auth in auths:
        if isinstance(auth, str) and auth:
            found.add(auth)
            key = auth.partition(":")[2]
            if len(key) >= 8:
                found.add(key)
    return sorted(found, key=len, reverse=True)


def secrets_of(config: pytest.Config) -> list[str]:
    """The auth keys known to this run (settings, running backend, remembered cluster) to mask."""
    session = config.stash.get(SESSION_KEY, None)
    known = config.stash.get(CLUSTER_KEY, None)
    auths: list[object] = [known.auth if known else None]
    if session is not None:
        auths += [getattr(session.backend, "auth", None), getattr(session.settings, "auth", None)]
    return _auth_words(auths)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``value`` (JSON-like) with every occurrence of a secret string replaced by ``***``."""
    words = [s for s in secrets if s]
    if not words:
        return value
    if isinstance(value, str):
        for word in words:
            value = value.replace(word, MASK)
        return value
    if isinstance(value, Mapping):
        return {scrub(k, words): scrub(v, words) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, words) for v in value]
    return value


def raw_samples(measurement: Measurement) -> dict[str, list[Any]]:
    """``ow_samples``: per-invocation columns in invocation order (None where a sample has no record)."""
    samples = measurement.samples
    return {
        "latency_ms": [s.latency_ms for s in samples],
        "duration_ms": [s.duration_ms for s in samples],
        "wait_ms": [s.wait_ms for s in samples],
        "init_ms": [s.init_ms for s in samples],
        "cold": [int(s.cold) for s in samples],
        "error": [int(not s.ok) for s in samples],
    }


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


def _with_label(base: str, label: str) -> str:
    """``test_x`` + ``warm`` -> ``test_x[warm]``; ``test_x[a]`` + ``warm`` -> ``test_x[a-warm]``."""
    if base.endswith("]") and "[" in base:
        return f"{base[:-1]}-{label}]"
    return f"{base}[{label}]"


def record_measurement(config: pytest.Config, fixture: Any,
                       measurement: Measurement) -> MeasurementBenchmark | None:
    """Append ``measurement`` to pytest-benchmark's session as its own benchmark; return the entry.

    ``fixture`` is the test's ``BenchmarkFixture`` (name, fullname, group, params, disabled). Nothing is
    recorded under ``--benchmark-disable`` (or xdist), or when no invocation got an HTTP response.
    """
    session = benchmark_session(config)
    if session is None or fixture is None or getattr(fixture, "disabled", False):
        return None
    latencies = [s.latency_ms / 1000.0 for s in responded(measurement.samples)]
    if not latencies:
        return None
    options = {"timer": "time.perf_counter", "disable_gc": False, "min_rounds": len(latencies),
               "min_time": 0, "max_time": 0, "warmup": measurement.extra.get("warmup", False),
               "ow_mode": measurement.mode}
    entry = MeasurementBenchmark(
        name=_with_label(fixture.name, measurement.name),
        fullname=_with_label(fixture.fullname, measurement.name),
        group=fixture.group if fixture.group is not None else fixture.name,
        param=fixture.param,
        params=fixture.params,
        extra_info=scrub(extra_info(measurement), secrets_of(config)),
        latencies_s=latencies,
        options=options,
    )
    session.benchmarks.append(entry)
    return entry


def generate_machine_info(config: pytest.Config) -> dict[str, Any]:
    """pytest-benchmark's machine_info without the host probe (``py-cpuinfo`` takes ~1.5 s per save).

    Only the ``python_*`` keys and ``node``; :func:`update_machine_info` then adds the cluster.
    """
    return {
        "node": platform.node(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
    }


def update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Replace the host view in ``machine_info`` with the cluster's fingerprint (in place).

    Host keys (``processor``, ``machine``, ``release``, ``system``, ``cpu``) are dropped, ``python_*``
    keys stay, ``node`` becomes the backend name and ``ow_fingerprint`` holds ``backend.fingerprint()``
    (captured by :func:`remember_cluster` while the backend ran) with any auth key masked. Before any
    backend ran (pytest-benchmark computes machine_info for ``--benchmark-compare`` at configure
    time) only ``node`` is set, from ``--ow-cluster``.
    """
    for key in HOST_KEYS:
        machine_info.pop(key, None)
    known = config.stash.get(CLUSTER_KEY, None)
    session = config.stash.get(SESSION_KEY, None)
    if known is None and session is not None and session.backend is not None:
        known = remember_cluster(config, session.backend)
    if known is not None:
        machine_info["node"] = known.name
        machine_info["ow_fingerprint"] = scrub(known.fingerprint, secrets_of(config))
    elif session is not None:
        machine_info["node"] = session.settings.cluster


def scrub_json(config: pytest.Config, output_json: dict[str, Any]) -> None:
    """Mask every auth key in a pytest-benchmark JSON document before it is written (in place).

    For the plugin's ``pytest_benchmark_update_json`` hook: a last line of defence over the whole
    document (machine_info, commit_info, extra_info, params).
    """
    secrets = secrets_of(config)
    if secrets:
        cleaned = scrub(output_json, secrets)
        output_json.clear()
        output_json.update(cleaned)
