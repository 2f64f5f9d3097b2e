"""Paired statistics on synthetic data: calibrated under drift, powerful on small shifts, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_openwhisk.ab.paired import (
    compare_paired,
    complete_pairs,
    pair_weights,
    randomization,
    trimmed_mean,
    weighted_median,
)


def drifting_pairs(
    rng: np.random.Generator, n: int = 200, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs sharing a machine state that jumps between quiet and busy (x1.6) every 10-40 pairs."""
    level = np.empty(n)
    i, busy = 0, False
    while i < n:
        span = int(rng.integers(10, 40))
        level[i : i + span] = 1.6 if busy else 1.0
        i, busy = i + span, not busy
    base = 10.0 * level + rng.lognormal(0.0, 0.4, n)
    head = (10.0 * level + rng.lognormal(0.0, 0.4, n)) * (1.0 + shift)
    return base, head


def test_aa_under_drift_is_calibrated() -> None:
    rng = np.random.default_rng(3)
    alarms = covered = 0
    for trial in range(60):
        base, head = drifting_pairs(rng)
        result = compare_paired(base, head, 0.5, alpha=0.05, resamples=200, seed=trial)
        alarms += result.p_slower < 0.05
        covered += result.low <= 1.0 <= result.high
    assert alarms <= 8  # expected 3 of 60 at alpha 0.05
    assert covered >= 48  # 90% intervals: expected 54 of 60


def test_detects_a_five_percent_slowdown_under_drift() -> None:
    base, head = drifting_pairs(np.random.default_rng(5), shift=0.05)
    result = compare_paired(base, head, 0.5, seed=1)
    assert result.p_slower < 0.01
    assert result.low < 1.05 < result.high
    assert result.low > 1.0
    assert result.pairs == 200
    assert result.p_faster > 0.5


def test_faster_head_has_small_p_faster() -> None:
    base, head = drifting_pairs(np.random.default_rng(6), shift=-0.08)
    result = compare_paired(base, head, 0.95, seed=1)
    assert result.p_faster < 0.01
    assert result.p_slower > 0.5


def test_same_seed_same_result_and_mean_statistic() -> None:
    base, head = drifting_pairs(np.random.default_rng(7))
    assert compare_paired(base, head, None, seed=4) == compare_paired(base, head, None, seed=4)
    assert compare_paired(base, head, None, seed=4).base == pytest.approx(float(np.mean(base)))


def test_absolute_effect_is_a_difference_in_ms() -> None:
    base, head = drifting_pairs(np.random.default_rng(8))
    result = compare_paired(base, head + 2.0, 0.5, relative=False, seed=1)
    assert result.effect == pytest.approx(result.head - result.base)
    assert result.low < 2.5
    assert result.p_slower < 0.01


def test_proportions_rise_detected_and_identical_flags_never_flagged() -> None:
    base = np.zeros(200)
    head = np.zeros(200)
    head[::10] = 1  # 10% errors
    result = compare_paired(base, head, None, relative=False, seed=1)
    assert result.effect == pytest.approx(0.1)
    assert result.p_slower < 0.01
    none = compare_paired(base, base, None, relative=False, seed=1)
    assert none.p_slower == 1.0
    assert none.effect == 0.0


def test_pairs_with_missing_values_are_dropped() -> None:
    base, head = complete_pairs([1.0, None, 3.0, 4.0], [1.5, 2.0, None])
    assert base.size == head.size == 3
    result = compare_paired(np.r_[base, np.ones(30)], np.r_[head, np.ones(30)], 0.5, resamples=100)
    assert result.pairs == 31


def test_randomization_distribution_is_symmetric_for_equal_sides() -> None:
    values = np.arange(1.0, 51.0)
    null = randomization(values, values, 0.5, True, 500, np.random.default_rng(1))
    assert np.all(null == 0.0)


def test_bad_input_names_the_value() -> None:
    with pytest.raises(ValueError, match="same length"):
        compare_paired([1.0, 2.0], [1.0], 0.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        compare_paired([1.0], [1.0], 0.5, alpha=0.7)
    with pytest.raises(ValueError, match="resamples must be at least 100"):
        compare_paired([1.0], [1.0], 0.5, resamples=10)
    with pytest.raises(ValueError, match="no pair has a finite value"):
        compare_paired([np.nan], [1.0], 0.5)


def test_pairwise_median_is_precise_when_the_median_falls_between_busy_and_quiet() -> None:
    detected = {False: 0, True: 0}
    rng = np.random.default_rng(11)
    for trial in range(20):
        base, head = drifting_pairs(rng, shift=0.05)
        for pairwise in (False, True):
            result = compare_paired(base, head, 0.5, pairwise=pairwise, resamples=200, seed=trial)
            detected[pairwise] += result.p_slower < 0.01 and result.effect > 1.02
    assert detected[True] == 20
    assert detected[True] > detected[False]


def test_pairwise_reports_each_side_and_the_median_ratio() -> None:
    base = np.array([10.0, 20.0, 30.0] * 10)
    result = compare_paired(base, base * 1.1, 0.5, pairwise=True, resamples=100)
    assert result.pairwise
    assert result.effect == pytest.approx(1.1)
    assert result.base == pytest.approx(20.0)
    assert result.head == pytest.approx(22.0)
    assert result.low == pytest.approx(1.1)  # every pair agrees: no spread
    difference = compare_paired(base, base + 2.0, 0.5, pairwise=True, relative=False, resamples=100)
    assert difference.effect == pytest.approx(2.0)


def preempted_pairs(
    rng: np.random.Generator, n: int = 200, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs on an overloaded machine: each invocation loses whole 4 ms scheduler ticks, few when the
    machine is quiet, many when busy (state flips every 20 pairs); head adds ``shift`` x 10 ms."""
    busy = np.repeat(rng.random(n // 20 + 1) < 0.5, 20)[:n]

    def side() -> np.ndarray:
        ticks = np.where(busy, rng.poisson(2.0, n), rng.poisson(0.3, n))
        return 10.0 + 4.0 * ticks + rng.normal(0.0, 0.5, n) ** 2

    base = side()
    return base, side() + shift * 10.0


def test_weighted_pairwise_median_finds_a_small_slowdown_the_plain_one_misses() -> None:
    detected = {False: 0, True: 0}
    rng = np.random.default_rng(21)
    for trial in range(20):
        base, head = preempted_pairs(rng, shift=0.05)
        for weighted in (False, True):
            result = compare_paired(
                base, head, 0.5, pairwise=True, weighted=weighted, resamples=300, seed=trial
            )
            detected[weighted] += result.p_slower < 0.01 and result.effect > 1.02
            assert result.weighted is weighted
    assert detected[True] >= 18
    assert detected[True] >= detected[False] + 3


def test_weighted_pairwise_median_stays_calibrated_on_aa_and_label_flipped_pairs() -> None:
    rng = np.random.default_rng(22)
    alarms = {"A/A": 0, "flipped": 0}
    covered = 0
    for trial in range(60):
        base, head = preempted_pairs(rng)
        result = compare_paired(
            base, head, 0.5, pairwise=True, weighted=True, alpha=0.05, resamples=200, seed=trial
        )
        alarms["A/A"] += result.p_slower < 0.05
        covered += result.low <= 1.0 <= result.high
        # a +10 % head with each pair's labels swapped by a coin: the effect becomes symmetric noise
        base, head = preempted_pairs(rng, shift=0.10)
        swap = rng.random(base.size) < 0.5
        flipped = compare_paired(
            np.where(swap, head, base),
            np.where(swap, base, head),
            0.5,
            pairwise=True,
            weighted=True,
            alpha=0.05,
            resamples=200,
            seed=trial,
        )
        alarms["flipped"] += flipped.p_slower < 0.05
    assert alarms["A/A"] <= 8  # expected 3 of 60 at alpha 0.05
    assert alarms["flipped"] <= 8
    assert covered >= 48  # 90 % intervals: expected 54 of 60


def test_weighted_median_and_label_symmetric_pair_weights() -> None:
    assert weighted_median(np.array([3.0, 1.0, 2.0]), np.ones(3)) == 2.0
    assert weighted_median(np.array([3.0, 1.0, 2.0]), np.array([0.1, 0.1, 5.0])) == 2.0
    rows = weighted_median(np.array([[1.0, 5.0, 9.0], [9.0, 5.0, 1.0]]), np.array([1.0, 1.0, 4.0]))
    assert rows.tolist() == [9.0, 1.0]
    base, head = np.array([10.0, 20.0, 40.0]), np.array([12.0, 18.0, 50.0])
    weights = pair_weights(base, head)
    assert weights.sum() == pytest.approx(1.0)
    assert np.array_equal(weights, pair_weights(head, base))
    assert weights[0] > weights[1] > weights[2]  # quiet (fast) pairs count more
    with pytest.raises(ValueError, match="weighted=True needs pairwise=True"):
        compare_paired(base, head, 0.5, weighted=True)


def container_pairs(
    rng: np.random.Generator, blocks: int = 10, per_block: int = 20, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs measured in ``blocks`` container generations: each container runs at its own speed
    (sd 5 %), the same for all its invocations; per-invocation noise sd 3 %. Returns base, head and
    the block label of every pair."""
    labels = np.repeat(np.arange(blocks), per_block)
    speed = rng.lognormal(0.0, 0.05, (2, blocks))[:, labels]
    noise = rng.lognormal(0.0, 0.03, (2, labels.size))
    return 10.0 * speed[0] * noise[0], 10.0 * speed[1] * noise[1] * (1.0 + shift), labels


def test_randomizing_per_container_keeps_aa_calibrated_when_containers_differ_in_speed() -> None:
    rng = np.random.default_rng(23)
    alarms = {"pairs": 0, "containers": 0}
    for trial in range(40):
        base, head, labels = container_pairs(rng)
        for unit, blocks in (("pairs", None), ("containers", labels)):
            result = compare_paired(
                base, head, 0.5, pairwise=True, weighted=True, alpha=0.05, resamples=200,
                seed=trial, blocks=blocks,
            )  # fmt: skip
            alarms[unit] += result.p_slower < 0.05
            assert result.blocks == (10 if blocks is not None else 0)
    assert alarms["containers"] <= 6  # expected 2 of 40 at alpha 0.05
    assert alarms["pairs"] >= 10  # pair by pair, a faster base container looks like a slower head
    base, head, labels = container_pairs(np.random.default_rng(24), blocks=40, per_block=5, shift=0.10)
    found = compare_paired(base, head, 0.5, pairwise=True, weighted=True, blocks=labels, seed=1)
    assert found.p_slower < 0.01
    assert found.low < 1.10 < found.high
    with pytest.raises(ValueError, match="blocks needs one label per pair"):
        compare_paired(base, head, 0.5, blocks=labels[:-1])


def test_per_container_change_is_a_trimmed_mean_of_the_containers_medians() -> None:
    assert trimmed_mean(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == 3.0
    assert trimmed_mean(np.array([[5.0, 1.0, 3.0], [2.0, 2.0, 8.0]])).tolist() == [3.0, 4.0]  # n < 5: plain
    base, head, labels = container_pairs(np.random.default_rng(25), blocks=10, per_block=20, shift=0.05)
    head[labels == 3] *= 0.5  # one container pair far off (head's process twice as fast)
    result = compare_paired(base, head, 0.5, pairwise=True, weighted=True, blocks=labels, seed=2)
    assert result.effect == pytest.approx(1.05, abs=0.03)  # a plain mean would say about 0.98
    assert result.blocks == 10
