"""What checkpoints cost a ``pgzoo train`` run: periodic checkpoints against none, paired.

Two sides, each a run of the trainer into a run directory in a process of its own (the paired,
alternating protocol of :mod:`paired`): ``off`` (``checkpoint_every = 0``: no periodic
checkpoint; what is left in the hot loop is one attribute test per env step and one comparison
per update) and ``on`` (the default, a checkpoint at the first update after every tenth of the
budget: ten ``checkpoint.pt`` + ``model.pt`` writes). Each side times the training loop by CPU
time (the trainer's ``cpu_s``, which includes the checkpoints' writes and leaves out set-up and
evaluation); the result is the median over rounds of the paired ratios on/off, next to the load
average. Also printed: the time of one checkpoint write, and of the per-step test alone against
the run's time per env step.

Usage::

    python benchmarks/checkpoint_overhead.py --algorithm actor-critic --steps 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from protocol import load_line, paired_rounds, run_worker  # benchmarks/protocol.py (the script's folder)


def measure(side: str, algorithm: str, env_id: str, steps: int, seed: int) -> dict[str, Any]:
    """One run of ``algorithm`` with its ``env_id`` defaults into a temporary run directory."""
    import torch

    from pgzoo.engine.checkpoint import Checkpointer, checkpoint_interval
    from pgzoo.engine.trainer import Trainer
    from pgzoo.registry import get_algorithm

    torch.set_num_threads(1)
    cls = get_algorithm(algorithm)
    settings = {"total_steps": steps, "eval_episodes": 1, **({"checkpoint_every": 0} if side == "off" else {})}
    config = cls.make_config(env_id, settings)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Checkpointer(Path(tmp) / "run", checkpoint_interval(config), {"eval_every": None, "tensorboard": None})
        saves = 0
        save = ckpt.save

        def counted(progress: Any) -> None:
            nonlocal saves
            saves += 1
            save(progress)

        ckpt.save = counted  # type: ignore[method-assign]
        s = Trainer(cls(config), env_id, seed, Path(tmp) / "run", progress=False, checkpoints=ckpt).run().summary
    return {"env_steps": s["env_steps"], "cpu_s": s["cpu_s"], "wall_s": s["wall_s"], "checkpoints": saves}


def micro(algorithm: str, env_id: str, repeats: int = 20) -> dict[str, float]:
    """Seconds per checkpoint write (median of ``repeats``) and per ``if ckpt.pending`` test."""
    import statistics
    import timeit

    import torch

    from pgzoo.engine.checkpoint import Checkpointer, Progress
    from pgzoo.engine.envs import EnvBatch
    from pgzoo.engine.trainer import Trainer
    from pgzoo.registry import get_algorithm
    from pgzoo.sampling import ActionStream, draws_per_env
    from pgzoo.spaces import EnvSpec

    torch.set_num_threads(1)
    cls = get_algorithm(algorithm)
    algo = cls(cls.make_config(env_id))
    envs = EnvBatch(env_id, algo.config.num_envs)
    spec = EnvSpec.from_env(envs.envs[0], env_id)
    agent = algo.build_agent(spec)
    optimizer = algo.make_optimizer(agent)
    algo.loss.init_state(agent, algo.config.num_envs)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Checkpointer(Path(tmp), 1, {})
        ckpt.attach(envs)
        envs.reset(list(range(envs.num_envs)))
        stream = ActionStream(0, envs.num_envs, draws_per_env(spec.action_space))
        ckpt.bind(Trainer(algo, env_id, 0, progress=False), agent, optimizer, stream, torch.Generator(), envs)
        n = envs.num_envs
        progress = Progress(0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, None, [0.0] * n, [0] * n)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ckpt.save(progress)
            times.append(time.perf_counter() - t0)
        size = (Path(tmp) / "checkpoint.pt").stat().st_size
    envs.close()
    test = min(timeit.repeat("if c.pending: pass", globals={"c": ckpt}, number=1_000_000, repeat=5)) / 1_000_000
    return {"save_s": statistics.median(times), "test_s": test, "bytes": size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algorithm", default="actor-critic")
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.algorithm, args.env, args.steps, args.seed)))
        return 0
    worker_args = ["--algorithm", args.algorithm, "--env", args.env, "--steps", str(args.steps), "--seed",
                   str(args.seed)]

    def report(r: int, on: dict[str, Any], off: dict[str, Any], ratio: float) -> None:
        print(f"round {r + 1}: on {on['cpu_s']:.2f} CPU s ({on['checkpoints']} checkpoints), off {off['cpu_s']:.2f} "
              f"CPU s ({off['checkpoints']}): on/off {ratio:.3f}", flush=True)

    res = paired_rounds(("on", "off"), lambda side, _r: run_worker(__file__, side, worker_args),
                        lambda on, off: on["cpu_s"] / off["cpu_s"], args.rounds, report)
    m = micro(args.algorithm, args.env)
    per_step = statistics_median_cpu_per_step(res)
    print(f"{args.algorithm} on {args.env}, {args.steps} env steps: CPU time with/without periodic checkpoints, "
          f"median of {args.rounds} paired ratios: {res['median_ratio']:.3f}")
    print(f"one checkpoint write (checkpoint.pt of {m['bytes']} bytes, and model.pt): {m['save_s'] * 1e3:.2f} ms; "
          f"the per-step test: {m['test_s'] * 1e9:.0f} ns = {m['test_s'] / per_step * 100:.4f}% of an env step "
          f"({per_step * 1e6:.0f} µs)")
    print(load_line(res))
    return 0


def statistics_median_cpu_per_step(res: dict[str, Any]) -> float:
    """Median CPU seconds per env step of the ``off`` side."""
    import statistics

    return statistics.median(p["off"]["cpu_s"] / p["off"]["env_steps"] for p in res["rounds"])


if __name__ == "__main__":
    raise SystemExit(main())
