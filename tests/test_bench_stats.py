"""The leaderboard's statistics on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- the vectorised bootstrap is rliable's, bit for bit ------------------------------------------

def _rliable_interval(scores, func, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """rliable's own estimate, called as pgzoo called it before the bootstrap was vectorised."""
    import warnings

    from rliable import library

    saved = np.random.get_state()
    np.random.seed(seed)  # rliable's resampling draws from NumPy's global stream
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            point, interval = library.get_interval_estimates(
                {"x": scores}, func, reps=reps, confidence_interval_size=0.95, random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(saved)
    return np.asarray(point["x"]), np.asarray(interval["x"])


_scores = st.integers(2, 7).flatmap(lambda n: st.integers(1, 3).flatmap(lambda m: st.lists(
    st.one_of(st.integers(-500, 500).map(float), st.floats(-1e3, 1e3, allow_subnormal=False),
              st.sampled_from([0.0, 500.0, -500.0])), min_size=n * m, max_size=n * m).map(
    lambda v: np.array(v).reshape(n, m))))


@settings(max_examples=20, deadline=None)
@given(x=_scores, seed=st.integers(0, 3))
def test_iqm_ci_is_rliables_interval_bit_for_bit(x: np.ndarray, seed: int) -> None:
    from rliable import metrics

    e = stats.iqm_ci(x, reps=100, seed=seed)
    point, interval = _rliable_interval(x, lambda a: np.array([metrics.aggregate_iqm(a)]), 100, seed)
    assert (e.value, e.low, e.high) == (point[0], interval[0, 0], interval[1, 0])


@settings(max_examples=12, deadline=None)
@given(x=_scores, y=_scores, seed=st.integers(0, 3), same=st.booleans())
def test_probability_of_improvement_is_rliables_interval_bit_for_bit(x: np.ndarray, y: np.ndarray, seed: int,
                                                                     same: bool) -> None:
    from rliable import metrics

    y = x.copy() if same else y[:, :1].repeat(x.shape[1], axis=1)  # the same tasks
    if not same and y.shape[0] > 2:
        y[1] = x[min(1, x.shape[0] - 1)]  # ties between the two
    e = stats.probability_of_improvement(x, y, reps=60, seed=seed)
    point, interval = _rliable_interval([x, y], lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
                                        60, seed)
    assert (e.value, e.low, e.high) == (point[0], interval[0, 0], interval[1, 0])


@settings(max_examples=15, deadline=None)
@given(c=_scores, seed=st.integers(0, 3))
def test_curve_bands_are_rliables_bit_for_bit(c: np.ndarray, seed: int) -> None:
    from scipy.stats import trim_mean

    def per_point(z: np.ndarray) -> np.ndarray:  # rliable's aggregate_iqm at each point
        return trim_mean(z.reshape(-1, z.shape[-1]), 0.25, axis=0)

    iqm, low, high = stats.iqm_curve_band(c, reps=100, seed=seed)
    point, interval = _rliable_interval(c[:, None, :], per_point, 100, seed)
    assert np.array_equal(iqm, point) and np.array_equal(low, interval[0]) and np.array_equal(high, interval[1])
    _, low, high = stats.curve_band(c, reps=100, seed=seed)
    _, interval = _rliable_interval(c, lambda z: z.mean(axis=0), 100, seed)
    assert np.array_equal(low, interval[0]) and np.array_equal(high, interval[1])


def test_a_nan_score_gives_what_rliable_gives() -> None:
    from rliable import metrics

    x = np.array([[1.0], [np.nan], [3.0], [4.0]])
    y = np.array([[2.0], [2.5], [0.0], [5.0]])
    e = stats.probability_of_improvement(x, y, reps=100)
    _, interval = _rliable_interval([x, y], lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), 100, 0)
    assert np.array_equal([e.low, e.high], interval[:, 0], equal_nan=True)
    e = stats.iqm_ci(x, reps=100)
    _, interval = _rliable_interval(x, lambda a: np.array([metrics.aggregate_iqm(a)]), 100, 0)
    assert np.array_equal([e.low, e.high], interval[:, 0], equal_nan=True)
