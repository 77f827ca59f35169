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
to the load average (machinery shared with the other benchmarks: ``benchmarks/protocol.py``).

pgzoo trains with ``compile = --compile`` (default ``on``: the compiled update of
:mod:`pgzoo.engine.compiled`). One untimed run per algorithm first fills the compile cache; the
ratio is of training throughput with the CPU seconds spent compiling left out (the trainer
reports them apart, ``compile_cpu_s``); a second ratio with them included is printed too::

    python benchmarks/throughput.py --steps 50000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from protocol import load_line, paired_rounds, run_worker  # benchmarks/protocol.py (the script's folder)

PEERS = {"actor-critic": {}, "a2c": {"rollout_steps": 5, "num_envs": 8}}


def measure_pgzoo(algorithm: str, steps: int, seed: int, compile_setting: str) -> dict[str, Any]:
    """Train pgzoo's ``algorithm`` with its CartPole-v1 defaults; the trainer's loop-only CPU time
    without (``cpu_s``) and with (``cpu_s_with_compile``) the CPU seconds spent compiling."""
    from pgzoo.engine.trainer import Trainer
    from pgzoo.registry import get_algorithm

    cls = get_algorithm(algorithm)
    overrides = {**PEERS[algorithm], "total_steps": steps, "eval_episodes": 1, "compile": compile_setting}
    summary = Trainer(cls(cls.make_config("CartPole-v1", overrides)), "CartPole-v1", seed, progress=False).run().summary
    return {"env_steps": summary["env_steps"], "cpu_s": summary["cpu_s"] - summary["compile_cpu_s"],
            "cpu_s_with_compile": summary["cpu_s"], "compile_s": summary["compile_s"],
            "compiled": summary["compiled"], "wall_s": summary["wall_s"], "updates": summary["updates"]}


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
    return {"env_steps": model.num_timesteps, "cpu_s": cpu, "cpu_s_with_compile": cpu, "wall_s": wall,
            "updates": model._n_updates}


def speed(res: dict[str, Any], key: str = "cpu_s") -> float:
    """Env steps per CPU second."""
    return res["env_steps"] / res[key]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000, help="env steps per measurement (default 50000)")
    p.add_argument("--seed", type=int, default=0, help="seed of every measurement (default 0)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    p.add_argument("--algorithms", default="actor-critic,a2c", help="pgzoo sides, comma-separated")
    p.add_argument("--compile", default="on", choices=("on", "off", "auto"), help="pgzoo's compile setting")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.worker:
        res = measure_sb3(args.steps, args.seed) if args.worker == "sb3-a2c" else measure_pgzoo(
            args.worker, args.steps, args.seed, args.compile)
        print(json.dumps(res))
        return 0
    worker_args = ["--steps", str(args.steps), "--seed", str(args.seed), "--compile", args.compile]
    report: dict[str, Any] = {"load_average_before": os.getloadavg()}
    algorithms = args.algorithms.split(",")
    for algorithm in algorithms:
        if args.compile != "off":  # fill the compile cache, untimed
            run_worker(__file__, algorithm, ["--steps", "800", "--seed", str(args.seed), "--compile", args.compile])

        def show(r: int, pg: dict[str, Any], sb: dict[str, Any], ratio: float, algorithm: str = algorithm) -> None:
            if not args.json:
                print(f"{algorithm:>12} round {r + 1}: pgzoo {speed(pg):7.0f} env steps/CPU s ({pg['updates']} "
                      f"updates, compiled: {pg.get('compiled')}, {pg.get('compile_s', 0):.1f} s compiling), "
                      f"SB3 A2C {speed(sb):7.0f} ({sb['updates']} updates): ratio {ratio:.2f}", flush=True)

        res = paired_rounds((algorithm, "sb3-a2c"), lambda side, _r: run_worker(__file__, side, worker_args),
                            lambda pg, sb: speed(pg) / speed(sb), args.rounds, show)
        res["median_ratio_with_compile"] = statistics.median(
            speed(x[algorithm], "cpu_s_with_compile") / speed(x["sb3-a2c"]) for x in res["rounds"])
        report[algorithm] = res
    report["load_average_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report))
        return 0
    for algorithm in algorithms:
        print(f"pgzoo {algorithm} / SB3 A2C, median of {args.rounds} paired ratios by CPU time: "
              f"{report[algorithm]['median_ratio']:.2f} (compile time included: "
              f"{report[algorithm]['median_ratio_with_compile']:.2f})")
    print(load_line(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
