"""Figures: the one place for pgzoo's plotting conventions (headless backend, colour-blind-safe
palette, shaded bands, legends outside the axes, atomic saving).

Used by the leaderboard curves (:mod:`pgzoo.bench.render`), the book's figures
(:mod:`pgzoo.book.figures_report`), ``pgzoo plot`` (training curves of runs) and ``pgzoo tune``'s
parameter importances.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pgzoo import atomic

LINESTYLES = ("-", "--", "-.", ":")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


COLORBLIND = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
              "#56b4e9")
"""seaborn's ``colorblind`` palette (the one rliable's figures use), as ``seaborn.color_palette("colorblind")``
gives it (tested): written out so that drawing a figure does not import seaborn and pandas (~2 CPU s)."""


def palette() -> list[str]:
    """Distinct colour-blind-safe colours: :data:`COLORBLIND` ordered so that the first six are far
    apart (blue, orange, green, pink, sky blue, vermilion; then tan, yellow, light pink, and grey,
    the colour of context lines, last)."""
    return [COLORBLIND[i] for i in (0, 1, 2, 4, 9, 3, 5, 8, 6, 7)]


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


def legend_below(fig: Any, axes: Sequence[Any], ncol: int | None = None) -> None:
    """One legend for the whole figure, under the axes (never over the data): the labelled lines
    of ``axes``, each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    if not labels:
        fig.tight_layout()
        return
    ncol = ncol or min(len(labels), 4, max(1, int(fig.get_size_inches()[0] / 2.8)))  # entries fit the width
    rows = -(-len(labels) // ncol)
    height = fig.get_size_inches()[1]
    bottom = min(0.45, (0.32 * rows + 0.25) / height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))


def save(fig: Any, path: str | Path, dpi: int = 110, metadata: dict[str, str] | None = None) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (a temporary file renamed over it) and close it;
    ``metadata``: PNG text chunks (see :func:`png_text`)."""
    plt = pyplot()
    path = Path(path)
    try:
        with atomic.replacing(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", metadata=metadata)
    finally:
        plt.close(fig)
    return path


def png_text(path: str | Path, key: str) -> str | None:
    """The PNG text chunk ``key`` of the image at ``path`` (``None``: no such file, chunk or PNG)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.text.get(key) if hasattr(image, "text") else None
    except (OSError, ValueError, SyntaxError):
        return None


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
    plt = pyplot()
    fig, axes = plt.subplots(1, len(envs), figsize=(6.2 * len(envs), 4.4), squeeze=False)
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
        ax.set_ylabel(f"episode return\n(faint: each episode; line: mean of the last {window})")
        ax.grid(alpha=0.3)
    legend_below(fig, list(axes[0]), ncol=min(len(runs), 2))
    return save(fig, out)
