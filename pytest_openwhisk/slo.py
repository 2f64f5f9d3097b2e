"""Service-level objectives: parse targets such as ``p99="250ms"`` or ``error_rate="1%"`` and evaluate them.

Metric names (every one is an upper bound except ``throughput``, a lower bound):

- ``p50 p75 p90 p95 p99 max mean``: client latency of every sample that got an HTTP response;
- the same statistics with a prefix:
  ``server_`` (activation duration + waitTime), ``duration_`` (activation duration), ``wait_`` (waitTime),
  ``init_`` (initTime, cold starts only), ``overhead_`` (client latency - duration),
  ``cold_start_`` (client latency of cold samples only), ``warm_`` (client latency of warm samples only);
- what an invocation costs (from the activation record's ``pytest-openwhisk/cost`` annotation), the
  same statistics with a prefix ``cpu_ms_`` (CPU time, a duration: ``cpu_ms_p95="50ms"``),
  ``memory_mb_`` (peak memory: ``memory_mb_max="256MB"``) or ``energy_j_`` (``energy_j_mean="2J"``);
- ``cold_ratio`` and ``error_rate``: percentages such as ``"5%"``;
- ``throughput``: minimum completed invocations per time, ``"800/s"`` or ``"6000/min"``.

Durations use the grammar of :func:`pytest_openwhisk.parsers.parse_duration`: ``"500ms"``, ``".5s"``,
``"1.5s"``, ``"2m"``, ``"1h"``. Bare numbers are refused because ``p99=250`` is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError, SloViolation
from pytest_openwhisk.parsers import InvalidValue, parse_duration
from pytest_openwhisk.samples import Sample
from pytest_openwhisk.stats import client_throughput_rps, field_values, mean, percentile

#: statistics of a distribution a target may bound
STATISTICS = ("p50", "p75", "p90", "p95", "p99", "max", "mean")
#: metric prefix -> (sample field, population: "all" | "cold" | "warm")
FAMILIES: Mapping[str, tuple[str, str]] = {
    "": ("latency", "all"),
    "server_": ("server", "all"),
    "duration_": ("duration", "all"),
    "wait_": ("wait", "all"),
    "init_": ("init", "cold"),
    "overhead_": ("overhead", "all"),
    "cold_start_": ("latency", "cold"),
    "warm_": ("latency", "warm"),
    "cpu_ms_": ("cpu", "all"),
    "memory_mb_": ("memory", "all"),
    "energy_j_": ("energy", "all"),
}
#: metric prefix -> value kind, where not a duration
KINDS: Mapping[str, str] = {"memory_mb_": "memory", "energy_j_": "energy"}
RATES = ("cold_ratio", "error_rate")
THROUGHPUT = "throughput"
#: every accepted metric name
METRICS: tuple[str, ...] = (
    *(prefix + stat for prefix in FAMILIES for stat in STATISTICS),
    *RATES,
    THROUGHPUT,
)
#: metrics evaluated on cold-mode measurements (the rest describe warm or mixed traffic)
COLD_MODE_PREFIXES = ("cold_start_", "init_")

EXAMPLE = '@pytest.mark.ow_slo(p95="250ms", cold_start_p99="2s", error_rate="1%", throughput="50/s")'
ALLOWED = (
    f"{' '.join(STATISTICS)} (client latency), the same with a prefix "
    f"{', '.join(p for p in FAMILIES if p)} (e.g. cold_start_p95), or {', '.join(RATES)}, {THROUGHPUT}"
)

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(mb|gb|m|g)\s*$", re.IGNORECASE)
_ENERGY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(mj|j|kj)\s*$", re.IGNORECASE)
_JOULES_PER_UNIT = {"mj": 0.001, "j": 1.0, "kj": 1000.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*%\s*$")
_THROUGHPUT = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*(s|sec|min)\s*$")


class SloConfigError(ConfigError, ValueError):
    """An SLO target has an unknown metric name or an invalid value."""


@dataclass(frozen=True)
class Target:
    """One parsed SLO target; ``value`` is in ms (durations), a fraction (rates) or per second."""

    metric: str
    raw: str  # as written, e.g. "250ms"
    value: float
    kind: str  # "duration" | "rate" | "throughput" | "memory" | "energy"

    @property
    def lower_bound(self) -> bool:
        """True when the observed value must reach the target (throughput) instead of staying below it."""
        return self.kind == "throughput"

    def met(self, observed: float) -> bool:
        """Whether ``observed`` satisfies this target."""
        return observed >= self.value if self.lower_bound else observed <= self.value


@dataclass(frozen=True)
class Verdict:
    """The outcome of one target on one set of samples; ``observed`` is None when no sample applied."""

    metric: str
    target: str
    observed: float | None  # ms, fraction or per second, like Target.value
    samples: int
    ok: bool
    kind: str = "duration"

    def to_dict(self) -> dict[str, Any]:
        """The ``ow_slo`` entry: ``{metric, target, observed, samples, ok}``."""
        return {
            "metric": self.metric,
            "target": self.target,
            "observed": self.observed,
            "samples": self.samples,
            "ok": self.ok,
        }

    @property
    def observed_text(self) -> str:
        """The observed value formatted in the target's unit (``"no samples"`` when absent)."""
        if self.observed is None:
            return "no samples"
        if self.kind == "rate":
            return f"{self.observed * 100:.2f}%"
        if self.kind == "throughput":
            return f"{self.observed:.1f}/s"
        if self.kind == "memory":
            return f"{self.observed:.1f}MB"
        if self.kind == "energy":
            return f"{self.observed:.3f}J"
        return f"{self.observed:.2f}ms"


def _bad(metric: str, value: object, expected: str, example: str) -> SloConfigError:
    return SloConfigError(f"invalid SLO value {metric}={value!r}: {expected}; use e.g. {metric}={example}")


def parse_duration_ms(metric: str, value: object) -> float:
    """Parse a duration target (``"500ms"``, ``".5s"``, ``"1.5s"``, ``"2m"``, ``"1h"``) into milliseconds."""
    if isinstance(value, str):
        try:
            return parse_duration(value) * 1000.0
        except InvalidValue:
            pass
    raise _bad(metric, value, "a duration needs a unit (ms, s, m or h)", '"250ms", ".5s", "1.5s" or "2m"')


def parse_rate(metric: str, value: object) -> float:
    """Parse a percentage such as ``"1%"`` or ``"0.5%"`` into a fraction (0..1)."""
    match = _RATE.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) > 100:
        raise _bad(metric, value, "a rate is a percentage from 0% to 100%", '"1%" or "0.5%"')
    return float(match.group(1)) / 100.0


def parse_throughput(metric: str, value: object) -> float:
    """Parse ``"800/s"`` or ``"6000/min"`` into invocations per second."""
    match = _THROUGHPUT.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(metric, value, "a throughput is invocations per second or minute", '"800/s" or "6000/min"')
    per_second = float(match.group(1))
    return per_second / 60.0 if match.group(2) == "min" else per_second


def parse_memory_mb(metric: str, value: object) -> float:
    """Parse ``"256MB"``, ``"1.5GB"``, ``"512m"`` or ``"1g"`` into megabytes (a unit is required)."""
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(metric, value, "a memory size needs a unit (MB or GB)", '"256MB" or "1GB"')
    return float(match.group(1)) * (1024.0 if match.group(2).lower().startswith("g") else 1.0)


def parse_energy_j(metric: str, value: object) -> float:
    """Parse ``"2J"``, ``"500mJ"`` or ``"1.5kJ"`` into joules (a unit is required)."""
    match = _ENERGY.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(metric, value, "an energy needs a unit (mJ, J or kJ)", '"2J" or "500mJ"')
    return float(match.group(1)) * _JOULES_PER_UNIT[match.group(2).lower()]


def parse_target(metric: str, value: object) -> Target:
    """Parse one ``metric=value`` pair; raises :class:`SloConfigError` naming the value and the fix."""
    if metric not in METRICS:
        raise SloConfigError(f"unknown SLO metric {metric!r}; allowed: {ALLOWED}. Example: {EXAMPLE}")
    if metric in RATES:
        return Target(metric, str(value), parse_rate(metric, value), "rate")
    if metric == THROUGHPUT:
        return Target(metric, str(value), parse_throughput(metric, value), "throughput")
    kind = KINDS.get(metric.rsplit("_", 1)[0] + "_", "duration")
    if kind == "memory":
        return Target(metric, str(value), parse_memory_mb(metric, value), kind)
    if kind == "energy":
        return Target(metric, str(value), parse_energy_j(metric, value), kind)
    return Target(metric, str(value), parse_duration_ms(metric, value), "duration")


def parse_targets(targets: Mapping[str, object]) -> list[Target]:
    """Parse every target of a mapping (marker kwargs or ``assert_slo`` kwargs), in the given order."""
    return [parse_target(metric, value) for metric, value in targets.items()]


def applies_to_mode(metric: str, mode: str) -> bool:
    """Whether a target is evaluated on a measurement of ``mode``.

    Cold measurements (every invocation forced cold) answer cold-start metrics (``cold_start_*``,
    ``init_*``) and ``error_rate``; the other metrics describe warm or mixed traffic and are evaluated
    on every other mode (warm, concurrent, open-loop, ...).
    """
    if mode == "cold":
        return metric.startswith(COLD_MODE_PREFIXES) or metric == "error_rate"
    return True


def _population(samples: Sequence[Sample], population: str) -> list[Sample]:
    if population == "cold":
        return [s for s in samples if s.cold]
    if population == "warm":
        return [s for s in samples if not s.cold]
    return list(samples)


def observe(metric: str, samples: Sequence[Sample]) -> tuple[float | None, int]:
    """The observed value of ``metric`` over ``samples`` and how many samples it rests on."""
    if metric == "cold_ratio":
        return (sum(s.cold for s in samples) / len(samples) if samples else None), len(samples)
    if metric == "error_rate":
        return (sum(not s.ok for s in samples) / len(samples) if samples else None), len(samples)
    if metric == THROUGHPUT:
        return client_throughput_rps(samples), len(samples)
    prefix, stat = metric.rsplit("_", 1) if "_" in metric else ("", metric)
    field, population = FAMILIES[f"{prefix}_" if prefix else ""]
    values = field_values(_population(samples, population), field)
    if not values:
        return None, 0
    if stat == "max":
        return max(values), len(values)
    if stat == "mean":
        return mean(values), len(values)
    return percentile(values, float(stat[1:])), len(values)


def evaluate(
    targets: Mapping[str, object] | Iterable[Target], samples: Sequence[Sample], *, skip_empty: bool = False
) -> list[Verdict]:
    """Evaluate targets on samples, one :class:`Verdict` per target in order.

    A target no sample applies to (e.g. ``cold_start_p95`` without cold samples) fails with
    ``observed=None`` ("no samples"), unless ``skip_empty`` drops it from the result.
    """
    parsed = parse_targets(targets) if isinstance(targets, Mapping) else list(targets)
    verdicts: list[Verdict] = []
    for target in parsed:
        observed, count = observe(target.metric, samples)
        if observed is None:
            if skip_empty:
                continue
            verdicts.append(Verdict(target.metric, target.raw, None, count, False, target.kind))
            continue
        ok = target.met(observed)
        verdicts.append(Verdict(target.metric, target.raw, observed, count, ok, target.kind))
    return verdicts


def format_table(verdicts: Sequence[Verdict], title: str = "") -> str:
    """An aligned text table ``metric | target | observed | samples | verdict`` (title line first)."""
    header = ("metric", "target", "observed", "samples", "verdict")
    rows = [
        (v.metric, v.target, v.observed_text, str(v.samples), "PASS" if v.ok else "FAIL") for v in verdicts
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if i in (2, 3) else c.ljust(w) for i, (c, w) in pairs]
        return " | ".join(parts).rstrip()

    lines = [title] if title else []
    lines += [line(header), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)]
    return "\n".join(lines)


def violation_message(verdicts: Sequence[Verdict], where: str = "") -> str:
    """``SLO violated ...`` followed by the table of every verdict (passing ones included)."""
    failed = sum(not v.ok for v in verdicts)
    place = f" in {where}" if where else ""
    return format_table(verdicts, f"SLO violated{place}: {failed} of {len(verdicts)} target(s) missed")


def assert_slo(measurement_or_samples: Any, **targets: object) -> list[Verdict]:
    """Evaluate targets on a Measurement (or a list of samples); raise SloViolation when one is missed.

    Example: ``assert_slo(measurement, p95="250ms", error_rate="1%")``. Every target is evaluated on
    every sample given (no mode filtering); a target no sample applies to fails with "no samples".
    The verdicts are returned and, for a Measurement, appended to its ``slo`` list.
    """
    if not targets:
        raise SloConfigError(
            f"assert_slo() needs at least one target; allowed: {ALLOWED}. Example: {EXAMPLE}"
        )
    samples = getattr(measurement_or_samples, "samples", measurement_or_samples)
    verdicts = evaluate(targets, list(samples))
    slo = getattr(measurement_or_samples, "slo", None)
    if isinstance(slo, list):
        slo.extend(verdicts)
    if not all(v.ok for v in verdicts):
        raise SloViolation(violation_message(verdicts, getattr(measurement_or_samples, "label", "")))
    return verdicts


def marker_targets(item: pytest.Item) -> dict[str, object]:
    """The merged ``ow_slo`` targets of an item (the closest marker wins per metric), unparsed.

    Raises :class:`SloConfigError` when a marker has positional arguments.
    """
    merged: dict[str, object] = {}
    for marker in item.iter_markers("ow_slo"):
        if marker.args:
            raise SloConfigError(
                f"ow_slo takes keyword arguments only, got {marker.args!r}; use e.g. {EXAMPLE}"
            )
        for metric, value in marker.kwargs.items():
            merged.setdefault(metric, value)
    return merged


def validate_slo_markers(items: Iterable[pytest.Item]) -> None:
    """Check every ``ow_slo`` marker at collection; raise ``pytest.UsageError`` naming test, value and fix.

    The plugin calls this from ``pytest_collection_modifyitems``.
    """
    problems: list[str] = []
    for item in items:
        try:
            parse_targets(marker_targets(item))
        except SloConfigError as exc:
            problems.append(f"{item.nodeid}: {exc}")
    if problems:
        raise pytest.UsageError("invalid ow_slo marker:\n  " + "\n  ".join(problems))
