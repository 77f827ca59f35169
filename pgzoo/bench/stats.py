"""Statistics of a leaderboard: IQM with stratified-bootstrap CIs (rliable), probability of
improvement, area under the learning curve, env steps to a reward threshold, normalised scores."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgzoo.errors import UsageError

DEFAULT_REPS = 2000
CONFIDENCE = 0.95


def _rliable():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from rliable import library, metrics
    except ImportError as e:
        raise UsageError(f"leaderboard statistics need rliable ({e}); install pgzoo's bench extra: "
                         "pip install 'pgzoo[bench]'") from None
    return library, metrics


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval."""

    value: float
    low: float
    high: float


def iqm(scores: np.ndarray | Sequence[float]) -> float:
    """Interquartile mean (25% trimmed mean over every entry), as rliable defines it."""
    _, metrics = _rliable()
    return float(metrics.aggregate_iqm(np.asarray(scores, dtype=np.float64)))


def _interval(scores: np.ndarray | list[np.ndarray], func, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    library, _ = _rliable()
    saved = np.random.get_state()  # rliable's stratified resampling draws from NumPy's global stream
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            point, interval = library.get_interval_estimates(
                {"x": scores}, func, reps=reps, confidence_interval_size=CONFIDENCE,
                random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(saved)
    return np.asarray(point["x"], dtype=np.float64), np.asarray(interval["x"], dtype=np.float64)


def _as_matrix(scores: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr


def iqm_ci(scores: np.ndarray | Sequence[float], reps: int = DEFAULT_REPS, seed: int = 0) -> Estimate:
    """IQM of ``scores`` (runs, or a runs x tasks matrix) with rliable's 95% stratified-bootstrap CI
    (runs are resampled within each task)."""
    _, metrics = _rliable()
    matrix = _as_matrix(scores)
    if matrix.shape[0] < 2:
        v = iqm(matrix)
        return Estimate(v, v, v)
    point, interval = _interval(matrix, lambda x: np.array([metrics.aggregate_iqm(x)]), reps, seed)
    return Estimate(float(point[0]), float(interval[0, 0]), float(interval[1, 0]))


def probability_of_improvement(x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float],
                               reps: int = DEFAULT_REPS, seed: int = 0) -> Estimate:
    """P(X > Y) (ties count half) averaged over tasks, with a 95% stratified-bootstrap CI;
    ``x`` and ``y`` are runs x tasks matrices (or vectors of runs on one task)."""
    _, metrics = _rliable()
    mx, my = _as_matrix(x), _as_matrix(y)
    value = float(metrics.probability_of_improvement(mx, my))
    if mx.shape[0] < 2 or my.shape[0] < 2:
        return Estimate(value, value, value)
    _, interval = _interval([mx, my], lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps, seed)
    return Estimate(value, float(interval[0, 0]), float(interval[1, 0]))


def curve_band(
    curves: np.ndarray, reps: int = DEFAULT_REPS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs of ``curves`` (runs x points) and its 95% bootstrap CI at every point."""
    curves = np.asarray(curves, dtype=np.float64)
    mean = curves.mean(axis=0)
    if curves.shape[0] < 2:
        return mean, mean, mean
    point, interval = _interval(curves, lambda c: c.mean(axis=0), reps, seed)
    return point, interval[0], interval[1]


def iqm_curve_band(
    curves: np.ndarray, reps: int = DEFAULT_REPS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over runs of ``curves`` (runs x points) at every point, with rliable's 95%
    stratified-bootstrap band: each replication resamples whole runs (the same runs at every
    point), as rliable's sample-efficiency curves do. Returns (iqm, low, high), each of length points."""
    from scipy.stats import trim_mean

    curves = np.asarray(curves, dtype=np.float64)

    def per_point(x: np.ndarray) -> np.ndarray:  # rliable's aggregate_iqm at each point
        return trim_mean(x.reshape(-1, x.shape[-1]), 0.25, axis=0)

    point = per_point(curves)
    if curves.shape[0] < 2:
        return point, point, point
    _, interval = _interval(curves[:, None, :], per_point, reps, seed)
    return point, interval[0], interval[1]


def area_under_curve(steps: Sequence[float], returns: Sequence[float], budget: float | None = None) -> float:
    """Trapezoidal area under the evaluation curve divided by the steps it spans (``budget`` if
    given): the average evaluation return over training, in return units."""
    s, r = np.asarray(steps, dtype=np.float64), np.asarray(returns, dtype=np.float64)
    if len(s) == 0:
        return float("nan")
    if len(s) == 1:
        return float(r[0])
    span = budget if budget else s[-1] - s[0]
    area = float(np.sum((s[1:] - s[:-1]) * (r[1:] + r[:-1]) / 2.0))
    return area / span


def steps_to_threshold(steps: Sequence[float], returns: Sequence[float], threshold: float | None) -> int | None:
    """Env steps at the first evaluation whose return reaches ``threshold`` (None if never)."""
    if threshold is None:
        return None
    for s, r in zip(steps, returns, strict=True):
        if r >= threshold:
            return int(s)
    return None


def median_steps_to_threshold(per_seed: Sequence[int | None]) -> tuple[float | None, int]:
    """Median over seeds (a seed that never reached the threshold counts as never) and how
    many seeds reached it; the median is None when fewer than half did."""
    reached = sorted(s for s in per_seed if s is not None)
    values = np.array(reached + [np.inf] * (len(per_seed) - len(reached)), dtype=np.float64)
    if len(values) == 0:
        return None, 0
    median = float(np.median(values))
    return (median if np.isfinite(median) else None), len(reached)


def normalised(score: float | np.ndarray, random_score: float, threshold: float) -> float | np.ndarray:
    """(score − random) / (threshold − random): 0 for the random policy, 1 at the threshold."""
    return (np.asarray(score, dtype=np.float64) - random_score) / (threshold - random_score)
