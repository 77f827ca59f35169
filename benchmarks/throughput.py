"""Training throughput: pgzoo's one-step actor-critic vs Stable-Baselines3 A2C on CartPole-v1.

Both train for the same number of env steps with 8 environments in this one process, on one
torch thread, without any evaluation inside the timed part::

    python benchmarks/throughput.py --steps 50000 --repeats 3

On a shared machine, ``--repeats`` alternates the two and keeps each one's fastest run, and
the CPU time of the process (less sensitive to other processes) is printed next to the wall time.

pgzoo's ``actor-critic`` uses its CartPole-v1 ``env_defaults`` (one update per vector step, the
book's cadence); SB3 A2C uses rl-baselines3-zoo's CartPole-v1 settings (8 envs, ``ent_coef``
0, otherwise SB3's defaults: one update per 5 vector steps).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch


def pgzoo_steps_per_s(steps: int, seed: int) -> dict[str, Any]:
    """Train pgzoo's actor-critic; its trainer times the loop without setup and evaluation."""
    from pgzoo.registry import get_algorithm
    from pgzoo.trainer import Trainer

    cls = get_algorithm("actor-critic")
    algo = cls(cls.make_config("CartPole-v1", {"total_steps": steps, "eval_episodes": 1}))
    cpu = time.process_time()
    summary = Trainer(algo, "CartPole-v1", seed, progress=False).run().summary
    cpu = time.process_time() - cpu  # also counts setup and the two final evaluation episodes
    return {"env_steps": summary["env_steps"], "wall_s": summary["wall_s"],
            "env_steps_per_s": summary["env_steps"] / summary["wall_s"], "cpu_s": cpu,
            "cpu_steps_per_s": summary["env_steps"] / cpu, "updates": summary["updates"]}


def sb3_steps_per_s(steps: int, seed: int) -> dict[str, Any]:
    """Train SB3 A2C with the zoo's CartPole-v1 settings; time ``learn`` only."""
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = A2C("MlpPolicy", env, ent_coef=0.0, device="cpu", seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    env.close()
    return {"env_steps": model.num_timesteps, "wall_s": wall, "env_steps_per_s": model.num_timesteps / wall,
            "cpu_s": cpu, "cpu_steps_per_s": model.num_timesteps / cpu, "updates": model._n_updates}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000, help="env steps per library (default 50000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1,
                   help="alternate the two this many times and keep each one's fastest run (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    pg_runs, sb_runs = [], []
    for _ in range(max(1, args.repeats)):
        pg_runs.append(pgzoo_steps_per_s(args.steps, args.seed))
        sb_runs.append(sb3_steps_per_s(args.steps, args.seed))
    pg = max(pg_runs, key=lambda r: r["env_steps_per_s"])
    sb = max(sb_runs, key=lambda r: r["env_steps_per_s"])
    ratio = pg["env_steps_per_s"] / sb["env_steps_per_s"]
    cpu_ratio = pg["cpu_steps_per_s"] / sb["cpu_steps_per_s"]
    if args.json:
        print(json.dumps({"pgzoo_actor_critic": pg, "sb3_a2c": sb, "ratio": ratio, "cpu_ratio": cpu_ratio}))
        return 0
    for name, r in (("pgzoo actor-critic", pg), ("SB3 A2C", sb)):
        print(f"{name:<20} {r['env_steps']:>8} env steps in {r['wall_s']:7.2f} s = {r['env_steps_per_s']:8.0f} "
              f"steps/s (CPU time {r['cpu_s']:7.2f} s = {r['cpu_steps_per_s']:8.0f} steps/s; {r['updates']} updates)")
    print(f"ratio pgzoo / SB3: {ratio:.2f} (by CPU time {cpu_ratio:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
