"""Wall time of the four configurations of Figures 13.1 and 13.2: population vs one run at a time.

The four configurations (ShortCorridor-v0, 100 runs × 1000 episodes each): REINFORCE with
α = 2⁻¹², 2⁻¹³, 2⁻¹⁴ and REINFORCE with baseline (α^θ = 2⁻⁹, α^w = 2⁻⁶), with the settings of
``leaderboards/book-13.1`` and ``leaderboards/book-13.2``.

- Population mode: the three REINFORCE step sizes as one population of 300 members (members
  may differ in step sizes), the baseline as one of 100; all runs in full.
Runs whose episode hits the 1000-step cap (p(right) at 0 or 1: no episode can end any more)
stop there, as in the figures; the plain loop is timed on runs that were never capped.

- Plain loop: :class:`pgzoo.Trainer`, one run after another. Running all 400 runs that way
  takes hours here, so by default ``--plain-runs`` runs per configuration are trained in full
  and the loop's time is extrapolated from its time per env step to the env steps the full
  configuration took (known from the population). The output says which numbers are measured
  and which extrapolated; ``--plain-runs 100`` measures everything.

A reference workload (fixed: 20 000 plain-SGD steps of a two-parameter soft-max in eager
PyTorch) is timed at the start and at the end, to read the other numbers against the
machine's load at the time.

Usage: ``python benchmarks/book_figures.py [--runs 100] [--episodes 1000] [--plain-runs 2]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from pgzoo.book.figure_suite import load_suite
from pgzoo.engine.population import Population
from pgzoo.engine.trainer import Trainer
from pgzoo.registry import get_algorithm

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"


def configurations(episodes: int) -> list[tuple[str, object]]:
    """(label, configured algorithm) of the four configurations, from the two suites' lines."""
    out, seen = [], set()
    for name in ("book-13.1", "book-13.2"):
        suite = load_suite(ROOT / name)
        for line in suite.lines:
            if line.label in seen:
                continue
            seen.add(line.label)
            cls = get_algorithm(line.algorithm)
            overrides = {**line.hyperparams, "total_episodes": episodes, "eval_episodes": 1,
                         "max_episode_steps": suite.max_episode_steps}
            out.append((line.label, cls(cls.make_config(suite.env, overrides))))
    return out


def reference_workload() -> float:
    """Seconds for a fixed eager-PyTorch workload (20 000 SGD steps on a 2-parameter soft-max)."""
    theta = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=1e-3)
    start = time.perf_counter()
    for _ in range(20_000):
        loss = -torch.log_softmax(theta, 0)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--plain-runs", type=int, default=2, help="runs per configuration in the plain loop")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.runs))
    configs = configurations(args.episodes)
    ref_start = reference_workload()
    print(f"reference workload at start: {ref_start:.2f} s")

    by_algo: dict[str, list[int]] = {}
    for i, (_, algo) in enumerate(configs):
        by_algo.setdefault(algo.name, []).append(i)
    steps = np.zeros(len(configs))
    uncapped: dict[int, list[int]] = {}
    pop_wall = 0.0
    for name, members in by_algo.items():
        algos = [configs[i][1] for i in members for _ in seeds]
        start = time.perf_counter()
        result = Population(algos, "ShortCorridor-v0", seeds * len(members), stop_on_truncation=True).run()
        result.check()
        wall = time.perf_counter() - start
        pop_wall += wall
        for j, i in enumerate(members):
            rows = slice(j * args.runs, (j + 1) * args.runs)
            steps[i] = result.env_steps[rows].sum()
            uncapped[i] = [s for s, cut in zip(seeds, result.episode_truncated[rows], strict=True) if not cut.any()]
        print(f"population {name} ×{len(algos)}: {wall:.1f} s, {result.rounds} rounds "
              f"({1e3 * wall / max(result.rounds, 1):.2f} ms per round), {result.env_steps.sum():,} env steps")

    plain_wall, extrapolated = 0.0, False
    for i, (label, algo) in enumerate(configs):
        k = min(args.plain_runs, len(uncapped[i]))
        start, measured_steps = time.perf_counter(), 0
        for seed in uncapped[i][:k]:
            measured_steps += Trainer(algo, "ShortCorridor-v0", seed, progress=False).run().summary["env_steps"]
        wall = time.perf_counter() - start
        full = wall if k == args.runs else wall / measured_steps * steps[i]
        extrapolated |= k < args.runs
        plain_wall += full
        how = ("measured" if k == args.runs
               else f"extrapolated from {k} full runs ({wall:.1f} s, {measured_steps:,} steps)")
        print(f"plain loop {label}: {full:.1f} s ({how})")

    ref_end = reference_workload()
    print(f"reference workload at end: {ref_end:.2f} s")
    print(f"\nall four configurations, {args.runs} runs × {args.episodes} episodes each:")
    print(f"  population mode: {pop_wall:.1f} s (measured)")
    print(f"  plain loop:      {plain_wall:.1f} s ({'extrapolated' if extrapolated else 'measured'})")
    print(f"  ratio:           {plain_wall / pop_wall:.1f}×")
    print(f"  target ≤ 10 s:   {'met' if pop_wall <= 10 else 'not met'}")


if __name__ == "__main__":
    main()
