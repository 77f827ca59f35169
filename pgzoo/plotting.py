"""Figures: the one place for pgzoo's plotting style, used by every figure pgzoo draws.

The leaderboard curves (:mod:`pgzoo.bench.render`), the book's figures
(:mod:`pgzoo.book.figures_report`, :mod:`pgzoo.book.example`), the access-control report,
``pgzoo plot`` (training curves of runs) and ``pgzoo tune``'s parameter importances all draw
through :func:`figure` and :func:`save`: one colour-blind-safe qualitative palette, text sized
to stay readable when the PNG is shown at a README's width (~850 px), constrained layout (no
blank bands), legends outside the axes, intervals only from enough seeds
(:data:`MIN_SEEDS_FOR_BAND`), and atomic saving.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cycler import cycler

from pgzoo import atomic

LINESTYLES = ("-", "--", "-.", ":")

PALETTE = ("#332288", "#CC6677", "#117733", "#DDAA33", "#88CCEE", "#AA4499", "#44AA99", "#882255", "#999933")
"""Paul Tol's "muted" qualitative scheme (colour-blind safe, distinct in print and on screen),
ordered so that any first k colours are far apart: indigo, rose, green, sand, cyan, purple, teal,
wine, olive (sand darkened from #DDCC77 so that a thin line shows on white). Grey is kept for
context lines (other algorithms, references)."""

CONTEXT = "0.6"
"""The grey of context lines: other algorithms behind a panel's own, reference levels."""

MIN_SEEDS_FOR_BAND = 5
"""Fewest seeds from which a curve gets a 95% bootstrap band: below it the seeds are drawn one by
one with their mean, since a bootstrap interval over 2-4 values says little about the spread."""

FIGURE_DPI = 110
STYLE: dict[str, Any] = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10, "ytick.labelsize": 10,
    "legend.fontsize": 10, "legend.frameon": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.8,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI,
}
"""pgzoo's matplotlib settings (applied by :func:`figure` and :func:`save` only, never globally)."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def styled() -> Iterator[Any]:
    """pgzoo's style for the figures drawn inside (yields ``pyplot``)."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        yield plt


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (7.5, 4.5), **kwargs: Any) -> tuple[Any, Any]:
    """A figure with pgzoo's style and constrained layout; ``(fig, axes)`` with ``axes`` always 2-D.

    Draw and :func:`save` within :func:`styled` for the text sizes to apply to every label."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained", **kwargs)
    return fig, axes


def palette() -> list[str]:
    """The qualitative colours, in order (:data:`PALETTE`)."""
    return list(PALETTE)


def steps_axis(ax: Any) -> None:
    """Env steps on the x axis in engineering notation (20k, 1M)."""
    from matplotlib.ticker import EngFormatter

    ax.xaxis.set_major_formatter(EngFormatter(sep=""))


def style(i: int) -> dict[str, str]:
    """Colour and line style of the ``i``-th line: each colour once, then again with the next style."""
    colours = palette()
    return {"color": colours[i % len(colours)], "linestyle": LINESTYLES[(i // len(colours)) % len(LINESTYLES)]}


def band(ax: Any, x: np.ndarray, centre: np.ndarray, low: np.ndarray, high: np.ndarray, label: str,
         line: dict[str, str], alpha: float = 0.2, linewidth: float = 1.8) -> None:
    """A line with its shaded interval [low, high] (arrays of one shape, along ``x``)."""
    ax.plot(x, centre, label=label, linewidth=linewidth, **line)
    ax.fill_between(x, low, high, color=line["color"], alpha=alpha, linewidth=0)


def seeds_and_mean(ax: Any, x: np.ndarray, curves: np.ndarray, label: str, line: dict[str, str]) -> None:
    """Too few seeds for an interval: each seed's curve thin, their mean bold (``curves`` is ``[seeds, x]``)."""
    for c in curves:
        ax.plot(x, c, color=line["color"], linewidth=0.8, alpha=0.55, label="_seed")
    ax.plot(x, curves.mean(axis=0), label=label, linewidth=2.0, **line)


def legend_below(fig: Any, axes: Sequence[Any], ncol: int | None = None) -> None:
    """One legend for the whole figure, outside and under the axes (constrained layout makes room for
    exactly its height): the labelled lines of ``axes``, each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    if not labels:
        return
    ncol = ncol or min(len(labels), max(1, int(fig.get_size_inches()[0] / 2.6)))  # entries fit the width
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol)


def save(fig: Any, path: str | Path, dpi: int = FIGURE_DPI) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (a temporary file renamed over it) and close it."""
    plt = pyplot()
    path = Path(path)
    try:
        with plt.rc_context(STYLE), atomic.replacing(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start); same length."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, window: int = 20) -> Path:
    """``pgzoo plot``: the training curves of ``pgzoo train`` runs, from their ``metrics.csv``.

    One panel per environment; per run, each episode's return (faint) and its moving average
    over ``window`` episodes, against env steps, labelled with the run directory's name.
    Raises :class:`UsageError` for a folder that is no run or a run with no finished episode.
    """
    from pgzoo.errors import UsageError
    from pgzoo.rundir import read_metrics

    if window < 1:
        raise UsageError(f"--window must be at least 1 episode (got {window})")
    runs = []
    for d in run_dirs:
        config, columns = read_metrics(d)
        if not columns["env_steps"]:
            raise UsageError(f"{d}: no finished episode in metrics.csv yet")
        runs.append((Path(d).resolve().name, config, columns))
    envs = list(dict.fromkeys(config["env_id"] for _, config, _ in runs))
    with styled():
        return _draw_runs(runs, envs, out, window)


def _draw_runs(runs: list[tuple[str, dict, dict]], envs: list[str], out: str | Path, window: int) -> Path:
    fig, axes = figure(1, len(envs), size=(7.5 if len(envs) == 1 else 5.0 * len(envs), 4.8))
    for i, (name, config, columns) in enumerate(runs):
        ax = axes[0][envs.index(config["env_id"])]
        line = style(i)
        x, y = np.asarray(columns["env_steps"]), np.asarray(columns["return"])
        ax.plot(x, y, color=line["color"], alpha=0.25, linewidth=0.8)
        ax.plot(x, moving_average(y, window), label=f"{name} ({config['algorithm']}, seed {config['seed']})",
                linewidth=1.8, **line)
    for ax, env_id in zip(axes[0], envs, strict=True):
        ax.set_title(env_id)
        ax.set_xlabel("env steps")
        steps_axis(ax)
        ax.set_ylabel(f"episode return\n(faint: each episode; line: mean of last {window})")
    legend_below(fig, list(axes[0]), ncol=1 if len(runs) > 2 else len(runs))
    return save(fig, out)
