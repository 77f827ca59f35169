"""CPU time of R seeds of one algorithm: trained as one population vs one run after another.

Both sides train the same runs (the algorithm's ``env_defaults`` for the environment,
``--steps`` env steps per seed) and should end with the same parameters (to float tolerance:
in float32 rounding grows over thousands of Adam steps; ``--float64`` shows agreement to
~1e-15): the script prints the largest difference of the first round.

Protocol (:mod:`protocol`): each side runs in a process of its own, the two alternate over
``--rounds`` rounds, each times its training loops alone by CPU time (the population's
``cpu_s``; the sum of the trainer's ``cpu_s`` over the seeds, which leaves out set-up and
evaluation); the result is the median of the paired ratios (one run at a time / population:
the population's speed-up), next to the load average::

    python benchmarks/population.py --algorithm actor-critic --env CartPole-v1 --seeds 5 --steps 10000 [--compile on]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from protocol import load_line, paired_rounds, run_worker  # benchmarks/protocol.py (the script's folder)

from pgzoo.engine.population import Population
from pgzoo.engine.trainer import Trainer
from pgzoo.registry import get_algorithm


def measure(side: str, algorithm: str, env: str, seeds: int, steps: int, dtype: torch.dtype,
            params_out: str | None, compile_: str = "off") -> dict[str, Any]:
    """Train ``seeds`` runs as a population (``side="population"``) or one after another (``"alone"``),
    both with the config's ``compile`` setting ``compile_``."""
    cls = get_algorithm(algorithm)
    algo = cls(cls.make_config(env, {"total_steps": steps, "eval_episodes": 1, "compile": compile_}))
    if side == "population":
        pop = Population(algo, env, list(range(seeds)), dtype=dtype).run()
        pop.check()
        params, cpu, wall, rounds = pop.params, pop.cpu_s, pop.wall_s, pop.rounds
        compile_cpu = pop.compile_cpu_s
    else:
        results = [Trainer(algo, env, seed, progress=False, dtype=dtype).run() for seed in range(seeds)]
        params = {n: torch.stack([dict(r.agent.named_parameters())[n].detach() for r in results])
                  for n, _ in results[0].agent.named_parameters()}
        cpu = sum(r.summary["cpu_s"] for r in results)
        wall, rounds = sum(r.summary["wall_s"] for r in results), None
        compile_cpu = sum(r.summary.get("compile_cpu_s", 0.0) for r in results)
    if params_out:
        torch.save(params, params_out)
    return {"cpu_s": cpu, "compile_cpu_s": compile_cpu, "wall_s": wall, "rounds": rounds,
            "num_envs": algo.config.num_envs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="actor-critic")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--float64", action="store_true",
                        help="train in float64: the parameters then agree to ~1e-15 instead of float32 rounding")
    parser.add_argument("--compile", choices=("off", "on"), default="off",
                        help="both sides' compile setting (on: the trainer's compiled update, the population's "
                             "compiled update and acting; CPU times include compiling)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--params-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dtype = torch.float64 if args.float64 else torch.float32
    if args.worker:
        print(json.dumps(measure(args.worker, args.algorithm, args.env, args.seeds, args.steps, dtype,
                                 args.params_out, args.compile)))
        return 0

    common = ["--algorithm", args.algorithm, "--env", args.env, "--seeds", str(args.seeds),
              "--steps", str(args.steps), "--compile", args.compile, *(["--float64"] if args.float64 else [])]
    with tempfile.TemporaryDirectory() as tmp:
        def run(side: str, r: int) -> dict[str, Any]:
            extra = ["--params-out", str(Path(tmp) / f"{side}.pt")] if r == 0 else []
            return run_worker(__file__, side, [*common, *extra])

        def show(r: int, alone: dict, pop: dict, ratio: float) -> str:
            return (f"round {r + 1}: one run at a time {alone['cpu_s']:.1f} CPU s (compiling "
                    f"{alone['compile_cpu_s']:.1f}), population {pop['cpu_s']:.1f} CPU s (compiling "
                    f"{pop['compile_cpu_s']:.1f}; {pop['rounds']} rounds): speed-up {ratio:.2f}x")

        report = paired_rounds(("alone", "population"), run, lambda alone, pop: alone["cpu_s"] / pop["cpu_s"],
                               args.rounds, show)
        a, p = (torch.load(Path(tmp) / f"{s}.pt") for s in ("alone", "population"))
        worst = max(float((a[n] - p[n]).abs().max()) for n in a)
    envs = report["rounds"][0]["population"]["num_envs"]
    print(f"{args.algorithm} on {args.env}, {args.seeds} seeds x {args.steps} env steps ({envs} envs per run), "
          f"compile = {args.compile}")
    print(f"  population speed-up over one run at a time, median of {args.rounds} paired ratios by CPU time: "
          f"{report['median_ratio']:.2f}x")
    pairs = [(x["alone"], x["population"]) for x in report["rounds"]]
    net = sorted((a["cpu_s"] - a["compile_cpu_s"]) / (p["cpu_s"] - p["compile_cpu_s"]) for a, p in pairs)
    print(f"  the same without the compiling, median: {net[len(net) // 2]:.2f}x")
    print(f"  largest parameter difference {worst:.1e} ({dtype}: batched and unbatched kernels round "
          "differently, and Adam carries the differences on)")
    print(f"  {load_line(report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
