"""Gate specifications: ``"p95:5%,p99:10%,cold_ratio:2%,error_rate:1%"`` -> :class:`GateRule` list.

Distribution metrics (``p50``, ``p99.9``, ``mean``, ``max``, optionally prefixed by the sample series
``latency_``, ``duration_``, ``wait_``, ``init_`` or a cost series ``cpu_`` (CPU ms), ``memory_`` (MB),
``energy_`` (J): ``cpu_p50``, ``memory_max``) take a *relative* threshold (``5%``: the current value may
be at most 5 % higher) or an *absolute* one in the series' unit (``3ms``, ``20mb``, ``0.5j``).
Proportions (``cold_ratio``, ``error_rate``) take an absolute threshold in percentage points (``1%``: the
error rate may rise by at most one point).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: sample series a distribution metric may read -> its key in ``extra_info.ow_samples`` and its unit
SERIES = {
    "latency": ("latency_ms", "ms"),
    "duration": ("duration_ms", "ms"),
    "wait": ("wait_ms", "ms"),
    "init": ("init_ms", "ms"),
    "cpu": ("cpu_ms", "ms"),
    "memory": ("memory_mb", "mb"),
    "energy": ("energy_j", "j"),
}
#: proportion metrics (keys of ``extra_info.ow_samples`` holding 0/1 flags)
PROPORTIONS = {"cold_ratio": "cold", "error_rate": "error"}
#: the gate the compare command reports when no ``--gate`` is given
DEFAULT_REPORT_SPEC = "p50:5%,p95:5%,p99:10%,cold_ratio:2%,error_rate:1%"

_LATENCY = re.compile(
    rf"^(?:(?P<series>{'|'.join(SERIES)})_)?(?P<stat>p(?P<q>\d{{1,2}}(?:\.\d+)?)|mean|max)$"
)
_THRESHOLD = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>%|ms|mb|j)$")
_HELP = (
    "use METRIC:THRESHOLD pairs separated by commas, e.g. p95:5%,p99:10%,cpu_p50:5%,memory_max:10%,"
    "error_rate:1%; METRIC is pNN, pNN.N, mean or max (optionally prefixed latency_, duration_, wait_, "
    "init_, cpu_, memory_ or energy_), cold_ratio or error_rate; THRESHOLD is a percentage (5%) or, for "
    "distribution metrics, an amount in the series' unit (3ms, cpu 2ms, memory 20mb, energy 0.5j)"
)


class GateSpecError(ValueError):
    """A gate specification could not be parsed (the message names the value and the fix)."""


@dataclass(frozen=True)
class GateRule:
    """One metric of the gate and how much it may get worse before the gate fails."""

    metric: str  # canonical name as written by the user, e.g. "p95", "duration_p50", "error_rate"
    threshold: float  # fraction (0.05) for relative/proportion thresholds, milliseconds for absolute
    absolute: bool = False  # latency threshold in ms instead of relative

    @property
    def kind(self) -> str:
        """``"proportion"`` for cold_ratio / error_rate, else ``"latency"``."""
        return "proportion" if self.metric in PROPORTIONS else "latency"

    @property
    def series(self) -> str:
        """The ``ow_samples`` key the rule reads (``latency_ms``, ``cold``, ...)."""
        if self.metric in PROPORTIONS:
            return PROPORTIONS[self.metric]
        return SERIES[self.family][0]

    @property
    def family(self) -> str:
        """The series family: latency, duration, wait, init (time), cpu, memory or energy (cost)."""
        match = _LATENCY.match(self.metric)
        assert match is not None
        return match.group("series") or "latency"

    @property
    def unit(self) -> str:
        """The unit of the series' values and of an absolute threshold: ``ms``, ``MB`` or ``J``."""
        if self.metric in PROPORTIONS:
            return "pp"
        return {"ms": "ms", "mb": "MB", "j": "J"}[SERIES[self.family][1]]

    @property
    def quantile(self) -> float | None:
        """The percentile as a fraction (0.95; ``max`` is 1.0), or None for ``mean`` and proportions."""
        match = _LATENCY.match(self.metric)
        if match is None or match.group("stat") == "mean":
            return None
        if match.group("stat") == "max":
            return 1.0
        return float(match.group("q")) / 100.0

    def describe(self) -> str:
        """The threshold as the user wrote it, e.g. ``"+5%"``, ``"+3ms"``, ``"+1.0 pp"``."""
        if self.kind == "proportion":
            return f"+{self.threshold * 100:g} pp"
        if self.absolute:
            return f"+{self.threshold:g}{self.unit}"
        return f"+{self.threshold * 100:g}%"

    def __str__(self) -> str:
        value = (
            f"{self.threshold:g}{SERIES[self.family][1]}" if self.absolute else f"{self.threshold * 100:g}%"
        )
        return f"{self.metric}:{value}"


def parse_rule(text: str) -> GateRule:
    """Parse one ``METRIC:THRESHOLD`` item; raise :class:`GateSpecError` naming the bad part."""
    item = text.strip()
    metric, sep, threshold = item.partition(":")
    metric, threshold = metric.strip().lower(), threshold.strip().lower()
    if not sep or not metric or not threshold:
        raise GateSpecError(f"invalid gate item {item!r}: expected METRIC:THRESHOLD; {_HELP}")
    latency = _LATENCY.match(metric)
    if latency is None and metric not in PROPORTIONS:
        raise GateSpecError(f"invalid gate metric {metric!r} in {item!r}; {_HELP}")
    if latency is not None and latency.group("q") is not None:
        q = float(latency.group("q"))
        if not 0 < q < 100:
            raise GateSpecError(
                f"invalid percentile {metric!r} in {item!r}: must be between p0 and p100 "
                f"(exclusive), e.g. p50, p95, p99.9"
            )
    match = _THRESHOLD.match(threshold)
    if match is None:
        raise GateSpecError(f"invalid gate threshold {threshold!r} in {item!r}; {_HELP}")
    value, unit = float(match.group("value")), match.group("unit")
    if unit != "%":
        if metric in PROPORTIONS:
            raise GateSpecError(
                f"invalid gate threshold {threshold!r} in {item!r}: {metric} is a "
                f"proportion, give percentage points, e.g. {metric}:1%"
            )
        assert latency is not None
        wanted = SERIES[latency.group("series") or "latency"][1]
        if unit != wanted:
            raise GateSpecError(
                f"invalid gate threshold {threshold!r} in {item!r}: {metric} is measured in {wanted}; "
                f"give e.g. {metric}:5% or {metric}:{2 if wanted != 'j' else 0.5}{wanted}"
            )
        return GateRule(metric, value, absolute=True)
    if value >= 100 and metric in PROPORTIONS:
        raise GateSpecError(
            f"invalid gate threshold {threshold!r} in {item!r}: a proportion cannot rise by "
            f"100 points or more; use e.g. {metric}:1%"
        )
    return GateRule(metric, value / 100.0)


def parse_gate(specs: str | Iterable[str]) -> list[GateRule]:
    """Parse one or more comma lists into rules; a metric given twice keeps its last threshold."""
    texts = [specs] if isinstance(specs, str) else list(specs)
    rules: dict[str, GateRule] = {}
    for text in texts:
        items = [part for part in text.split(",") if part.strip()]
        if not items:
            raise GateSpecError(f"empty gate specification {text!r}; {_HELP}")
        for part in items:
            rule = parse_rule(part)
            rules[rule.metric] = rule
    return list(rules.values())
