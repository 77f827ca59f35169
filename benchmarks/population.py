"""Wall time of R seeds of one algorithm: trained as one population vs one run after another.

Both train the same runs (the algorithm's ``env_defaults`` for the environment, ``--steps``
env steps per seed; the plain loop also evaluates each run on one final episode) and should
end with the same parameters: the script prints the largest difference (in float32 rounding
grows over thousands of Adam steps; ``--float64`` shows agreement to ~1e-15), the two times
and their ratio.

Usage::

    python benchmarks/population.py --algorithm actor-critic-traces --env Pendulum-v1 --seeds 5 --steps 20000
"""

from __future__ import annotations

import argparse
import time

import torch

from pgzoo.engine.population import Population
from pgzoo.engine.trainer import Trainer
from pgzoo.registry import get_algorithm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="actor-critic-traces")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--float64", action="store_true",
                        help="train in float64: the parameters then agree to ~1e-15 instead of float32 rounding")
    args = parser.parse_args()
    torch.set_num_threads(1)

    cls = get_algorithm(args.algorithm)
    algo = cls(cls.make_config(args.env, {"total_steps": args.steps, "eval_episodes": 1}))
    seeds = list(range(args.seeds))

    start = time.perf_counter()
    dtype = torch.float64 if args.float64 else torch.float32
    pop = Population(algo, args.env, seeds, dtype=dtype).run()
    pop.check()
    t_pop = time.perf_counter() - start

    start, alone = time.perf_counter(), []
    for seed in seeds:
        alone.append(Trainer(algo, args.env, seed, progress=False, dtype=dtype).run())
    t_plain = time.perf_counter() - start

    worst = max(float((pop.params[n][r] - p.detach()).abs().max())
                for r, res in enumerate(alone) for n, p in res.agent.named_parameters())
    print(f"{args.algorithm} on {args.env}, {args.seeds} seeds x {args.steps} env steps "
          f"({algo.config.num_envs} envs per run)")
    print(f"  population:         {t_pop:8.1f} s  ({pop.rounds} rounds)")
    print(f"  one run at a time:  {t_plain:8.1f} s  (Trainer, including its final evaluation)")
    print(f"  speed-up: {t_plain / t_pop:.2f}x;  largest parameter difference {worst:.1e} ({dtype}: "
          "batched and unbatched kernels round differently, and Adam carries the differences on)")


if __name__ == "__main__":
    main()
