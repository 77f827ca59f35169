"""What ``--tensorboard`` costs the training loop: the same run with and without the logger.

Trains ``--repeats`` pairs of runs (same algorithm, environment and seed, so the same updates),
alternating without and with a :class:`pgzoo.tblog.TensorBoardLogger`, and prints each run's
training env steps per second, the medians and their ratio. The default, actor-critic with
one environment on CartPole-v1, updates at every env step: the worst case for per-update logging.

Usage::

    python benchmarks/tensorboard_overhead.py --algorithm actor-critic --env CartPole-v1 --steps 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from pgzoo.engine.trainer import Trainer
from pgzoo.registry import get_algorithm
from pgzoo.tblog import TensorBoardLogger, TrainLogger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="actor-critic")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cls = get_algorithm(args.algorithm)
    config = cls.make_config(args.env, {"total_steps": args.steps, "num_envs": args.num_envs, "eval_episodes": 1})
    speeds: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for label in ("without", "with"):
                logger = TensorBoardLogger(tmp, f"run{r}") if label == "with" else TrainLogger()
                with logger:
                    s = Trainer(cls(config), args.env, 0, progress=False, logger=logger).run().summary
                speeds[label].append(s["env_steps_per_s"])
                print(f"repeat {r} {label:>7} TensorBoard: {s['env_steps_per_s']:8.1f} env steps/s "
                      f"({s['updates']} updates)", flush=True)
    a, b = statistics.median(speeds["without"]), statistics.median(speeds["with"])
    print(f"median env steps/s: without {a:.1f}, with {b:.1f}; with/without = {b / a:.3f}")
    # the logger alone: four terms per update, one update per env step
    sample = {"loss_policy": 0.1, "loss_value": -2.0, "td_error_mean": 0.3, "entropy": 0.69}
    n = 200_000
    with tempfile.TemporaryDirectory() as tmp, TensorBoardLogger(tmp, "micro") as logger:
        t0 = time.perf_counter()
        for step in range(1, n + 1):
            logger.on_update(step, sample)
        per_call = (time.perf_counter() - t0) / n
    print(f"on_update with {len(sample)} terms, one update per env step, windows of {logger.every} env steps: "
          f"{per_call * 1e6:.2f} µs per update = {per_call * a * 100:.3f}% of an update at {a:.0f} updates/s")


if __name__ == "__main__":
    main()
