"""CPU time of the four lines of Figures 13.1 and 13.2: pgzoo's populations against a NumPy floor.

The four lines (ShortCorridor-v0, ``--runs`` runs × ``--episodes`` episodes each, the settings
of ``leaderboards/book-13.1`` and ``leaderboards/book-13.2``): REINFORCE with α = 2⁻¹², 2⁻¹³,
2⁻¹⁴ and REINFORCE with baseline (α^θ = 2⁻⁹, α^w = 2⁻⁶); γ = 1, plain SGD, the boxes' sequential
in-episode updates, runs stopped at their first episode capped at 1000 steps.

- ``pgzoo``: :class:`pgzoo.engine.population.Population` with the plugins' own losses, as the
  figures are made: the three REINFORCE step sizes as one population of 3 × runs members, the
  baseline as one of ``runs``. Its time is the populations' ``cpu_s`` (their loops).
- ``numpy``: the floor: the same two groups of runs written directly in NumPy, vectorised over
  runs, episode by episode (all runs' episodes stepped together, then the boxes' updates one
  time step at a time for all runs, θ updated in the loop), the gradient of ln π written out by
  hand. Its own random numbers, so its curves agree with the figures in distribution only; it
  prints its mean reward over the last 10% of episodes for comparison.

Protocol (``benchmarks/protocol.py``): each side in its own process, alternating over
``--rounds`` rounds, CPU time of the work; the median of the paired ratios pgzoo / NumPy and the
load average. pgzoo's per-run episode returns are also compared with the committed
``runs.npz`` (same seeds): bit for bit over the episodes both have, and by the mean reward over
the last 10% of episodes against the committed mean and its standard error::

    python benchmarks/book_figures.py --rounds 3 [--runs 100 --episodes 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from protocol import load_line, paired_rounds, run_worker  # benchmarks/protocol.py (the script's folder)

from pgzoo.book.figure_suite import load_suite
from pgzoo.engine.population import Population
from pgzoo.registry import get_algorithm

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"
LINES = [("book-13.1", 0), ("book-13.1", 1), ("book-13.1", 2), ("book-13.2", 1)]
"""The four lines: (suite, line index); book-13.2's line 0 is book-13.1's line 1."""


def line_settings() -> list[tuple[str, str, dict[str, Any], int]]:
    """(label, algorithm, hyperparameters, max_episode_steps) of the four lines."""
    out = []
    for name, i in LINES:
        suite = load_suite(ROOT / name)
        line = suite.lines[i]
        out.append((line.label, line.algorithm, dict(line.hyperparams), suite.max_episode_steps))
    return out


def run_pgzoo(runs: int, episodes: int, compile_: str = "off") -> tuple[float, float, list[list[np.ndarray]]]:
    """CPU seconds of the populations' loops and of the compiling in them, and per line the runs'
    episode returns. ``compile_`` is the algorithms' ``compile`` setting (``on``: the compiled
    population update and acting of :mod:`pgzoo.engine.population_compiled`)."""
    by_algo: dict[str, list[int]] = {}
    settings = line_settings()
    for i, (_, algo, _, _) in enumerate(settings):
        by_algo.setdefault(algo, []).append(i)
    seeds, cpu, compile_cpu, returns = list(range(runs)), 0.0, 0.0, [None] * len(settings)
    for name, members in by_algo.items():
        cls = get_algorithm(name)
        algos = [cls(cls.make_config("ShortCorridor-v0", {
            **settings[i][2], "total_episodes": episodes, "eval_episodes": 1, "max_episode_steps": settings[i][3],
            "compile": compile_}))
            for i in members]
        pop = Population([a for a in algos for _ in seeds], "ShortCorridor-v0", seeds * len(members),
                         stop_on_truncation=True).run()
        pop.check()
        cpu += pop.cpu_s
        compile_cpu += pop.compile_cpu_s
        for j, i in enumerate(members):
            returns[i] = pop.episode_returns[j * runs:(j + 1) * runs]
    return cpu, compile_cpu, returns


def numpy_floor(alpha_theta: np.ndarray, alpha_w: float | None, episodes: int, max_steps: int,
                rng: np.random.Generator) -> np.ndarray:
    """REINFORCE (with baseline v̂ = w if ``alpha_w``) on the short corridor for ``len(alpha_theta)``
    runs at once; returns the episode returns ``[runs, episodes]`` (−max_steps after a run's stop).

    θ starts at [−ln 19, 0] (p(right) = 0.05), w at 0, γ = 1. Per episode: every active run's
    episode at its fixed θ (the features ignore the state, so π is one p per run), then for
    t = 0 … T−1: δ = G_t − w, w ← w + α^w δ, θ ← θ + α^θ δ (x(A_t) − π) (δ = G_t without baseline).
    """
    runs = len(alpha_theta)
    h_right, h_left = np.full(runs, -np.log(19.0)), np.zeros(runs)  # θ = [−ln 19, 0]
    w = np.zeros(runs)
    active = np.ones(runs, dtype=bool)
    out = np.full((runs, episodes), -float(max_steps))
    right = np.zeros((max_steps, runs))
    for k in range(episodes):
        p_right = 1.0 / (1.0 + np.exp(h_left - h_right))
        state = np.zeros(runs, dtype=np.int64)
        going, length, t = active.copy(), np.zeros(runs), 0
        while going.any() and t < max_steps:
            go_right = rng.random(runs) < p_right
            right[t] = go_right
            state = np.where(going, np.maximum(0, state + np.where(go_right != (state == 1), 1, -1)), state)
            length += going
            going &= state != 3
            t += 1
        out[active, k] = -length[active]
        coef = np.where(active, alpha_theta, 0.0)
        for s in range(t):  # ∇ln π(right) = [1 − p, −(1 − p)], ∇ln π(left) = [−p, p]: θ_right gains what θ_left loses
            delta = s - length  # G_t = −(T − t)
            if alpha_w is not None:
                delta = delta - w
                w = w + np.where(s < length, alpha_w * delta, 0.0) * active
            step = np.where(s < length, coef * delta, 0.0) * (right[s] - 1.0 / (1.0 + np.exp(h_left - h_right)))
            h_right, h_left = h_right + step, h_left - step
        active &= ~going  # an episode cut at max_steps: the run stops (as in the figures)
    return out


def run_numpy(runs: int, episodes: int, seed: int = 0) -> tuple[float, list[np.ndarray]]:
    """CPU seconds of the floor (three REINFORCE step sizes together, then the baseline) and its returns."""
    settings = line_settings()
    rng = np.random.default_rng(seed)
    start = time.process_time()
    alphas = np.repeat([s[2]["alpha_theta"] for s in settings[:3]], runs)
    reinforce = numpy_floor(alphas, None, episodes, settings[0][3], rng)
    hp = settings[3][2]
    baseline = numpy_floor(np.full(runs, hp["alpha_theta"]), hp["alpha_w"], episodes, settings[3][3], rng)
    cpu = time.process_time() - start
    return cpu, [reinforce[:runs], reinforce[runs:2 * runs], reinforce[2 * runs:], baseline]


def committed_check(returns: list[list[np.ndarray]], episodes: int) -> list[dict[str, Any]]:
    """Per line, against the committed ``runs.npz`` (seeds 0–99 × 1000 episodes): whether every
    run's episode returns equal the committed ones bit for bit over the episodes both have, and
    the mean reward over the last 10% of the episodes of the runs never capped (the tables'
    "reward 901–1000" at full length), pgzoo's and the committed one's with its standard error."""
    out = []
    tail = slice(episodes - max(1, episodes // 10), episodes)
    for (name, i), line in zip(LINES, returns, strict=True):
        with np.load(ROOT / name / "runs.npz") as z:
            committed, stopped = z[f"returns_{i}"], z[f"stopped_at_{i}"]
        same = True
        for r, x in enumerate(line):
            n = min(len(x), stopped[r] or committed.shape[1])
            same &= bool(np.array_equal(x[:n], committed[r, :n]))
        ours = np.array([x[tail].mean() for x in line if len(x) == episodes])
        theirs = np.array([committed[r, tail].mean() for r in range(len(line)) if not stopped[r]])
        out.append({"identical": same, "mean": float(ours.mean()), "committed_mean": float(theirs.mean()),
                    "committed_se": float(theirs.std(ddof=1) / np.sqrt(len(theirs))) if len(theirs) > 1 else 0.0})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--compile", choices=("on", "off"), default="on",
                        help="pgzoo's compile setting (default on; off: the eager engine, bit-identical to the "
                             "committed runs)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.worker:
        res: dict[str, Any]
        if args.worker == "pgzoo":
            cpu, compile_cpu, returns = run_pgzoo(args.runs, args.episodes, args.compile)
            res = {"cpu_s": cpu, "compile_cpu_s": compile_cpu, "committed": committed_check(returns, args.episodes)}
        else:
            cpu, returns = run_numpy(args.runs, args.episodes)
            tail = max(1, args.episodes // 10)
            res = {"cpu_s": cpu, "last_10pct_mean": [float(x[:, -tail:].mean()) for x in returns]}
        print(json.dumps(res))
        return 0

    labels = [s[0] for s in line_settings()]
    common = ["--runs", str(args.runs), "--episodes", str(args.episodes), "--compile", args.compile]
    report = paired_rounds(("pgzoo", "numpy"), lambda side, _r: run_worker(__file__, side, common),
                           lambda pg, np_: pg["cpu_s"] / np_["cpu_s"], args.rounds,
                           lambda r, pg, np_, x: f"round {r + 1}: pgzoo {pg['cpu_s']:.1f} CPU s (compiling "
                                                 f"{pg['compile_cpu_s']:.1f} of them), NumPy floor "
                                                 f"{np_['cpu_s']:.1f} CPU s: ratio {x:.1f}")
    pg = [p["pgzoo"] for p in report["rounds"]]
    floor = report["rounds"][0]["numpy"]
    print(f"\nall four lines, {args.runs} runs × {args.episodes} episodes each:")
    print(f"  pgzoo / NumPy floor, median of {args.rounds} paired ratios by CPU time: {report['median_ratio']:.1f}")
    mid = sorted(pg, key=lambda x: x["cpu_s"])[len(pg) // 2]
    print(f"  pgzoo (compile = {args.compile}) median CPU time: {mid['cpu_s']:.1f} s (target ≤ 10 s), of which "
          f"compiling {mid['compile_cpu_s']:.1f} s")
    print("  mean reward over the last 10% of episodes (runs never capped): pgzoo; committed ± its standard error;"
          " the NumPy floor (all runs, capped ones at the cap's return)")
    for label, c, mean in zip(labels, pg[0]["committed"], floor["last_10pct_mean"], strict=True):
        print(f"  {label}: {c['mean']:.2f}; {c['committed_mean']:.2f} ± {c['committed_se']:.2f}; floor {mean:.2f}; "
              f"pgzoo's returns {'identical to' if c['identical'] else 'differ from'} the committed runs")
    print(f"  {load_line(report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
