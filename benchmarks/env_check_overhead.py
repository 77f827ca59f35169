"""What the finiteness check of observations costs per env step: checked against unchecked, paired.

Two sides, each in a process of its own (the paired, alternating protocol of :mod:`protocol`):
``checked`` steps an environment through :class:`pgzoo.engine.envs.CheckedEnv` as pgzoo does
everywhere (API, shape and finiteness checks: one dot product per step,
:func:`pgzoo.engine.envs.all_finite`, issue 19), ``unchecked`` through the same wrapper with its
observation check cut back to the shape test it had before (no finiteness test). Each side
steps the environment ``--steps`` times with actions drawn in advance from a fixed seed
(resetting at episode ends) and times the loop by the CPU time of its process. The result is
the median over rounds of the paired ratios checked/unchecked, the difference per env step in
nanoseconds, and the check alone against ``np.isfinite(obs).all()`` (timeit), next to the load
average.

Usage::

    python benchmarks/env_check_overhead.py --env CartPole-v1 --steps 200000 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import timeit
from typing import Any

from protocol import load_line, paired_rounds, run_worker  # benchmarks/protocol.py (the script's folder)


def measure(side: str, env_id: str, steps: int, seed: int) -> dict[str, Any]:
    """``steps`` env steps of ``env_id`` through the ``side`` wrapper; CPU seconds of the loop."""
    import numpy as np

    from pgzoo.engine.envs import CheckedEnv, make_env

    class ShapeOnly(CheckedEnv):
        """CheckedEnv with the observation check it had before issue 19: the shape only."""

        def _check_obs(self, obs: Any, call: str, step: int | None) -> None:
            if self._discrete is None and np.shape(obs) != self._obs_shape:
                raise self._fail(call, "has another shape", step)

    env = make_env(env_id)
    if side == "unchecked":
        env = ShapeOnly(env.env, env_id)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.reset(seed=seed)
    start = time.process_time()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    cpu = time.process_time() - start
    return {"cpu_s": cpu, "steps": steps}


def micro(env_id: str) -> dict[str, float | str]:
    """Seconds per call of the check (``all_finite``) and of ``np.isfinite(obs).all()`` on one
    observation of ``env_id``, and what the observation is."""
    import numpy as np

    from pgzoo.engine.envs import all_finite, make_env

    env = make_env(env_id)
    obs = env.reset(seed=0)[0]
    n, g = 200_000, {"np": np, "obs": obs, "all_finite": all_finite}
    return {stmt: min(timeit.repeat(stmt, globals=g, number=n, repeat=5)) / n
            for stmt in ("all_finite(obs)", "np.isfinite(obs).all()")} | {"obs": f"{obs.dtype} {obs.shape}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.env, args.steps, args.seed)))
        return 0
    worker_args = ["--env", args.env, "--steps", str(args.steps), "--seed", str(args.seed)]

    def report(r: int, checked: dict[str, Any], unchecked: dict[str, Any], ratio: float) -> str:
        return (f"round {r + 1}: checked {checked['cpu_s']:.3f} CPU s, unchecked {unchecked['cpu_s']:.3f} CPU s: "
                f"checked/unchecked {ratio:.3f}")

    res = paired_rounds(("checked", "unchecked"), lambda side, _r: run_worker(__file__, side, worker_args),
                        lambda c, u: c["cpu_s"] / u["cpu_s"], args.rounds, report)
    diffs = [(pair["checked"]["cpu_s"] - pair["unchecked"]["cpu_s"]) / args.steps for pair in res["rounds"]]
    per_step = statistics.median(pair["unchecked"]["cpu_s"] / args.steps for pair in res["rounds"])
    m = micro(args.env)
    print(f"{args.env}, {args.steps} env steps through CheckedEnv: CPU time with/without the finiteness check, "
          f"median of {args.rounds} paired ratios: {res['median_ratio']:.3f} (rounds {min(res['ratios']):.3f} to "
          f"{max(res['ratios']):.3f}); median difference {statistics.median(diffs) * 1e9:+.0f} ns per env step, "
          f"against {per_step * 1e6:.1f} µs per unchecked env step")
    print(f"the check alone on a {m['obs']} observation: all_finite(obs) {m['all_finite(obs)'] * 1e9:.0f} ns, "
          f"against np.isfinite(obs).all() {m['np.isfinite(obs).all()'] * 1e9:.0f} ns")
    print(load_line(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
