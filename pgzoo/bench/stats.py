"""Statistics of a leaderboard: IQM with stratified-bootstrap CIs (rliable), probability of
improvement, area under the learning curve, env steps to a reward threshold, normalised scores.

The intervals are rliable's stratified bootstrap (``rliable.library.get_interval_estimates``, percentile
method), computed for all replications at once: rliable's API hands each resample to the statistic
one at a time (arch's ``apply`` loop, ~1 ms a call), so a board of 2,000 replications per row took
tens of CPU seconds. The resamples are drawn exactly as rliable draws them (the same NumPy stream,
seed and order) and the statistics are the same arithmetic, so the intervals are rliable's bit for
bit (tested against rliable itself in ``tests/test_bench_stats.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgzoo.errors import UsageError

DEFAULT_REPS = 2000
CONFIDENCE = 0.95


def _rliable():
    """rliable's metrics (its bootstrap, ``rliable.library``, imports arch: ~1 CPU s that the
    vectorised intervals below do not need)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from rliable import metrics
    except ImportError as e:
        raise UsageError(f"leaderboard statistics need rliable ({e}); install pgzoo's bench extra: "
                         "pip install 'pgzoo[bench]'") from None
    return metrics


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval."""

    value: float
    low: float
    high: float


def iqm(scores: np.ndarray | Sequence[float]) -> float:
    """Interquartile mean (25% trimmed mean over every entry), as rliable defines it."""
    metrics = _rliable()
    return float(metrics.aggregate_iqm(np.asarray(scores, dtype=np.float64)))


def _percentile_interval(results: np.ndarray) -> np.ndarray:
    """arch's ``percentile`` interval of bootstrap ``results`` (reps x k): rows (low, high), the same
    arithmetic as ``IIDBootstrap.conf_int(..., method="percentile")`` (NumPy's linear percentiles)."""
    alpha = (1.0 - CONFIDENCE) / 2
    percentiles = 100 * np.array([alpha, 1.0 - alpha])
    return np.percentile(results, list(percentiles), axis=0)


def stratified_resamples(scores: np.ndarray, reps: int, seed: int) -> np.ndarray:
    """All ``reps`` resamples of rliable's stratified bootstrap of ``scores`` (runs x tasks x ...) at once:
    shape ``(reps, *scores.shape)``.

    rliable's ``StratifiedBootstrap`` draws, for each replication, ``np.random.choice(runs, scores.shape)``
    from NumPy's global stream (which :func:`iqm_ci` used to seed with ``seed``): a run index for every
    entry, so runs are resampled within each task (and within each point of a curve) independently.
    ``choice`` with replacement is ``randint(0, runs, size)``, and the legacy MT19937 stream hands
    out its bounded integers one 32-bit draw after another, so drawing the ``reps`` index arrays in
    one call gives the same indices, in the same order (tested against rliable)."""
    idx = np.random.RandomState(seed).randint(0, scores.shape[0], size=(reps, *scores.shape))
    rest = np.ogrid[tuple(slice(n) for n in scores.shape[1:])]
    return scores[(idx, *(r[None, None] for r in rest))] if rest else scores[idx]


def _trim_mean_rows(x: np.ndarray) -> np.ndarray:
    """rliable's ``aggregate_iqm`` (scipy's 25% ``trim_mean`` over every entry) of each row of ``x``."""
    from scipy.stats import trim_mean

    return trim_mean(x.reshape(x.shape[0], -1), 0.25, axis=1)


def _as_matrix(scores: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr


def iqm_ci(scores: np.ndarray | Sequence[float], reps: int = DEFAULT_REPS, seed: int = 0) -> Estimate:
    """IQM of ``scores`` (runs, or a runs x tasks matrix) with rliable's 95% stratified-bootstrap CI
    (runs are resampled within each task; percentile method), computed for all replications at once
    with the draws and arithmetic of ``rliable.library.get_interval_estimates`` (bit for bit, tested)."""
    metrics = _rliable()
    matrix = _as_matrix(scores)
    if matrix.shape[0] < 2:
        v = iqm(matrix)
        return Estimate(v, v, v)
    point = float(metrics.aggregate_iqm(matrix))
    low, high = _percentile_interval(_trim_mean_rows(stratified_resamples(matrix, reps, seed))[:, None])[:, 0]
    return Estimate(point, float(low), float(high))


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """rliable's ``probability_of_improvement`` of every replication: ``x`` (reps x runs_x x tasks),
    ``y`` (reps x runs_y x tasks). Per task, the Mann-Whitney U of x over y (pairs x > y, ties half:
    exact in float64) over runs_x · runs_y, 0.5 where the two samples are equal, NaN where one holds
    a NaN (scipy propagates it); averaged over tasks."""
    nx, ny = x.shape[1], y.shape[1]
    a, b = x[:, :, None, :], y[:, None, :, :]
    u = (a > b).sum(axis=(1, 2)) + 0.5 * (a == b).sum(axis=(1, 2))
    prob = u / (nx * ny)
    if nx == ny:
        prob[np.all(x == y, axis=1)] = 0.5
    prob[np.isnan(x).any(axis=1) | np.isnan(y).any(axis=1)] = np.nan
    return prob.mean(axis=1)


def probability_of_improvement(x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float],
                               reps: int = DEFAULT_REPS, seed: int = 0) -> Estimate:
    """P(X > Y) (ties count half) averaged over tasks, with a 95% stratified-bootstrap CI;
    ``x`` and ``y`` are runs x tasks matrices (or vectors of runs on one task).

    The interval is rliable's (``StratifiedIndependentBootstrap``: each matrix's runs resampled within
    each task, independently of the other matrix's, by ``np.random.choice`` on the stream seeded with
    ``seed``; percentile method), computed for all replications at once (bit for bit, tested)."""
    metrics = _rliable()
    mx, my = _as_matrix(x), _as_matrix(y)
    value = float(metrics.probability_of_improvement(mx, my))
    if mx.shape[0] < 2 or my.shape[0] < 2:
        return Estimate(value, value, value)
    rs = np.random.RandomState(seed)
    ix = np.empty((reps, *mx.shape), dtype=np.int64)
    iy = np.empty((reps, *my.shape), dtype=np.int64)
    for r in range(reps):  # each replication draws x's indices, then y's
        ix[r] = rs.randint(0, mx.shape[0], size=mx.shape)
        iy[r] = rs.randint(0, my.shape[0], size=my.shape)
    tasks = np.arange(mx.shape[1])
    low, high = _percentile_interval(_improvement(mx[ix, tasks], my[iy, tasks])[:, None])[:, 0]
    return Estimate(value, float(low), float(high))


def curve_band(
    curves: np.ndarray, reps: int = DEFAULT_REPS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs of ``curves`` (runs x points) and its 95% bootstrap CI at every point
    (runs resampled at each point, as rliable's stratified bootstrap does)."""
    curves = np.asarray(curves, dtype=np.float64)
    mean = curves.mean(axis=0)
    if curves.shape[0] < 2:
        return mean, mean, mean
    interval = _percentile_interval(stratified_resamples(curves, reps, seed).mean(axis=1))
    return mean, interval[0], interval[1]


def iqm_curve_band(
    curves: np.ndarray, reps: int = DEFAULT_REPS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over runs of ``curves`` (runs x points) at every point, with rliable's 95%
    stratified-bootstrap band: rliable's bootstrap of a runs x 1 x points array, which resamples
    the runs at each point independently (bit for bit, tested). Returns (iqm, low, high), each of
    length points."""
    from scipy.stats import trim_mean

    curves = np.asarray(curves, dtype=np.float64)
    point = trim_mean(curves, 0.25, axis=0)
    if curves.shape[0] < 2:
        return point, point, point
    resampled = stratified_resamples(curves[:, None, :], reps, seed)  # reps x runs x 1 x points
    interval = _percentile_interval(trim_mean(resampled[:, :, 0, :], 0.25, axis=1))
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
