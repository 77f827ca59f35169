"""Training throughput on CartPole-v1 with 8 environments: pgzoo against Stable-Baselines3 A2C.

Two comparisons, both against SB3 A2C with rl-baselines3-zoo's CartPole-v1 settings (8 envs,
``ent_coef`` 0, otherwise SB3's defaults: n_steps = 5, 64×64 tanh networks for π and v̂):

- ``actor-critic``: pgzoo's one-step actor–critic at the book's cadence (one update per
  vector step, 5× as many updates as A2C), its CartPole-v1 defaults (64×64 tanh MLPs);
- ``a2c``: pgzoo's ``a2c`` at SB3 A2C's own schedule (``rollout_steps=5``, 8 envs).

Protocol (the machine is shared and noisy): every measurement runs in a process of its own, on
one torch thread; the two sides alternate over ``--rounds`` rounds (the order flips every
round); each side times only its training loop (pgzoo: the trainer's ``cpu_s``, which leaves
out set-up and evaluation; SB3: ``learn`` alone) by CPU time of the process; the result is the
median over rounds of the paired ratios pgzoo / SB3 of env steps per CPU second, printed next
to the load average::

    python benchmarks/throughput.py --steps 50000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from protocol import load_line, paired_rounds, run_worker  # benchmarks/protocol.py (the script's folder)

PEERS = {"actor-critic": {}, "a2c": {"rollout_steps": 5, "num_envs": 8}}


def measure_pgzoo(algorithm: str, steps: int, seed: int) -> dict[str, Any]:
    """Train pgzoo's ``algorithm`` with its CartPole-v1 defaults; the trainer's loop-only CPU time."""
    from pgzoo.engine.trainer import Trainer
    from pgzoo.registry import get_algorithm

    cls = get_algorithm(algorithm)
    algo = cls(cls.make_config("CartPole-v1", {**PEERS[algorithm], "total_steps": steps, "eval_episodes": 1}))
    summary = Trainer(algo, "CartPole-v1", seed, progress=False).run().summary
    return {"env_steps": summary["env_steps"], "cpu_s": summary["cpu_s"], "wall_s": summary["wall_s"],
            "updates": summary["updates"]}


def measure_sb3(steps: int, seed: int) -> dict[str, Any]:
    """Train SB3 A2C with the zoo's CartPole-v1 settings; CPU time of ``learn`` only."""
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = A2C("MlpPolicy", env, ent_coef=0.0, device="cpu", seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    env.close()
    return {"env_steps": model.num_timesteps, "cpu_s": cpu, "wall_s": wall, "updates": model._n_updates}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000, help="env steps per measurement (default 50000)")
    p.add_argument("--seed", type=int, default=0, help="seed of every measurement (default 0)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    p.add_argument("--algorithms", default="actor-critic,a2c", help="pgzoo sides, comma-separated")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.worker:
        res = measure_sb3(args.steps, args.seed) if args.worker == "sb3-a2c" else measure_pgzoo(
            args.worker, args.steps, args.seed)
        print(json.dumps(res))
        return 0
    report: dict[str, Any] = {}
    worker_args = ["--steps", str(args.steps), "--seed", str(args.seed)]
    for algorithm in args.algorithms.split(","):

        def show(r: int, pg: dict, sb: dict, ratio: float, algorithm: str = algorithm) -> str:
            return (f"{algorithm:>12} round {r + 1}: pgzoo {pg['env_steps'] / pg['cpu_s']:7.0f} env steps/CPU s "
                    f"({pg['updates']} updates), SB3 A2C {sb['env_steps'] / sb['cpu_s']:7.0f} ({sb['updates']} "
                    f"updates): ratio {ratio:.2f}")

        res = paired_rounds((algorithm, "sb3-a2c"), lambda side, _r: run_worker(__file__, side, worker_args),
                            lambda pg, sb: (pg["env_steps"] / pg["cpu_s"]) / (sb["env_steps"] / sb["cpu_s"]),
                            args.rounds, None if args.json else show)
        report[algorithm] = {"median_ratio_cpu": res["median_ratio"], "rounds": res["rounds"],
                             "load_average_before": res["load_average_before"],
                             "load_average_after": res["load_average_after"]}
    if args.json:
        print(json.dumps(report))
        return 0
    for algorithm in args.algorithms.split(","):
        print(f"pgzoo {algorithm} / SB3 A2C, median of {args.rounds} paired ratios by CPU time: "
              f"{report[algorithm]['median_ratio_cpu']:.2f}; {load_line(report[algorithm])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
