"""The score of the uniformly random policy, the 0 of normalised scores (the threshold is the 1)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pgzoo.engine.envs import make_env
from pgzoo.seeding import derive_seeds

RANDOM_EPISODES = 100
RANDOM_SEED = 0


def random_policy_record(env_id: str, episodes: int = RANDOM_EPISODES, seed: int = RANDOM_SEED) -> dict[str, Any]:
    """Mean return of uniform random actions over ``episodes`` evaluation-seeded episodes."""
    env = make_env(env_id)
    env_seeds = derive_seeds(seed, 1, episodes).eval_envs
    env.action_space.seed(seed)
    returns = []
    start = time.perf_counter()
    try:
        for s in env_seeds:
            env.reset(seed=int(s))
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return {
        "type": "random-policy", "env": env_id, "episodes": episodes, "seed": seed,
        "return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)),
        "wall_s": round(time.perf_counter() - start, 3),
    }
