"""Figures: the one place for pgzoo's plotting conventions (headless backend, colour-blind-safe
palette, shaded bands, legends outside the axes, atomic saving).

Used by the leaderboard curves (:mod:`pgzoo.bench.render`), the book's figures
(:mod:`pgzoo.book_figures_report`), ``pgzoo plot`` (training curves of runs) and ``pgzoo tune``'s
parameter importances.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

LINESTYLES = ("-", "--", "-.", ":")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def palette() -> list[str]:
    """Distinct colour-blind-safe colours (matplotlib's ``seaborn-v0_8-colorblind`` cycle, the
    palette rliable's figures use)."""
    import matplotlib.style

    return list(matplotlib.style.library["seaborn-v0_8-colorblind"]["axes.prop_cycle"].by_key()["color"])


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
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if not labels:
        fig.tight_layout()
        return
    ncol = ncol or min(len(labels), 4)
    rows = -(-len(labels) // ncol)
    height = fig.get_size_inches()[1]
    bottom = min(0.45, (0.32 * rows + 0.25) / height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))


def save(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (a temporary file renamed over it) and close it."""
    plt = pyplot()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    os.replace(tmp, path)
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
