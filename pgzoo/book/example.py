"""Example 13.1: J(p) of the short corridor from the closed form, checked by Monte Carlo.

A folder with a ``suite.toml`` of ``kind = "book-example"`` names the environment, the
probabilities p of "right" to check and the episodes per probability. The Monte-Carlo
estimate runs the environment itself (gymnasium copies, no time limit in the way) under the
policy "right with probability p" in every state. Writes ``figure.png`` (the J(p) curve, the
estimates with 1.96-standard-error bars, p* and J(p*), the two ε-greedy policies),
``table.md`` and ``table.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pgzoo import atomic
from pgzoo.config import build_config, load_toml
from pgzoo.engine.batched_envs import EnvList

OPTIMAL_P = 2 - math.sqrt(2)
OPTIMAL_VALUE = -(6 + 4 * math.sqrt(2))
EPSILON_GREEDY = {"ε-greedy right (p = 0.95)": 0.95, "ε-greedy left (p = 0.05)": 0.05}
NO_CAP = 10**7


class ExampleSuite(BaseModel):
    """The contents of the example's ``suite.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(pattern="^book-example$")
    name: str
    title: str
    env: str
    episodes: int = Field(2000, ge=10)
    seed: int = 0
    probabilities: list[float] = Field(min_length=1)


def start_value(p: float | np.ndarray) -> float | np.ndarray:
    """J(p) = (2p − 4) / (p(1 − p)), the book's closed form."""
    return (2 * p - 4) / (p * (1 - p))


def monte_carlo(env_id: str, p: float, episodes: int, seed: int) -> np.ndarray:
    """Total reward of ``episodes`` episodes acting "right" (action 0) with probability ``p``."""
    rng = np.random.default_rng([seed, int(p * 1e9)])
    envs = EnvList(env_id, episodes, max_episode_steps=NO_CAP)
    try:
        envs.reset(range(episodes))
        totals, running = np.zeros(episodes), np.arange(episodes)
        while len(running):
            actions = np.where(rng.random(len(running)) < p, 0, 1)
            step = envs.step(running, actions)
            totals[running] += step.reward
            running = running[~(step.terminated | step.truncated)]
    finally:
        envs.close()
    return totals


def reproduce_example(folder: str | Path) -> Path:
    """Compute the table and the figure of an example folder; return the figure's path."""
    folder = Path(folder)
    suite = build_config(ExampleSuite, load_toml(folder / "suite.toml"), f"{folder}/suite.toml")
    rows = []
    for p in suite.probabilities:
        totals = monte_carlo(suite.env, p, suite.episodes, suite.seed)
        se = float(totals.std(ddof=1) / math.sqrt(len(totals)))
        exact = float(start_value(p))
        rows.append({"p": p, "J closed form": exact, "Monte Carlo": float(totals.mean()), "standard error": se,
                     "within 3 SE": abs(float(totals.mean()) - exact) <= 3 * se})
    marks = {"p*": OPTIMAL_P, "J(p*)": OPTIMAL_VALUE, **{k: float(start_value(v)) for k, v in EPSILON_GREEDY.items()}}
    atomic.write_text(folder / "table.json", json.dumps({"suite": suite.name, "episodes": suite.episodes,
                                                   "rows": rows, "marks": marks}, indent=2, ensure_ascii=False) + "\n")
    lines = [f"{suite.title}. Monte Carlo: {suite.episodes} episodes of the environment per p, no time limit. "
             f"p* = 2 − √2 ≈ {OPTIMAL_P:.4f}, J(p*) = −(6+4√2) ≈ {OPTIMAL_VALUE:.3f}; "
             + "; ".join(f"{k}: J ≈ {v:.1f}" for k, v in marks.items() if k.startswith("ε")) + ".", "",
             "| p | J(p) closed form | Monte Carlo | standard error | within 3 SE |", "|---|---|---|---|---|"]
    lines += [f"| {r['p']:.4f} | {r['J closed form']:.3f} | {r['Monte Carlo']:.3f} | {r['standard error']:.3f} | "
              f"{'yes' if r['within 3 SE'] else 'no'} |" for r in rows]
    atomic.write_text(folder / "table.md", "\n".join(lines) + "\n")
    path = folder / "figure.png"
    _plot(suite, rows, path)
    return path


def _plot(suite: ExampleSuite, rows: list[dict], path: Path) -> None:
    from pgzoo import plotting

    with plotting.styled():
        _draw(suite, rows, path)


def _draw(suite: ExampleSuite, rows: list[dict], path: Path) -> None:
    from pgzoo import plotting

    colours = plotting.palette()
    fig, axes = plotting.figure(size=(7.5, 5.6))
    ax = axes[0][0]
    p = np.linspace(0.01, 0.99, 400)
    ax.plot(p, start_value(p), color="k", linewidth=1.2, label="J(p) = (2p − 4) / (p(1 − p))")
    ax.errorbar([r["p"] for r in rows], [r["Monte Carlo"] for r in rows],
                yerr=[1.96 * r["standard error"] for r in rows], fmt="o", color=colours[0], markersize=4,
                capsize=2, label=f"Monte Carlo, {suite.episodes} episodes each (±1.96 SE)")
    ax.plot([OPTIMAL_P], [OPTIMAL_VALUE], marker="*", color=colours[1], markersize=14, linestyle="none",
            label=f"optimal p* = 2 − √2 ≈ {OPTIMAL_P:.3f}, J ≈ {OPTIMAL_VALUE:.2f}")
    for (label, q), colour in zip(EPSILON_GREEDY.items(), colours[2:4], strict=True):
        ax.plot([q], [start_value(q)], marker="s", color=colour, markersize=7, linestyle="none",
                label=f"{label}: J ≈ {start_value(q):.1f}")
    ax.set_ylim(-100, 0)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of right action, p")
    ax.set_ylabel("J(p) = v(s0)")
    ax.set_title(suite.title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=1)
    plotting.save(fig, path)
