"""The leaderboard's statistics on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from pgzoo.bench import stats


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)
    assert stats.iqm([100, 1, 2, 3, 4, 5, 6, 7, 8, -100, 4.5, 4.5]) == pytest.approx(4.5)
    assert stats.iqm(np.full((4, 3), 7.0)) == pytest.approx(7.0)


def test_iqm_ci_contains_the_iqm_and_narrows_with_more_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(100, 20, size=5), rng.normal(100, 20, size=60)
    e_few, e_many = stats.iqm_ci(few, reps=500), stats.iqm_ci(many, reps=500)
    for e, x in ((e_few, few), (e_many, many)):
        assert e.low <= e.value <= e.high
        assert e.value == pytest.approx(stats.iqm(x))
    assert (e_many.high - e_many.low) < (e_few.high - e_few.low)


def test_iqm_ci_is_reproducible_and_degenerate_for_one_seed():
    x = [1.0, 5.0, 2.0, 8.0, 3.0]
    assert stats.iqm_ci(x, reps=300) == stats.iqm_ci(x, reps=300)
    one = stats.iqm_ci([42.0])
    assert (one.value, one.low, one.high) == (42.0, 42.0, 42.0)


def test_probability_of_improvement():
    better, worse = np.array([[10.0, 5.0], [11.0, 6.0], [12.0, 7.0]]), np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]])
    assert stats.probability_of_improvement(better, worse, reps=300).value == pytest.approx(1.0)
    assert stats.probability_of_improvement(worse, better, reps=300).value == pytest.approx(0.0)
    assert stats.probability_of_improvement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], reps=300).value == pytest.approx(0.5)
    # one task: x beats y in 3 of the 4 pairs
    assert stats.probability_of_improvement([1.0, 4.0], [2.0, 3.0], reps=300).value == pytest.approx(0.5)
    assert stats.probability_of_improvement([3.0, 4.0], [1.0, 3.5], reps=300).value == pytest.approx(0.75)


def test_area_under_curve_is_the_average_return_over_the_budget():
    assert stats.area_under_curve([0, 10, 20], [0, 10, 10]) == pytest.approx(7.5)
    assert stats.area_under_curve([0, 10, 20], [0, 10, 10], budget=20) == pytest.approx(7.5)
    assert stats.area_under_curve([0, 100], [5, 5]) == pytest.approx(5.0)
    assert stats.area_under_curve([0], [3.0]) == 3.0


def test_steps_to_threshold_and_its_median_over_seeds():
    steps, returns = [0, 10, 20, 30], [0.0, 5.0, 10.0, 4.0]
    assert stats.steps_to_threshold(steps, returns, 5.0) == 10
    assert stats.steps_to_threshold(steps, returns, 9.5) == 20
    assert stats.steps_to_threshold(steps, returns, 11.0) is None
    assert stats.steps_to_threshold(steps, returns, None) is None
    assert stats.median_steps_to_threshold([10, 30, 20]) == (20.0, 3)
    assert stats.median_steps_to_threshold([10, 20, None]) == (20.0, 2)
    assert stats.median_steps_to_threshold([10, None, None]) == (None, 1)
    assert stats.median_steps_to_threshold([]) == (None, 0)


def test_normalised_scores():
    assert stats.normalised(500.0, 20.0, 500.0) == pytest.approx(1.0)
    assert stats.normalised(20.0, 20.0, 500.0) == pytest.approx(0.0)
    assert stats.normalised(-300.0, -500.0, -100.0) == pytest.approx(0.5)


def test_curve_band_brackets_the_mean():
    curves = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 4.0], [0.0, 2.0, 6.0]])
    mean, low, high = stats.curve_band(curves, reps=300)
    np.testing.assert_allclose(mean, [0.0, 2.0, 4.0])
    assert np.all(low <= mean) and np.all(mean <= high)
    assert low[0] == high[0] == 0.0
