"""Paired statistics of an interleaved A/B run: a randomization test (p-value) and its interval.

An A/B run measures ``n`` pairs: pair ``i`` is one invocation of base and one of head, made back to back
in a random (seeded) order. Invocations of the two sides therefore share the noise of the moment they
were made, and which side came first was decided by a coin.

* **p-value: a randomization test.** Under the null hypothesis "head behaves like base", swapping the
  labels inside a pair gives data that were exactly as likely to be observed, because the order inside
  the pair was itself a coin flip. Re-flipping the labels ``resamples`` times (seeded) and recomputing the
  statistic (the ratio of percentiles, a difference in ms, or a difference of proportions) gives its
  null distribution with no assumption about the noise: drift, bursts and serial correlation move both
  members of a pair alike. The one-sided p-value is ``(1 + #{T* >= T}) / (resamples + 1)``.
* **Pairwise median** (``pairwise=True``, used for ``p50``): the change is the median of the per-pair
  ratios; a swap inverts a pair's ratio. Pairs share the moment's machine state, so this stays precise
  when each side's own median falls between a busy and a quiet mode and jumps with a few invocations.
* **Interval: the test inverted (normal approximation).** A bound ``B`` is an effect the test would just
  reject: head moved to ``B`` (divided by the ratio, or the difference subtracted) and re-randomized
  gives the standard error ``se(B)`` there, and ``|estimate - B| = z(1 - alpha) * se(B)`` (log scale for
  ratios), found from the estimate in two fixed-point steps; two-sided ``1 - 2 alpha``. On 200
  synthetic A/A runs of 200 drifting pairs, 90 % intervals held the true ratio 173-181 times (p50, pairwise
  p50, p95, mean) and the one-sided test at 5 % fired 10-11 times.

Latency rows use the pairs in which both invocations succeeded and have a value of the series (errors
are counted by ``error_rate``); proportion rows (``cold_ratio``, ``error_rate``) use every pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

#: at most this many resampled values are held in memory at once (resamples x pairs)
_CHUNK_VALUES = 2_000_000
#: smallest normal-approximation p-value reported
NORMAL_P_FLOOR = 1e-16

Array = NDArray[np.float64]


@dataclass(frozen=True)
class PairedResult:
    """Change of one statistic between the two sides of paired samples."""

    base: float  # statistic of base (ms, or a fraction for proportions)
    head: float  # statistic of head
    effect: float  # head / base (relative), head - base (absolute or proportion)
    low: float  # interval on the effect, two-sided 1 - 2 alpha (randomization standard error)
    high: float
    p_slower: float  # randomization p-value of H0 "head is not worse"
    p_faster: float  # randomization p-value of H0 "head is not better"
    p_slower_normal: float  # p_slower from a normal approximation of the randomization distribution
    pairs: int  # pairs used
    resamples: int
    pairwise: bool = False  # effect = median of the per-pair ratios (differences)
    weighted: bool = False  # the pairwise median weights pairs by pair_weights
    blocks: int = 0  # labels re-randomized per block of pairs (containers); 0 = pair by pair


def _stat(values: Array, quantile: float | None) -> Array:
    """The statistic along the last axis: a quantile (0..1, linear), or the mean when None."""
    if quantile is None:
        return np.asarray(values.mean(axis=-1), dtype=np.float64)
    return np.asarray(np.quantile(values, quantile, axis=-1), dtype=np.float64)


def _effect(base: Array, head: Array, relative: bool) -> Array:
    """``log(head / base)`` (relative; +-inf handled) or ``head - base``."""
    if not relative:
        return head - base
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(head) - np.log(base)
    return np.where(np.isnan(out), 0.0, out)


def _chunks(total: int, pairs: int) -> list[tuple[int, int]]:
    size = max(1, min(total, _CHUNK_VALUES // max(pairs, 1)))
    return [(start, min(total, start + size)) for start in range(0, total, size)]


def weighted_median(values: Array, weights: Array) -> Array:
    """Weighted median along the last axis (``weights``: one per element of that axis).

    The smallest value whose cumulative weight reaches half the total.
    """
    order = np.argsort(values, axis=-1)
    ordered = np.take_along_axis(values, order, axis=-1)
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64)[order], axis=-1)
    index = np.argmax(cumulative >= cumulative[..., -1:] / 2, axis=-1)
    return np.asarray(np.take_along_axis(ordered, index[..., None], axis=-1)[..., 0], dtype=np.float64)


def pair_weights(base: Array, head: Array) -> Array:
    """Weight of each pair in the weighted pairwise median: ``1 / (base + head)^2``, normalised.

    The same whichever side is which (so re-randomizing the labels leaves it unchanged); pairs measured
    while the machine was busy are slow on both sides and their ratio is noisy, so they count less.
    """
    total = np.abs(base) + np.abs(head)
    weights = 1.0 / np.maximum(total, np.finfo(np.float64).tiny) ** 2
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def trimmed_mean(values: Array) -> Array:
    """Mean along the last axis after dropping its ``n // 5`` smallest and largest values (20 % each side).

    Used across containers: one container pair whose two processes ran at very different speeds moves
    a plain mean by a tenth of that difference; trimmed, it does not.
    """
    ordered = np.sort(values, axis=-1)
    cut = ordered.shape[-1] // 5
    kept = ordered[..., cut : ordered.shape[-1] - cut]
    return np.asarray(kept.mean(axis=-1), dtype=np.float64)


def block_medians(per_pair: Array, weights: Array | None, groups: NDArray[np.intp]) -> tuple[Array, Array]:
    """Per block: the (weighted) median of its per-pair effects, and the same with the labels swapped.

    The pairwise statistic with blocks is the trimmed mean of the blocks' medians
    (:func:`trimmed_mean`): each container pair counts once, however its quiet and busy pairs fall,
    and swapping a block's labels swaps its term.
    """
    count = int(groups.max()) + 1
    plus, minus = np.empty(count), np.empty(count)
    for block in range(count):
        values = per_pair[groups == block]
        if weights is None:
            plus[block], minus[block] = np.median(values), np.median(-values)
        else:
            w = weights[groups == block]
            plus[block], minus[block] = weighted_median(values, w), weighted_median(-values, w)
    return plus, minus


def randomization(
    base: Array,
    head: Array,
    quantile: float | None,
    relative: bool,
    resamples: int,
    rng: np.random.Generator,
    pairwise: bool = False,
    weights: Array | None = None,
    groups: NDArray[np.intp] | None = None,
) -> Array:
    """The statistic's effect on ``resamples`` re-randomizations (labels swapped inside random pairs).

    ``pairwise``: the statistic is the median of the per-pair effects (a swap negates a pair's effect),
    weighted by ``weights`` (one per pair, label-symmetric, e.g. :func:`pair_weights`) when given.
    ``groups`` (a group index ``0..g-1`` per pair): the labels are swapped for whole groups at once
    (every pair measured in the same two containers), not pair by pair; the pairwise statistic is then
    the trimmed mean of the groups' medians (:func:`block_medians`).
    """
    m = base.size
    out = np.empty(resamples, dtype=np.float64)
    per_pair = _effect(base, head, relative) if pairwise else None
    if per_pair is not None and groups is not None:
        plus, minus = block_medians(per_pair, weights, groups)
        for start, stop in _chunks(resamples, plus.size):
            flip = rng.random((stop - start, plus.size)) < 0.5
            out[start:stop] = trimmed_mean(np.where(flip, minus, plus))
        return out
    for start, stop in _chunks(resamples, m):
        if groups is None:
            flip = rng.random((stop - start, m)) < 0.5
        else:
            flip = (rng.random((stop - start, int(groups.max()) + 1)) < 0.5)[:, groups]
        if per_pair is not None:
            flipped = np.where(flip, -per_pair, per_pair)
            if weights is None:
                out[start:stop] = np.median(flipped, axis=1)
            else:
                out[start:stop] = weighted_median(flipped, weights)
            continue
        swapped_base = np.where(flip, head, base)
        swapped_head = np.where(flip, base, head)
        out[start:stop] = _effect(_stat(swapped_base, quantile), _stat(swapped_head, quantile), relative)
    return out


def _normal_p(observed: float, null: Array) -> float:
    """``P(T >= observed)`` under a normal fitted to the randomization distribution ``null``."""
    finite = null[np.isfinite(null)]
    sd = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
    centre = float(np.mean(finite)) if finite.size else 0.0
    if not math.isfinite(observed):
        return NORMAL_P_FLOOR if observed > 0 else 1.0
    if sd == 0:
        return NORMAL_P_FLOOR if observed > centre else 1.0
    return max(NORMAL_P_FLOOR, float(sps.norm.sf((observed - centre) / sd)))


def _entropy(seed: int | np.random.SeedSequence) -> list[int]:
    """Integers that identify ``seed`` (to derive an independent stream for the interval)."""
    if isinstance(seed, np.random.SeedSequence):
        entropy = seed.entropy
        return [int(e) for e in entropy] if isinstance(entropy, Sequence) else [int(entropy or 0)]
    return [int(seed)]


def _interval(
    base: Array,
    head: Array,
    quantile: float | None,
    relative: bool,
    observed: float,
    alpha: float,
    resamples: int,
    rng: np.random.Generator,
    pairwise: bool = False,
    weights: Array | None = None,
    groups: NDArray[np.intp] | None = None,
) -> tuple[float, float]:
    """Each bound solves ``|observed - bound| = z * se(bound)``, se from re-randomizing head moved to it.

    Head is moved to the candidate effect (divided by the ratio, or the difference subtracted) and
    re-randomized; the standard deviation of the statistic is the standard error there. Start at the
    estimate, then two fixed-point steps per bound (the normal approximation of inverting the test).
    """
    z = float(sps.norm.ppf(1 - alpha))

    def se_at(effect: float) -> float:
        moved = head / math.exp(effect) if relative else head - effect
        null = randomization(base, moved, quantile, relative, resamples, rng, pairwise, weights, groups)
        return float(np.std(null, ddof=1))

    start = se_at(observed)
    bounds = []
    for sign in (-1.0, 1.0):
        bound = observed + sign * z * start
        for _ in range(2):
            bound = observed + sign * z * se_at(bound)
        bounds.append(bound)
    return bounds[0], bounds[1]


def compare_paired(
    base: ArrayLike,
    head: ArrayLike,
    quantile: float | None,
    *,
    relative: bool = True,
    alpha: float = 0.01,
    resamples: int = 2000,
    seed: int | np.random.SeedSequence = 0,
    pairwise: bool = False,
    weighted: bool = False,
    blocks: ArrayLike | None = None,
) -> PairedResult:
    """Compare one statistic of paired samples (``base[i]``, ``head[i]`` measured together).

    ``quantile`` is a fraction (0.95) or None for the mean; proportions pass 0/1 flags with
    ``quantile=None, relative=False``. ``pairwise=True`` estimates the change as the median of the
    per-pair ratios (differences when not ``relative``) instead of comparing the two sides' statistics;
    ``weighted=True`` (with ``pairwise``) weights each pair by :func:`pair_weights`. ``base``/``head``
    still report each side's ``quantile``. ``blocks`` (one label per pair, e.g. the container
    generation of :func:`~pytest_openwhisk.ab.runner.run_ab` ``containers=``): the randomization swaps
    the labels of whole blocks, so a speed difference between the two containers of a block counts as
    noise, not as a change; a pairwise change is then the trimmed mean over blocks of each block's
    (weighted) median. Pairs with a non-finite value on either side are dropped. Same inputs and
    seed give the same result.
    """
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100, got {resamples!r}")
    if weighted and not pairwise:
        raise ValueError("weighted=True needs pairwise=True (it weights the per-pair ratios)")
    b = np.asarray(base, dtype=np.float64).ravel()
    h = np.asarray(head, dtype=np.float64).ravel()
    if b.size != h.size:
        raise ValueError(f"paired samples need the same length (base has {b.size}, head has {h.size})")
    keep = np.isfinite(b) & np.isfinite(h)
    groups: NDArray[np.intp] | None = None
    if blocks is not None:
        labels = np.asarray(blocks).ravel()
        if labels.size != b.size:
            raise ValueError(f"blocks needs one label per pair ({b.size} pairs, {labels.size} labels)")
        groups = np.unique(labels[keep], return_inverse=True)[1].astype(np.intp).ravel()
    b, h = b[keep], h[keep]
    if b.size == 0:
        raise ValueError("no pair has a finite value on both sides")
    weights = pair_weights(b, h) if weighted else None
    sb, sh = float(_stat(b, quantile)), float(_stat(h, quantile))
    if pairwise and groups is not None:
        observed = float(trimmed_mean(block_medians(_effect(b, h, relative), weights, groups)[0]))
    elif pairwise:
        per_pair = _effect(b, h, relative)
        observed = float(np.median(per_pair) if weights is None else weighted_median(per_pair, weights))
    else:
        observed = float(_effect(np.array(sb), np.array(sh), relative))
    null = randomization(
        b, h, quantile, relative, resamples, np.random.default_rng(seed), pairwise, weights, groups
    )
    tolerance = 1e-12 * max(1.0, abs(observed))
    p_slower = (1 + int(np.count_nonzero(null >= observed - tolerance))) / (resamples + 1)
    p_faster = (1 + int(np.count_nonzero(null <= observed + tolerance))) / (resamples + 1)
    finite = math.isfinite(observed)
    if finite:
        low, high = _interval(
            b,
            h,
            quantile,
            relative,
            observed,
            alpha,
            max(100, resamples // 4),
            np.random.default_rng(np.random.SeedSequence([*_entropy(seed), 1])),
            pairwise,
            weights,
            groups,
        )
    else:
        low = high = observed
    if pairwise:
        effect = math.exp(observed) if relative else observed
        low, high = (math.exp(low), math.exp(high)) if relative and finite else (low, high)
    elif relative:
        effect = sh / sb if sb > 0 else (math.inf if sh > 0 else 1.0)
        low, high = (math.exp(low), math.exp(high)) if finite else (effect, effect)
    else:
        effect = sh - sb
    return PairedResult(
        base=sb,
        head=sh,
        effect=effect,
        low=low,
        high=high,
        p_slower=min(1.0, p_slower),
        p_faster=min(1.0, p_faster),
        p_slower_normal=_normal_p(observed, null),
        pairs=int(b.size),
        resamples=resamples,
        pairwise=pairwise,
        weighted=weighted,
        blocks=0 if groups is None else int(groups.max()) + 1,
    )


def complete_pairs(base: Sequence[float | None], head: Sequence[float | None]) -> tuple[Array, Array]:
    """Both series cut to the pairs measured on both sides, as float arrays (None -> NaN)."""
    n = min(len(base), len(head))
    as_array = [
        np.array([np.nan if v is None else float(v) for v in side[:n]], dtype=np.float64)
        for side in (base, head)
    ]
    return as_array[0], as_array[1]
