"""The score of the uniformly random policy, the 0 of normalised scores (the threshold is the 1)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pgzoo.config import DEFAULT_EVAL_STEP_CAP, AlgorithmConfig
from pgzoo.engine.envs import make_env
from pgzoo.engine.evaluation import play
from pgzoo.provenance import describe
from pgzoo.seeding import derive_seeds
from pgzoo.spaces import EnvSpec

RANDOM_EPISODES = 100
RANDOM_SEED = 0
DEFAULT_CONTINUING_STEPS = AlgorithmConfig.model_fields["eval_steps"].default
"""Steps of one random-policy run on a continuing task (the trainer's default ``eval_steps``)."""
CONTINUING_RUNS = 10
"""At most this many such runs on a continuing task."""


def random_policy_record(env_id: str, episodes: int = RANDOM_EPISODES, seed: int = RANDOM_SEED,
                         step_cap: int = DEFAULT_EVAL_STEP_CAP,
                         continuing_steps: int = DEFAULT_CONTINUING_STEPS) -> dict[str, Any]:
    """Mean return of uniform random actions over ``episodes`` evaluation-seeded episodes.

    Through the evaluation loop (:func:`pgzoo.engine.evaluation.play`): an episode is cut after
    ``step_cap`` steps (counted in ``capped``); on a continuing task each of at most
    :data:`CONTINUING_RUNS` runs is ``continuing_steps`` steps, scored by the average reward per
    step, as the trainer scores it.
    """
    env = make_env(env_id)
    continuing = EnvSpec.from_env(env, env_id).continuing
    if continuing:  # each "episode" is continuing_steps long: fewer of them are as precise
        episodes = min(episodes, CONTINUING_RUNS)
    env_seeds = derive_seeds(seed, 1, episodes).eval_envs
    env.action_space.seed(seed)
    start = time.perf_counter()
    try:
        returns = play(env, env_seeds, lambda _obs: env.action_space.sample(), step_cap,
                       continuing_steps if continuing else None)
    finally:
        env.close()
    return {
        "type": "random-policy", "env": env_id, "episodes": episodes, "seed": seed,
        "return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)),
        "capped": returns.capped, "wall_s": round(time.perf_counter() - start, 3),
        "provenance": describe(None, env_id, {"trained": "none: uniform random actions"}),
    }
