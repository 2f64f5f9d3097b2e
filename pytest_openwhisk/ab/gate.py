"""The A/B gate: paired verdicts per metric for interleaved base/head measurements -> a ``GateReport``.

Each :class:`AbComparison` holds the two measurements of one A/B (sample ``i`` of base and of head form
pair ``i``) and the rules to apply (``--ow-regression`` grammar). :func:`evaluate` turns them into the
regression gate's :class:`~pytest_openwhisk.regress.gate.GateReport`, so the terminal table, the
failure reasons and the HTML report (latency CDFs of both sides) are the regression gate's own. Rows use
:func:`~pytest_openwhisk.ab.paired.compare_paired` (randomization p-value, interval by inverting the
test; ``p50`` rows: the weighted median of the per-pair ratios). The verdict rule is the gate's:
``REGRESSION`` when the one-sided p-value is below ``alpha`` **and** the point estimate is beyond the
threshold.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_openwhisk.ab.paired import PairedResult, compare_paired, complete_pairs
from pytest_openwhisk.regress import stats as regress_stats
from pytest_openwhisk.regress.gate import (
    FASTER,
    FEW,
    ONLY_CURRENT,
    REGRESSION,
    SAME,
    SLOWER,
    Comparison,
    GateReport,
)
from pytest_openwhisk.regress.load import Run, run_from_json
from pytest_openwhisk.regress.spec import GateRule, parse_gate

if TYPE_CHECKING:
    from pytest_openwhisk.measure import Measurement

#: the A/B gate when neither ``--ow-regression`` nor an ``ow_ab`` marker gives one
DEFAULT_AB_SPEC = "p50:3%,p95:5%,cold_ratio:2%,error_rate:1%"
#: fewer complete pairs than this: "too few samples"
MIN_PAIRS = 20
#: verdict of an action that does not exist at the base ref (measured, not gated)
NEW_IN_HEAD = ONLY_CURRENT
_SERIES_KEYS = ("latency_ms", "duration_ms", "wait_ms", "init_ms", "cold", "error")


def default_rules() -> list[GateRule]:
    """The rules of :data:`DEFAULT_AB_SPEC`."""
    return parse_gate(DEFAULT_AB_SPEC)


def sample_columns(measurement: Measurement) -> dict[str, list[Any]]:
    """Per-invocation columns of a measurement (the ``ow_samples`` layout), in invocation order."""
    columns: dict[str, list[Any]] = {key: [] for key in _SERIES_KEYS}
    for s in measurement.samples:
        for key in ("latency_ms", "duration_ms", "wait_ms", "init_ms"):
            columns[key].append(getattr(s, key))
        columns["cold"].append(int(s.cold))
        columns["error"].append(int(not s.ok))
    return columns


@dataclass
class AbComparison:
    """One interleaved A/B: ``base`` and ``head`` measured in pairs (``head`` only when new in head)."""

    name: str  # the row's benchmark name, e.g. "tests/test_x.py::test_a[warm]"
    head: Measurement
    base: Measurement | None = None  # None: the action is new in head (measured, not gated)
    rules: Sequence[GateRule] = field(default_factory=default_rules)
    base_label: str = "base"
    note: str = ""  # why there is no base, e.g. "functions/new.py is new in head (absent at v1.2)"


def _min_pairs(rule: GateRule) -> int:
    q = rule.quantile
    if q is None:
        return MIN_PAIRS
    return max(MIN_PAIRS, math.ceil(1 / (1 - q) - 1e-9), math.ceil(1 / q - 1e-9))


def _seed(seed: int, name: str, metric: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(name.encode()), zlib.crc32(metric.encode())])


def _paired_series(ab: AbComparison, rule: GateRule) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Base and head values of the rule's series per complete pair; NaN where a latency pair is unusable."""
    assert ab.base is not None
    b_cols, h_cols = sample_columns(ab.base), sample_columns(ab.head)
    b, h = complete_pairs(b_cols[rule.series], h_cols[rule.series])
    if rule.kind == "latency":
        be, he = complete_pairs(b_cols["error"], h_cols["error"])
        bad = (be != 0) | (he != 0)
        b[bad], h[bad] = np.nan, np.nan
    return b, h


def container_blocks(ab: AbComparison, pairs: int) -> np.ndarray[Any, Any] | None:
    """Block label per pair when the A/B spread each side over several containers (else None).

    ``run_ab(containers=K)`` records the first pair of every block in ``extra["blocks"]``; the labels
    are re-randomized per block, so a speed difference between two containers is not read as a change.
    """
    assert ab.base is not None
    starts = ab.base.extra.get("blocks")
    if not isinstance(starts, list) or len(starts) < 2:
        return None
    return np.searchsorted(np.asarray(starts), np.arange(pairs), side="right") - 1


def _change(rule: GateRule, res: PairedResult) -> tuple[str, bool]:
    """``("+8.1%", over threshold?)`` for one result."""
    if rule.kind == "proportion":
        text = f"{res.base * 100:.1f}% -> {res.head * 100:.1f}% ({res.effect * 100:+.1f} pp)"
        return text, res.effect > rule.threshold
    if rule.absolute:
        return f"{res.effect:+.2f}ms", res.effect > rule.threshold
    return f"{(res.effect - 1) * 100:+.1f}%", res.effect > 1 + rule.threshold


def verdict(
    rule: GateRule, res: PairedResult, alpha: float, p_worse: float, adjusted: str = ""
) -> tuple[str, str]:
    """Verdict and reason of one paired row (``p_worse`` possibly adjusted, described by ``adjusted``)."""
    change, over = _change(rule, res)
    what = f"{res.pairs} pairs"
    if res.pairwise:
        median = "weighted median" if res.weighted else "median"
        what = f"{median} of {res.pairs} per-pair {'differences' if rule.absolute else 'ratios'}"
    unit = f", randomized per container ({res.blocks} per side)" if res.blocks else ""
    note = f"paired randomization p={res.p_slower:.2g}{adjusted}, {what}{unit}"
    if p_worse < alpha and over:
        return REGRESSION, f"{change} is significant ({note} < {alpha:g}) and over {rule.describe()}"
    if p_worse < alpha:
        return SLOWER, f"{change} is significant ({note}) but within {rule.describe()}"
    if res.p_faster < alpha:
        return FASTER, f"{change} is a significant improvement ({note})"
    return SAME, f"{change} is not significant ({note} >= {alpha:g})"


def _rows(
    ab: AbComparison, alpha: float, resamples: int, seed: int
) -> list[Comparison | tuple[Comparison, GateRule, PairedResult]]:
    """The rows of one A/B: finished ``Comparison``s, or (row, rule, result) awaiting the verdict."""
    if ab.base is None:
        reason = ab.note or "no base measurement to compare with"
        return [Comparison(ab.name, None, NEW_IN_HEAD, reason, n_current=len(ab.head.samples))]
    out: list[Comparison | tuple[Comparison, GateRule, PairedResult]] = []
    for rule in ab.rules:
        b, h = _paired_series(ab, rule)
        usable = int(np.count_nonzero(np.isfinite(b) & np.isfinite(h)))
        need = _min_pairs(rule) if rule.kind == "latency" else MIN_PAIRS
        if usable < need:
            reason = f"{rule.series}: {usable} complete pairs, {rule.metric} needs >= {need}"
            out.append(Comparison(ab.name, rule, FEW, reason, n_base=usable, n_current=usable))
            continue
        blocks = container_blocks(ab, b.size)
        containers = int(blocks.max()) + 1 if blocks is not None else 0
        if containers and 2.0**containers * alpha < 1:
            reason = (
                f"{containers} containers per side: the container-level test needs at least "
                f"{math.ceil(math.log2(1 / alpha))} for alpha {alpha:g} (more rounds, or containers=1)"
            )
            out.append(Comparison(ab.name, rule, FEW, reason, n_base=usable, n_current=usable))
            continue
        relative = rule.kind == "latency" and not rule.absolute
        pairwise = rule.kind == "latency" and rule.quantile == 0.5
        res = compare_paired(
            b,
            h,
            rule.quantile,
            relative=relative,
            alpha=alpha,
            resamples=resamples,
            seed=_seed(seed, ab.name, rule.metric),
            pairwise=pairwise,
            weighted=pairwise,
            blocks=blocks,
        )
        row = Comparison(
            ab.name,
            rule,
            "",
            "",
            base=res.base,
            current=res.head,
            effect=res.effect,
            low=res.low,
            high=res.high,
            p_value=res.p_slower,
            n_base=res.pairs,
            n_current=res.pairs,
        )
        out.append((row, rule, res))
    return out


def runs(
    comparisons: Sequence[AbComparison], base_label: str = "base", head_label: str = "head"
) -> tuple[Run, Run]:
    """The two sides as regression-gate runs (benchmarks keyed by the A/B's name, raw samples kept)."""
    sides: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    for ab in comparisons:
        for side, measurement in (("base", ab.base), ("head", ab.head)):
            if measurement is None:
                continue
            sides[side].append(
                {
                    "name": ab.name,
                    "fullname": ab.name,
                    "group": None,
                    "extra_info": {
                        "ow_mode": measurement.mode,
                        "ow_action": measurement.action,
                        "ow_samples": sample_columns(measurement),
                    },
                }
            )
    return (
        run_from_json({"benchmarks": sides["base"]}, base_label),
        run_from_json({"benchmarks": sides["head"]}, head_label),
    )


def evaluate(
    comparisons: Sequence[AbComparison],
    *,
    alpha: float = 0.01,
    resamples: int = 2000,
    seed: int = 20_240_607,
    correction: str = "none",
    base_label: str = "base",
    head_label: str = "head",
    warnings: Sequence[str] = (),
) -> GateReport:
    """Paired verdicts for every A/B and rule, as a :class:`GateReport` (base run vs head run).

    ``correction`` (``none``, ``holm``, ``bh``) adjusts the one-sided p-values of all tested rows
    together; with a correction the continuous normal approximation of the randomization distribution is
    used (the randomization p-value cannot go below ``1 / (resamples + 1)``).
    """
    if correction not in regress_stats.CORRECTIONS:
        raise ValueError(
            f"unknown multiple-comparison correction {correction!r}; use one of "
            f"{', '.join(regress_stats.CORRECTIONS)}"
        )
    base_run, head_run = runs(comparisons, base_label, head_label)
    rules: dict[str, GateRule] = {}
    for ab in comparisons:
        if ab.base is not None:
            rules.update({rule.metric: rule for rule in ab.rules})
    report = GateReport(
        base=base_run,
        current=head_run,
        rules=list(rules.values()),
        alpha=alpha,
        resamples=resamples,
        seed=seed,
        correction=correction,
        warnings=list(warnings),
    )
    rows = [row for ab in comparisons for row in _rows(ab, alpha, resamples, seed)]
    pending = [row for row in rows if isinstance(row, tuple)]
    normal = correction != "none"
    adjusted = regress_stats.adjust_p_values(
        [res.p_slower_normal if normal else res.p_slower for _, _, res in pending], correction
    )
    adjusted_by_id = {id(row): p for row, p in zip(pending, adjusted, strict=True)}
    finished: list[Comparison] = []
    for row in rows:
        if isinstance(row, Comparison):
            finished.append(row)
            continue
        comparison, rule, res = row
        p_adj = adjusted_by_id[id(row)] if normal else None
        note = f", {correction}-adjusted {p_adj:.2g}" if p_adj is not None else ""
        verdict_text, reason = verdict(rule, res, alpha, res.p_slower if p_adj is None else p_adj, note)
        finished.append(replace(comparison, verdict=verdict_text, reason=reason, p_adjusted=p_adj))
    report.comparisons = finished
    return report


def marker_rules(kwargs: Mapping[str, object], where: str) -> list[GateRule]:
    """Rules of ``@pytest.mark.ow_ab(p50="3%", p95="5%")``; ``ValueError`` naming the bad item."""
    if not kwargs:
        raise ValueError(f'{where}: ow_ab needs at least one metric, e.g. @pytest.mark.ow_ab(p50="3%")')
    items = []
    for metric, threshold in kwargs.items():
        if not isinstance(threshold, str):
            raise ValueError(
                f"{where}: ow_ab({metric}={threshold!r}): give the threshold as a string, e.g. "
                f'{metric}="5%" (or "3ms" for latency metrics)'
            )
        items.append(f"{metric}:{threshold}")
    return parse_gate(",".join(items))
