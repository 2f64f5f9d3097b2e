"""The significance tests on synthetic data with known answers (every bootstrap is seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_openwhisk.regress import stats


def _lat(rng: np.random.Generator, n: int, extra: float = 0.0) -> np.ndarray:
    return 22.0 + extra + rng.lognormal(0.5, 0.6, n)


def test_known_shift_is_detected_with_a_ci_around_the_true_ratio() -> None:
    rng = np.random.default_rng(1)
    base, cur = _lat(rng, 400), _lat(rng, 400, extra=2.5)  # ~ +10% at the median
    p50, p95 = stats.bootstrap_compare(base, cur, [0.5, 0.95], seed=7)
    true_ratio = (22 + 2.5 + np.exp(0.5)) / (22 + np.exp(0.5))
    assert p50.ratio_low < true_ratio < p50.ratio_high
    assert p50.ratio_low > 1.0
    assert p50.p_slower < 0.01
    assert p95.p_slower < 0.01
    assert stats.mann_whitney(base, cur) < 1e-6


def test_aa_pairs_are_rarely_flagged() -> None:
    rng = np.random.default_rng(2)
    flagged = 0
    for seed in range(20):
        (res,) = stats.bootstrap_compare(_lat(rng, 200), _lat(rng, 200), [0.95], seed=seed)
        flagged += res.p_slower < 0.01
    assert flagged <= 1


def test_same_seed_same_result_and_seed_matters() -> None:
    rng = np.random.default_rng(3)
    base, cur = _lat(rng, 200), _lat(rng, 200, extra=0.3)
    first = stats.bootstrap_compare(base, cur, [0.95, None], seed=11)
    assert first == stats.bootstrap_compare(base, cur, [0.95, None], seed=11)
    assert first != stats.bootstrap_compare(base, cur, [0.95, None], seed=12)


def test_mean_and_difference_interval() -> None:
    base, cur = np.full(50, 10.0), np.full(50, 12.0)
    (res,) = stats.bootstrap_compare(base, cur, [None], seed=0)
    assert (res.base, res.current, res.ratio, res.diff) == (10.0, 12.0, 1.2, 2.0)
    assert (res.diff_low, res.diff_high) == (2.0, 2.0)
    assert res.p_slower == pytest.approx(1 / 2001)
    assert res.p_faster == 1.0


def test_nan_values_are_dropped_and_empty_samples_rejected() -> None:
    (res,) = stats.bootstrap_compare(
        [1.0, np.nan, 1.0, 1.0], [1.0, 1.0, np.nan], [0.5], seed=0, resamples=100
    )
    assert res.ratio == 1.0
    with pytest.raises(ValueError, match="both samples need values"):
        stats.bootstrap_compare([np.nan], [1.0], [0.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.7}, "alpha must be in"),
        ({"resamples": 10}, "resamples must be at least 100"),
    ],
)
def test_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stats.bootstrap_compare([1.0, 2.0], [1.0, 2.0], [0.5], **kwargs)  # type: ignore[arg-type]


def test_small_samples_give_wide_intervals() -> None:
    rng = np.random.default_rng(4)
    (small,) = stats.bootstrap_compare(_lat(rng, 8), _lat(rng, 8, extra=1.0), [0.5], seed=0)
    (large,) = stats.bootstrap_compare(_lat(rng, 800), _lat(rng, 800, extra=1.0), [0.5], seed=0)
    assert small.ratio_high - small.ratio_low > 3 * (large.ratio_high - large.ratio_low)


def test_mann_whitney_degenerate_cases() -> None:
    assert stats.mann_whitney([5.0] * 10, [5.0] * 10) == 1.0
    assert stats.mann_whitney([], [1.0]) == 1.0
    assert stats.mann_whitney([1.0, 2.0, 3.0], [10.0, 11.0, 12.0]) < 0.1


def test_proportions_small_counts_use_fisher() -> None:
    none_to_seven = stats.compare_proportions(0, 200, 7, 200)
    assert none_to_seven.test == "fisher"
    assert none_to_seven.p_higher < 0.01
    assert none_to_seven.diff == pytest.approx(0.035)
    assert 0 < none_to_seven.diff_low < 0.035 < none_to_seven.diff_high
    two = stats.compare_proportions(0, 200, 2, 200)
    assert two.p_higher > 0.1  # two errors in 200 are no evidence
    same = stats.compare_proportions(0, 200, 0, 200)
    assert (same.p_higher, same.diff) == (1.0, 0.0)


def test_proportions_large_counts_use_z_test() -> None:
    res = stats.compare_proportions(20, 200, 40, 200)
    assert res.test == "z"
    assert res.p_higher < 0.01
    assert res.p_lower > 0.99
    assert res.diff_low < 0.1 < res.diff_high
    assert stats.compare_proportions(40, 200, 20, 200).p_lower < 0.01


def test_proportion_input_is_checked() -> None:
    with pytest.raises(ValueError, match="invalid current proportion 5/3"):
        stats.compare_proportions(0, 10, 5, 3)
