"""Significance tests of the regression gate (pure functions on numpy arrays, seeded, vectorised).

* :func:`bootstrap_compare`: percentile bootstrap of the ratio and the difference of a statistic
  (a percentile or the mean) between two independent samples, with a one-sided bootstrap p-value
  for "current is slower".
* :func:`mann_whitney`: one-sided Mann-Whitney U p-value for "current is shifted upwards".
* :func:`compare_proportions`: one-sided two-proportion test (Fisher exact for small counts, pooled
  z-test otherwise) with a Newcombe hybrid-score interval on the difference.
* :func:`adjust_p_values`: Holm (family-wise error rate) or Benjamini-Hochberg (false discovery rate)
  adjustment of many one-sided p-values.

Confidence intervals are two-sided at ``1 - 2 * alpha`` so that "lower bound above 1" is exactly the
one-sided test at level ``alpha`` the gate applies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

#: at most this many resampled values are held in memory at once (rows x samples)
_CHUNK_VALUES = 2_000_000
#: Fisher's exact test is used when an expected cell count is below this
_FISHER_BELOW = 5.0
#: smallest normal-approximation p-value reported: further out the normal tail says nothing about the data
NORMAL_P_FLOOR = 1e-16
#: accepted names of :func:`adjust_p_values` methods
CORRECTIONS = ("none", "holm", "bh")


@dataclass(frozen=True)
class BootstrapResult:
    """Effect of one statistic between two samples (values in the samples' unit)."""

    base: float  # statistic of the baseline sample
    current: float  # statistic of the current sample
    ratio: float  # current / base
    ratio_low: float  # CI on the ratio (two-sided 1 - 2 alpha)
    ratio_high: float
    diff: float  # current - base
    diff_low: float
    diff_high: float
    p_slower: float  # one-sided bootstrap p-value of H0 "current is not slower"
    p_faster: float  # one-sided bootstrap p-value of H0 "current is not faster"
    resamples: int
    #: p_slower from a normal approximation of the bootstrap log-ratios (continuous, for corrections)
    p_slower_normal: float = 1.0


@dataclass(frozen=True)
class ProportionResult:
    """Two proportions compared (fractions in 0..1)."""

    base: float
    current: float
    k_base: int
    n_base: int
    k_current: int
    n_current: int
    diff: float  # current - base
    diff_low: float  # Newcombe interval, two-sided 1 - 2 alpha
    diff_high: float
    p_higher: float  # one-sided p-value of H0 "current rate is not higher"
    p_lower: float  # one-sided p-value of H0 "current rate is not lower"
    test: str  # "fisher" or "z"


def as_clean_array(values: ArrayLike) -> NDArray[np.float64]:
    """A float64 1-d array without NaN/None entries."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def statistic(values: NDArray[np.float64], quantile: float | None) -> float:
    """The ``quantile`` (0..1, linear interpolation) of ``values``, or their mean when None."""
    if quantile is None:
        return float(np.mean(values))
    return float(np.quantile(values, quantile))


def bootstrap_distribution(
    values: NDArray[np.float64], quantiles: Sequence[float | None], resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Bootstrap replicates of several statistics: array of shape ``(len(quantiles), resamples)``.

    All statistics share the same resamples; memory stays bounded by resampling in chunks.
    """
    n = values.size
    out = np.empty((len(quantiles), resamples), dtype=np.float64)
    chunk = max(1, min(resamples, _CHUNK_VALUES // max(n, 1)))
    percentiles = [q for q in quantiles if q is not None]
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        drawn = values[rng.integers(0, n, size=(stop - start, n))]
        if percentiles:
            computed = np.quantile(drawn, percentiles, axis=1)
        means = drawn.mean(axis=1) if None in quantiles else None
        index = 0
        for row, q in enumerate(quantiles):
            if q is None:
                assert means is not None
                out[row, start:stop] = means
            else:
                out[row, start:stop] = computed[index]
                index += 1
    return out


def bootstrap_compare(
    base: ArrayLike,
    current: ArrayLike,
    quantiles: Sequence[float | None],
    *,
    alpha: float = 0.01,
    resamples: int = 2000,
    seed: int | np.random.SeedSequence = 0,
) -> list[BootstrapResult]:
    """Compare statistics of two independent samples by bootstrap (one result per quantile).

    ``quantiles`` holds fractions (0.95) or None for the mean. Both samples are resampled
    ``resamples`` times with a generator seeded by ``seed`` (same inputs -> same result).
    """
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100, got {resamples!r}")
    b, c = as_clean_array(base), as_clean_array(current)
    if b.size == 0 or c.size == 0:
        raise ValueError(f"both samples need values (base has {b.size}, current has {c.size})")
    rng = np.random.default_rng(seed)
    boot_b = bootstrap_distribution(b, quantiles, resamples, rng)
    boot_c = bootstrap_distribution(c, quantiles, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot_c / boot_b
    diffs = boot_c - boot_b
    results = []
    for row, q in enumerate(quantiles):
        sb, sc = statistic(b, q), statistic(c, q)
        r = ratios[row]
        r = np.where(np.isfinite(r), r, np.where(diffs[row] > 0, np.inf, 1.0))
        r_low, r_high = np.quantile(r, [alpha, 1 - alpha])
        d_low, d_high = np.quantile(diffs[row], [alpha, 1 - alpha])
        not_slower = int(np.count_nonzero(diffs[row] <= 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratios = np.log(boot_c[row]) - np.log(boot_b[row])
        not_faster = int(np.count_nonzero(diffs[row] >= 0))
        results.append(
            BootstrapResult(
                base=sb,
                current=sc,
                ratio=sc / sb if sb > 0 else (math.inf if sc > 0 else 1.0),
                ratio_low=float(r_low),
                ratio_high=float(r_high),
                diff=sc - sb,
                diff_low=float(d_low),
                diff_high=float(d_high),
                p_slower=(not_slower + 1) / (resamples + 1),
                p_faster=(not_faster + 1) / (resamples + 1),
                resamples=resamples,
                p_slower_normal=normal_p_greater(
                    log_ratios if np.all(np.isfinite(log_ratios)) else diffs[row]
                ),
            )
        )
    return results


def normal_p_greater(replicates: NDArray[np.float64]) -> float:
    """One-sided p-value of H0 "effect <= 0" from a normal approximation of bootstrap ``replicates``.

    ``z = mean / sd`` of the replicates (log-ratios or differences) and ``p = 1 - Phi(z)``: the same
    hypothesis as the percentile p-value ``P(replicate <= 0)``, but continuous, so it is not limited to
    multiples of ``1 / resamples`` (needed once a multiple-comparison correction divides alpha).
    Values are floored at :data:`NORMAL_P_FLOOR`.
    """
    mean, sd = float(np.mean(replicates)), float(np.std(replicates, ddof=1)) if replicates.size > 1 else 0.0
    if not math.isfinite(mean) or not math.isfinite(sd):
        return 1.0
    if sd == 0:
        return NORMAL_P_FLOOR if mean > 0 else 1.0
    return max(NORMAL_P_FLOOR, float(sps.norm.sf(mean / sd)))


def adjust_p_values(p_values: Sequence[float], method: str) -> list[float]:
    """Adjust one-sided p-values for multiple comparisons; returns them in the input order.

    * ``"none"``: unchanged.
    * ``"holm"``: Holm's step-down procedure, controls the family-wise error rate (the chance of any
      false alarm) at alpha: sorted ascending, ``p_(i) * (m - i + 1)``, made non-decreasing, capped at 1.
    * ``"bh"``: Benjamini-Hochberg, controls the false discovery rate (the expected share of false alarms
      among flagged rows): ``p_(i) * m / i``, made non-increasing from the largest down, capped at 1.
    """
    if method not in CORRECTIONS:
        raise ValueError(
            f"unknown multiple-comparison correction {method!r}; use one of {', '.join(CORRECTIONS)}"
        )
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if method == "none" or m == 0:
        return [float(v) for v in p]
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)!r}")
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    ranks = np.arange(1, m + 1, dtype=np.float64)
    if method == "holm":
        stepped = np.maximum.accumulate(ranked * (m - ranks + 1))
    else:
        stepped = np.minimum.accumulate((ranked * m / ranks)[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


def mann_whitney(base: ArrayLike, current: ArrayLike) -> float:
    """One-sided Mann-Whitney U p-value for "current tends to be larger than base" (1.0 if undefined)."""
    b, c = as_clean_array(base), as_clean_array(current)
    if b.size == 0 or c.size == 0:
        return 1.0
    if np.ptp(np.concatenate([b, c])) == 0:
        return 1.0  # all values equal: no shift
    result = sps.mannwhitneyu(c, b, alternative="greater")
    return float(result.pvalue)


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of k successes out of n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def compare_proportions(
    k_base: int, n_base: int, k_current: int, n_current: int, *, alpha: float = 0.01
) -> ProportionResult:
    """Test whether the current proportion ``k_current / n_current`` is higher than the baseline's.

    Fisher's exact test (one-sided) when an expected cell count is below 5, otherwise the pooled
    two-proportion z-test. The interval on the difference is Newcombe's hybrid score interval, which
    stays sensible at 0 % and 100 %.
    """
    for name, k, n in (("baseline", k_base, n_base), ("current", k_current, n_current)):
        if n <= 0 or not 0 <= k <= n:
            raise ValueError(f"invalid {name} proportion {k}/{n}: need 0 <= k <= n and n > 0")
    p0, p1 = k_base / n_base, k_current / n_current
    pooled = (k_base + k_current) / (n_base + n_current)
    expected = [pooled * n_base, (1 - pooled) * n_base, pooled * n_current, (1 - pooled) * n_current]
    if min(expected) < _FISHER_BELOW:
        table = [[k_current, n_current - k_current], [k_base, n_base - k_base]]
        p_higher = float(sps.fisher_exact(table, alternative="greater").pvalue)
        p_lower = float(sps.fisher_exact(table, alternative="less").pvalue)
        test = "fisher"
    else:
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_base + 1 / n_current))
        z = (p1 - p0) / se
        p_higher, p_lower = float(sps.norm.sf(z)), float(sps.norm.cdf(z))
        test = "z"
    zc = float(sps.norm.ppf(1 - alpha))
    l0, u0 = _wilson(k_base, n_base, zc)
    l1, u1 = _wilson(k_current, n_current, zc)
    diff = p1 - p0
    low = diff - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return ProportionResult(
        base=p0,
        current=p1,
        k_base=k_base,
        n_base=n_base,
        k_current=k_current,
        n_current=n_current,
        diff=diff,
        diff_low=low,
        diff_high=high,
        p_higher=min(1.0, p_higher),
        p_lower=min(1.0, p_lower),
        test=test,
    )
