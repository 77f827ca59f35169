"""The figure and the table of a book-figure folder, from its saved runs.

Figure: mean total reward per episode over the runs against the episode number, one line per
configuration with a band of ±1.96 standard errors of that mean, and the dashed reference line
(v*(s0) for the short corridor). Table: mean total reward over the suite's episode windows,
mean p(right) after the listed episodes, and the runs that hit the episode-length cap: counted,
listed, in the "all runs" column and named in the figure's legend, but kept out of the curve
and the window means (see :mod:`pgzoo.book.figures`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pgzoo import atomic
from pgzoo.provenance import sentence

if TYPE_CHECKING:
    from pgzoo.book.figure_suite import FigureSuite

def table_rows(suite: FigureSuite, lines: list[dict[str, np.ndarray]], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per line: window means, p(right) means, capped runs."""
    rows = []
    episodes = meta["episodes"]
    for line, data in zip(suite.lines, lines, strict=True):
        ok = ~capped(data)
        row: dict[str, Any] = {"line": line.label, "runs": int(data["returns"].shape[0])}
        for lo, hi in suite.windows:
            if hi <= episodes:
                row[f"reward {lo}–{hi}"] = float(data["returns"][ok, lo - 1:hi].mean())
        for j, k in enumerate(meta["p_after_episodes"]):
            row[f"p(right) after {k}"] = float(np.nanmean(data["p_after"][ok, j]))
        row["capped runs"] = int((~ok).sum())
        lo, hi = ([(a, b) for a, b in suite.windows if b <= episodes] or [(1, episodes)])[-1]
        row[f"reward {lo}–{hi}, all runs"] = float(data["returns"][:, lo - 1:hi].mean())
        row["capped: run (stopped at episode, p(right))"] = ", ".join(
            f"{r} ({int(data['stopped_at'][r]) or '-'}, {float(data['p_final'][r]):.3g})" for r in np.flatnonzero(~ok)
        ) or "-"
        rows.append(row)
    return rows


def capped(data: dict[str, np.ndarray]) -> np.ndarray:
    """Runs with at least one episode cut at the cap."""
    return data["truncated"].any(axis=1)


def markdown_table(suite: FigureSuite, rows: list[dict[str, Any]], meta: dict[str, Any],
                   folder: Path | None = None) -> str:
    """The rows as a Markdown table with a caption stating the runs, the cap and the mode, and (with
    ``folder``) a sentence on the runs' provenance against the installed code (:func:`pgzoo.provenance.sentence`)."""
    keys = list(rows[0])
    fmt = {k: (lambda v: f"{v:.3f}") if k.startswith("p(") else (lambda v: f"{v:.2f}") for k in keys}
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for row in rows:
        cells = [fmt[k](v) if isinstance(v, float) else str(v) for k, v in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    caption = (
        f"{suite.title}. {meta['runs']} independent runs (seeds 0–{meta['runs'] - 1}) × {meta['episodes']} "
        f"episodes per line, trained {meta['mode']}. \"reward a–b\": total reward per episode averaged over "
        f"episodes a–b and over the runs never capped. p(right): π(right | s) after that episode's updates, "
        f"averaged over the same runs. Episodes are capped at {suite.max_episode_steps} steps: an episode that "
        f"long means p has run to (or next to) 0 or 1, where episodes (nearly) never end; such a run is stopped "
        f"there, and in the \"all runs\" column its remaining episodes count at the cap's return "
        f"(−{suite.max_episode_steps}). "
        f"\"capped runs\" counts them; the \"all runs\" column includes them; the last column lists them "
        f"(seed, episode of the stop, p(right) there)."
    )
    if suite.reference is not None:
        caption += f" {suite.reference_label} ≈ {suite.reference:.3f}."
    made = sentence(meta.get("provenance"), f"pgzoo bench {folder}") if folder is not None else ""
    return caption + "\n\n" + "\n".join(lines) + "\n" + (f"\n{made}\n" if made else "")


def plot(suite: FigureSuite, lines: list[dict[str, np.ndarray]], path: Path) -> None:
    """The book-style learning-curve figure."""
    from pgzoo import plotting

    with plotting.styled():
        _draw(suite, lines, path)


def _draw(suite: FigureSuite, lines: list[dict[str, np.ndarray]], path: Path) -> None:
    from pgzoo import plotting

    fig, axes = plotting.figure(size=(7.5, 5.4))
    ax = axes[0][0]
    for i, (line, data) in enumerate(zip(suite.lines, lines, strict=True)):
        n_capped = int(capped(data).sum())
        returns = data["returns"][~capped(data)]
        x = np.arange(1, returns.shape[1] + 1)
        mean = returns.mean(0)
        se = returns.std(0, ddof=1) / np.sqrt(returns.shape[0]) if returns.shape[0] > 1 else np.zeros_like(mean)
        colour = plotting.style(i)["color"]
        ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, color=colour, alpha=0.25, linewidth=0)
        note = f" ({n_capped} capped run{'s' * (n_capped > 1)} left out, see table)" if n_capped else ""
        ax.plot(x, mean, color=colour, linewidth=1.0, label=line.label + note)
    if suite.reference is not None:
        ax.axhline(suite.reference, color="k", linestyle="--", linewidth=1.0,
                   label=f"{suite.reference_label} ≈ {suite.reference:.2f}")
    ax.set_xlabel("episode")
    ax.set_ylabel(f"total reward on episode\n(mean of {lines[0]['returns'].shape[0]} runs, capped runs aside)")
    ax.set_title(suite.title)
    ax.set_ylim(-90, -10)
    ax.set_xlim(1, lines[0]["returns"].shape[1])
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=1,
               title="bands: ±1.96 standard errors of the mean over runs", title_fontsize=9)
    plotting.save(fig, path)


def render(folder: Path, suite: FigureSuite, lines: list[dict[str, np.ndarray]], meta: dict[str, Any]) -> Path:
    """Write ``figure.png``, ``table.md`` and ``table.json`` into ``folder``; return the figure's path."""
    rows = table_rows(suite, lines, meta)
    atomic.write_text(folder / "table.md", markdown_table(suite, rows, meta, folder))
    atomic.write_text(folder / "table.json", json.dumps({"suite": suite.name, "cap": suite.max_episode_steps,
                                                   "meta": meta, "rows": rows}, indent=2, ensure_ascii=False) + "\n")
    path = folder / "figure.png"
    plot(suite, lines, path)
    return path
