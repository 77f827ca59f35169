"""Learned average reward on AccessControl-v0 against the dynamic-programming optimum.

    python -m pgzoo_book_envs.access_control_report leaderboards/access-control [--seeds 3] [--steps 150000]

Trains ``actor-critic-continuing`` (its AccessControl-v0 defaults) for each seed, computes the
optimal average reward by relative value iteration, and writes ``avg_reward.png`` (average
reward per step over training, one line per seed, the optimum dashed), ``results.json`` and
``README.md`` (a table) into the folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pgzoo_book_envs.access_control import ACCEPT, optimal_average_reward, window_std


def always_accept_reward(steps: int = 100_000, seed: int = 0) -> float:
    """Average reward per step of accepting every customer (simulated)."""
    from pgzoo.engine.envs import make_env

    env = make_env("AccessControl-v0")
    env.reset(seed=seed)
    total = sum(env.step(ACCEPT)[1] for _ in range(steps))
    return total / steps


def plot(runs: list[dict], gain: float, baseline: float, path: Path) -> None:
    """Average reward per step over training, one line per seed; the optimum dashed, with the band in
    which the optimal policy's own averages over the same window fall (±2 std): a learning curve
    above the line is the window's sampling noise, not a policy better than the optimum."""
    from pgzoo import plotting

    window = 10
    steps_per_row = int(np.diff(np.array(runs[0]["curve"])[:, 0]).min())
    _, policy = optimal_average_reward()
    spread = 2 * window_std(policy, window * steps_per_row)
    with plotting.styled():
        fig, axes = plotting.figure(size=(7.5, 5.6))
        ax = axes[0][0]
        for i, r in enumerate(runs):
            steps, rewards = np.array(r["curve"]).T
            smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], smooth, label=f"seed {r['seed']}", **plotting.style(i))
        ax.axhline(gain, ls="--", color="k", lw=1.2, label=f"optimum {gain:.3f} (relative value iteration):\n"
                                                           "the best policy's expected reward per step")
        ax.axhspan(gain - spread, gain + spread, color=plotting.CONTEXT, alpha=0.25, lw=0,
                   label=f"±2 std of the optimal policy's own {window}k-step means (±{spread:.3f}):\n"
                         "a curve above the optimum is this sampling noise")
        ax.axhline(baseline, ls=":", color=plotting.CONTEXT, lw=1.4, label=f"always accept {baseline:.3f}")
        plotting.steps_axis(ax)
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"reward per step\n(training, stochastic π; {window}k-step mean)")
        ax.set_title("Actor–critic with traces (§13.6) on access control (Example 10.2)")
        plotting.legend_below(fig, [ax], ncol=2)
        plotting.save(fig, path)


def main(argv: list[str] | None = None) -> int:
    import torch

    from pgzoo.engine.trainer import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--replot", action="store_true", help="redraw the figure from results.json, no training")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.replot:
        summary = json.loads((args.out / "results.json").read_text())
        plot(summary["runs"], summary["optimal_average_reward"], summary["always_accept"], args.out / "avg_reward.png")
        return 0
    gain, _ = optimal_average_reward()
    baseline = always_accept_reward()
    runs = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        result = train("actor-critic-continuing", "AccessControl-v0", seed=seed,
                       overrides={"total_steps": args.steps}, progress=True)
        s = result.summary
        runs.append({"seed": seed, "eval_avg_reward": s["eval_return_mean"],
                     "eval_avg_reward_greedy": s["eval_return_mean_deterministic"],
                     "wall_s": round(time.perf_counter() - t0, 1),
                     "curve": [(r["env_steps"], r["return"]) for r in result.episodes]})
    stoch = [r["eval_avg_reward"] for r in runs]
    greedy = [r["eval_avg_reward_greedy"] for r in runs]
    summary = {"optimal_average_reward": gain, "always_accept": baseline, "steps": args.steps,
               "eval_avg_reward_mean": float(np.mean(stoch)), "eval_avg_reward_greedy_mean": float(np.mean(greedy)),
               "fraction_of_optimum": float(np.mean(stoch)) / gain, "runs": runs}
    (args.out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")

    plot(runs, gain, baseline, args.out / "avg_reward.png")

    rows = "\n".join(f"| {r['seed']} | {r['eval_avg_reward']:.3f} | {r['eval_avg_reward_greedy']:.3f} | {r['wall_s']} |"
                     for r in runs)
    (args.out / "README.md").write_text(f"""# Access control (Example 10.2): actor–critic-continuing vs the optimum

Produced by `python -m pgzoo_book_envs.access_control_report {args.out} --seeds {args.seeds} --steps {args.steps}`.

Optimal average reward by relative value iteration: **{gain:.4f}** per step; always accepting
earns {baseline:.4f}. `actor-critic-continuing` with its AccessControl-v0 defaults (tabular
linear soft-max policy and differential v̂ on one-hot states, plain SGD, λ = 0.5), {args.steps:,} steps per
seed, evaluated for 5 × 5,000 steps on separate seeds:

| seed | avg reward (stochastic π) | avg reward (greedy π) | wall s |
|---|---|---|---|
{rows}

Mean: {np.mean(stoch):.4f} stochastic ({np.mean(stoch) / gain:.1%} of the optimum), {np.mean(greedy):.4f} greedy
({np.mean(greedy) / gain:.1%}).

![average reward over training](avg_reward.png)
""")
    print(f"optimum {gain:.4f}; learned {np.mean(stoch):.4f} (greedy {np.mean(greedy):.4f}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
