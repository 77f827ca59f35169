"""Time to solve CartPole-v1: pgzoo's algorithms at their defaults against SB3 A2C and PPO.

Solved: the first greedy evaluation (10 episodes on pgzoo's evaluation seeds, every 5,000 env
steps) with a mean return ≥ 475. Each (side, seed) trains in a process of its own until then
(or until ``--max-steps``); its time is the wall time of training up to that evaluation,
compile time included (pgzoo compiles if its ``compile = "auto"`` rule says so for the
algorithm's default budget), evaluation excluded (its seconds are measured and subtracted on
both sides). Set-up (making environments and networks) is not timed on either side.

pgzoo: each algorithm with its CartPole-v1 ``env_defaults`` (its default budget decides
``compile = "auto"``). SB3: A2C and PPO with rl-baselines3-zoo's CartPole-v1 settings (from
the pgzoo-sb3 plugin). Sides alternate seed by seed (order flipped every seed); per side the
median over seeds 0–2 of the time to solve; the ratio is pgzoo's fastest algorithm's median
over SB3 A2C's (and SB3 PPO's), printed with the load average (``benchmarks/protocol.py``)::

    python benchmarks/time_to_solve.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from protocol import load_line, run_worker  # benchmarks/protocol.py (the script's folder)

THRESHOLD = 475.0
EVERY = 5_000
EPISODES = 10


class Solved(Exception):
    """Raised from the evaluation hook to stop a solved pgzoo run."""


def solve_pgzoo(algorithm: str, seed: int, max_steps: int) -> dict[str, Any]:
    """Train ``algorithm`` at its CartPole-v1 defaults until solved; training wall seconds up to then.

    Evaluation time is measured as the gap between the last training event (an update or a
    finished episode) and the end of the evaluation, and subtracted.
    """
    from pgzoo.engine.trainer import EvalSchedule, Trainer
    from pgzoo.registry import get_algorithm
    from pgzoo.tblog import TrainLogger

    class Clock(TrainLogger):
        def __init__(self) -> None:
            self.start: float | None = None
            self.last = self.eval_s = 0.0
            self.solved: dict[str, Any] | None = None
            self.compiled: dict[str, Any] = {}

        def on_update(self, env_steps: int, terms: dict[str, float]) -> None:
            self.last = time.perf_counter()
            step = algo.compiled_step  # the run's compiled update, if "auto" chose one
            self.compiled = {"compiled": step is not None and not step.eager,
                             "compile_s": step.compile_s if step is not None else 0.0}

        def on_episode(self, row: dict[str, Any]) -> None:
            self.last = time.perf_counter()

        def on_eval(self, point: dict[str, float]) -> None:
            now = time.perf_counter()
            if self.start is None:  # the evaluation before training: the clock starts here
                self.start = self.last = now
                return
            self.eval_s += now - self.last
            self.last = now
            if point["return_mean_deterministic"] >= THRESHOLD:
                self.solved = {"env_steps": int(point["env_steps"]), "wall_s": now - self.start - self.eval_s,
                               "eval_s": self.eval_s}
                raise Solved

    cls = get_algorithm(algorithm)
    budget = cls.make_config("CartPole-v1", {}).total_steps
    algo = cls(cls.make_config("CartPole-v1", {"total_steps": min(budget, max_steps), "eval_episodes": 1}))
    clock = Clock()
    trainer = Trainer(algo, "CartPole-v1", seed, progress=False, schedule=EvalSchedule(EVERY, EPISODES), logger=clock)
    try:
        summary = trainer.run().summary
    except Solved:
        return {**clock.solved, "solved": True, **clock.compiled, "budget": budget}
    return {"solved": False, "env_steps": summary["env_steps"], "wall_s": summary["wall_s"],
            "compiled": summary["compiled"], "compile_s": summary["compile_s"], "budget": budget}


def solve_sb3(name: str, seed: int, max_steps: int) -> dict[str, Any]:
    """Train SB3 ``A2C`` or ``PPO`` with the zoo's CartPole-v1 settings until solved (same
    evaluation protocol, evaluation time subtracted)."""
    import stable_baselines3
    from pgzoo_sb3 import SB3A2C, SB3PPO, evaluate_sb3, parse_schedule
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from pgzoo.engine.evaluation import summarize
    from pgzoo.seeding import derive_seeds

    params = dict((SB3A2C if name == "A2C" else SB3PPO).env_defaults["CartPole-v1"])
    n_envs = params.pop("n_envs")
    kwargs = {k: parse_schedule(k, v) for k, v in params.items()}
    seeds = derive_seeds(seed, n_envs, EPISODES)
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed)
    model = getattr(stable_baselines3, name)("MlpPolicy", env, device="cpu", seed=seed, **kwargs)
    state: dict[str, Any] = {"next": EVERY, "eval_s": 0.0, "solved": None}

    class Check(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps < state["next"]:
                return True
            t0 = time.perf_counter()
            score = summarize(evaluate_sb3(model, "CartPole-v1", seeds.eval_envs[:EPISODES], True))[0]
            state["eval_s"] += time.perf_counter() - t0
            state["next"] = (self.num_timesteps // EVERY + 1) * EVERY
            if score >= THRESHOLD:
                state["solved"] = {"env_steps": int(self.num_timesteps),
                                   "wall_s": time.perf_counter() - start - state["eval_s"]}
                return False
            return True

    start = time.perf_counter()
    model.learn(total_timesteps=max_steps, callback=Check())
    wall = time.perf_counter() - start - state["eval_s"]
    env.close()
    if state["solved"]:
        return {**state["solved"], "solved": True, "eval_s": state["eval_s"]}
    return {"solved": False, "env_steps": int(model.num_timesteps), "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated (default 0,1,2)")
    p.add_argument("--algorithms", default="a2c,actor-critic", help="pgzoo algorithms, comma-separated")
    p.add_argument("--peers", default="sb3-a2c,sb3-ppo", help="SB3 sides: sb3-a2c, sb3-ppo")
    p.add_argument("--max-steps", type=int, default=300_000, help="give up after this many env steps")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.worker:
        if args.worker.startswith("sb3-"):
            res = solve_sb3(args.worker.removeprefix("sb3-").upper(), args.seed, args.max_steps)
        else:
            res = solve_pgzoo(args.worker, args.seed, args.max_steps)
        print(json.dumps(res))
        return 0
    sides = args.algorithms.split(",") + args.peers.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    before = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for i, seed in enumerate(seeds):
        for side in (sides if i % 2 == 0 else sides[::-1]):
            res = run_worker(__file__, side, ["--seed", str(seed), "--max-steps", str(args.max_steps)])
            results[side].append(res)
            if not args.json:
                state = f"solved at {res['env_steps']} env steps" if res["solved"] else "NOT solved"
                print(f"{side:>13} seed {seed}: {res['wall_s']:6.2f} s, {state}", flush=True)

    def median(side: str) -> float:
        return statistics.median(r["wall_s"] if r["solved"] else float("inf") for r in results[side])

    medians = {s: median(s) for s in sides}
    fastest = min(args.algorithms.split(","), key=lambda s: medians[s])
    report = {"medians_s": medians, "fastest_pgzoo": fastest, "runs": results,
              "ratios": {peer: medians[fastest] / medians[peer] for peer in args.peers.split(",")},
              "load_average_before": before, "load_average_after": os.getloadavg()}
    if args.json:
        print(json.dumps(report))
        return 0
    for s in sides:
        print(f"{s:>13}: median time to solve {medians[s]:.2f} s (training wall time, evaluation excluded)")
    for peer, ratio in report["ratios"].items():
        print(f"pgzoo {fastest} / {peer}: {ratio:.2f}")
    print(load_line(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
