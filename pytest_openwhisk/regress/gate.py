"""Evaluate a gate: every benchmark present in both runs x every rule -> :class:`Comparison` rows.

A latency rule fails ("REGRESSION") only when the slowdown is significant (the one-sided bootstrap
test at ``alpha``: the lower bound of the ratio's ``1 - 2 alpha`` interval is above 1) **and** the
point estimate exceeds the threshold. A proportion rule fails when the one-sided two-proportion test
is significant and the rise exceeds the threshold (percentage points). The Mann-Whitney U p-value of
the whole-distribution shift is reported next to each latency row.

With a multiple-comparison ``correction`` (``holm`` or ``bh``, default ``none``) the one-sided "worse"
p-values of all gated rows of the run are adjusted together and a row is significant when its
*adjusted* p-value is below ``alpha``. Latency rows then use the continuous normal-approximation
p-value of the bootstrap log-ratios (:func:`stats.normal_p_greater`) instead of the percentile
bootstrap p-value, whose resolution of ``1 / resamples`` is too coarse for divided thresholds.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from pytest_openwhisk.regress import stats
from pytest_openwhisk.regress.fingerprint import Difference
from pytest_openwhisk.regress.load import Benchmark, Run
from pytest_openwhisk.regress.spec import GateRule

REGRESSION = "REGRESSION"
SLOWER = "slower"  # significant, within the threshold
FASTER = "faster"  # significantly better
SAME = "no change"
FEW = "too few samples"
ONLY_BASE = "only in baseline"
ONLY_CURRENT = "new"

DEFAULT_ALPHA = 0.01
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20_240_607
DEFAULT_MIN_SAMPLES = 20
DEFAULT_CORRECTION = "none"
CORRECTIONS = stats.CORRECTIONS


@dataclass(frozen=True)
class Comparison:
    """One benchmark x one rule."""

    benchmark: str
    rule: GateRule | None  # None for benchmarks present in one run only
    verdict: str
    reason: str
    base: float | None = None  # metric value (ms, or fraction for proportions)
    current: float | None = None
    effect: float | None = None  # ratio (relative latency), ms (absolute) or fraction points (proportion)
    low: float | None = None  # interval on the effect (two-sided 1 - 2 alpha)
    high: float | None = None
    p_value: float | None = None  # the gate's one-sided test
    shift_p: float | None = None  # Mann-Whitney U, latency rules only
    n_base: int = 0
    n_current: int = 0
    p_adjusted: float | None = None  # p_value after the run's multiple-comparison correction (None: none)

    @property
    def failed(self) -> bool:
        """True when this row makes the gate fail."""
        return self.verdict == REGRESSION


@dataclass
class GateReport:
    """Everything the terminal table, the HTML report and the exit code need."""

    base: Run
    current: Run
    rules: list[GateRule]
    alpha: float
    resamples: int
    seed: int
    correction: str = DEFAULT_CORRECTION
    comparisons: list[Comparison] = field(default_factory=list)
    fingerprint_differences: list[Difference] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Comparison]:
        """Rows with verdict REGRESSION."""
        return [c for c in self.comparisons if c.failed]

    @property
    def passed(self) -> bool:
        """True when no row failed."""
        return not self.failures


@dataclass(frozen=True)
class _Pending:
    """A tested row whose verdict waits for the run-wide p-value adjustment."""

    row: Comparison  # verdict and reason filled in by :func:`_finish`
    change: str  # "+8.1%", "+2.10ms" or "1.0% -> 4.0% (+3.0 pp, z)"
    p_worse: float
    p_better: float
    over: bool  # the point estimate is beyond the threshold

    @property
    def rule(self) -> GateRule | None:
        """The row's rule (for ordering)."""
        return self.row.rule


def _seed_for(seed: int, benchmark: str, series: str) -> np.random.SeedSequence:
    """A stable per-benchmark seed: results do not depend on benchmark order."""
    return np.random.SeedSequence([seed, zlib.crc32(benchmark.encode()), zlib.crc32(series.encode())])


def _min_for(rule: GateRule, min_samples: int) -> int:
    """Samples each side needs: ``min_samples`` and, for pNN, at least one value beyond the percentile."""
    q = rule.quantile
    if q is None or q >= 1.0:
        return min_samples
    return max(min_samples, math.ceil(1 / (1 - q) - 1e-9), math.ceil(1 / q - 1e-9))


def _latency_rows(
    name: str,
    base: Benchmark,
    cur: Benchmark,
    rules: Sequence[GateRule],
    alpha: float,
    resamples: int,
    seed: int,
    min_samples: int,
    normal_p: bool,
) -> list[Comparison | _Pending]:
    rows: list[Comparison | _Pending] = []
    by_series: dict[str, list[GateRule]] = {}
    for rule in rules:
        by_series.setdefault(rule.series, []).append(rule)
    for series, group in by_series.items():
        b, c = base.series(series, ok_only=True), cur.series(series, ok_only=True)
        ready = [r for r in group if min(b.size, c.size) >= _min_for(r, min_samples)]
        for rule in group:
            if rule not in ready:
                need = _min_for(rule, min_samples)
                reason = f"{series}: n={b.size}/{c.size}, {rule.metric} needs >= {need} ok samples per run"
                rows.append(Comparison(name, rule, FEW, reason, n_base=b.size, n_current=c.size))
        if not ready:
            continue
        results = stats.bootstrap_compare(
            b,
            c,
            [r.quantile for r in ready],
            alpha=alpha,
            resamples=resamples,
            seed=_seed_for(seed, name, series),
        )
        shift = stats.mann_whitney(b, c)
        for rule, res in zip(ready, results, strict=True):
            rows.append(_latency_pending(name, rule, res, shift, b.size, c.size, normal_p))
    return rows


def _verdict(
    change: str,
    rule: GateRule,
    alpha: float,
    p_worse: float,
    p_better: float,
    over: bool,
    p_adjusted: float | None,
    correction: str,
) -> tuple[str, str]:
    """Verdict and reason of one one-sided comparison (``p_adjusted`` is None without a correction)."""
    p_test = p_worse if p_adjusted is None else p_adjusted
    note = f"p={p_worse:.2g}"
    if p_adjusted is not None:
        note += f", {correction}-adjusted {p_adjusted:.2g}"
    if p_test < alpha and over:
        return REGRESSION, f"{change} is significant ({note} < {alpha:g}) and over {rule.describe()}"
    if p_test < alpha:
        return SLOWER, f"{change} is significant ({note}) but within {rule.describe()}"
    if p_better < alpha:
        return FASTER, f"{change} is a significant improvement"
    return SAME, f"{change} is not significant ({note} >= {alpha:g})"


def _latency_pending(
    name: str, rule: GateRule, res: stats.BootstrapResult, shift: float, nb: int, nc: int, normal_p: bool
) -> _Pending:
    if rule.absolute:
        effect, low, high, over = res.diff, res.diff_low, res.diff_high, res.diff > rule.threshold
        size = f"{res.diff:+.2f}{rule.unit}"
    else:
        effect, low, high = res.ratio, res.ratio_low, res.ratio_high
        over = res.ratio > 1 + rule.threshold
        size = f"{(res.ratio - 1) * 100:+.1f}%"
    p_worse = res.p_slower_normal if normal_p else res.p_slower
    row = Comparison(
        name,
        rule,
        "",
        "",
        base=res.base,
        current=res.current,
        effect=effect,
        low=low,
        high=high,
        p_value=p_worse,
        shift_p=shift,
        n_base=nb,
        n_current=nc,
    )
    return _Pending(row, size, p_worse, res.p_faster, over)


def _proportion_row(
    name: str, base: Benchmark, cur: Benchmark, rule: GateRule, alpha: float
) -> Comparison | _Pending:
    b, c = base.series(rule.series), cur.series(rule.series)
    if b.size == 0 or c.size == 0:
        return Comparison(
            name,
            rule,
            FEW,
            f"no '{rule.series}' samples (n={b.size}/{c.size})",
            n_base=b.size,
            n_current=c.size,
        )
    k_base, k_current = int(np.count_nonzero(b)), int(np.count_nonzero(c))
    res = stats.compare_proportions(k_base, b.size, k_current, c.size, alpha=alpha)
    change = f"{res.base * 100:.1f}% -> {res.current * 100:.1f}% ({res.diff * 100:+.1f} pp, {res.test})"
    row = Comparison(
        name,
        rule,
        "",
        "",
        base=res.base,
        current=res.current,
        effect=res.diff,
        low=res.diff_low,
        high=res.diff_high,
        p_value=res.p_higher,
        n_base=b.size,
        n_current=c.size,
    )
    return _Pending(row, change, res.p_higher, res.p_lower, res.diff > rule.threshold)


def _finish(rows: Sequence[Comparison | _Pending], alpha: float, correction: str) -> list[Comparison]:
    """Adjust the "worse" p-values of all tested rows together, then give every row its verdict."""
    pending = [row for row in rows if isinstance(row, _Pending)]
    adjusted = stats.adjust_p_values([row.p_worse for row in pending], correction)
    by_id = {id(row): p for row, p in zip(pending, adjusted, strict=True)}
    out: list[Comparison] = []
    for row in rows:
        if isinstance(row, Comparison):
            out.append(row)
            continue
        rule = row.row.rule
        assert rule is not None
        p_adj = None if correction == "none" else by_id[id(row)]
        verdict, reason = _verdict(
            row.change, rule, alpha, row.p_worse, row.p_better, row.over, p_adj, correction
        )
        out.append(replace(row.row, verdict=verdict, reason=reason, p_adjusted=p_adj))
    return out


def evaluate(
    base: Run,
    current: Run,
    rules: Sequence[GateRule],
    *,
    alpha: float = DEFAULT_ALPHA,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    correction: str = DEFAULT_CORRECTION,
    fingerprint_differences: Sequence[Difference] = (),
) -> GateReport:
    """Compare every benchmark of ``current`` with the same benchmark (by fullname) of ``base``.

    ``correction`` (``none``, ``holm`` or ``bh``) adjusts the one-sided "worse" p-values of all tested
    rows of the run together before the verdicts (see the module docstring).
    """
    if not rules:
        raise ValueError("a gate needs at least one rule, e.g. p95:5%")
    if correction not in CORRECTIONS:
        raise ValueError(
            f"unknown multiple-comparison correction {correction!r}; use one of {', '.join(CORRECTIONS)}"
        )
    report = GateReport(
        base=base,
        current=current,
        rules=list(rules),
        alpha=alpha,
        resamples=resamples,
        seed=seed,
        correction=correction,
        fingerprint_differences=list(fingerprint_differences),
    )
    rows: list[Comparison | _Pending] = []
    latency = [r for r in rules if r.kind == "latency"]
    proportions = [r for r in rules if r.kind == "proportion"]
    order = {rule: index for index, rule in enumerate(rules)}
    for name in sorted(set(base.benchmarks) | set(current.benchmarks)):
        if name not in current.benchmarks:
            rows.append(Comparison(name, None, ONLY_BASE, "not measured in the current run"))
            continue
        if name not in base.benchmarks:
            rows.append(Comparison(name, None, ONLY_CURRENT, "no baseline to compare with"))
            continue
        b, c = base.benchmarks[name], current.benchmarks[name]
        if not b.samples or not c.samples:
            rows.append(
                Comparison(
                    name,
                    None,
                    FEW,
                    "no raw samples (pytest-openwhisk ow_samples, or --benchmark-save-data for "
                    "plain pytest-benchmark benchmarks)",
                )
            )
            continue
        found = (
            _latency_rows(name, b, c, latency, alpha, resamples, seed, min_samples, correction != "none")
            if latency
            else []
        )
        found.extend(_proportion_row(name, b, c, rule, alpha) for rule in proportions)
        rows.extend(sorted(found, key=lambda row: order[row.rule] if row.rule else -1))
    report.comparisons = _finish(rows, alpha, correction)
    return report
