"""Making environments: single or vector, with an optional cap on episode length."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from pgzoo.errors import UsageError
from pgzoo.registry import check_env_id


def make_env(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` with plugins loaded and a one-line error for unknown ids."""
    check_env_id(env_id)
    try:
        return gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    except gym.error.Error as e:
        raise UsageError(f"cannot make environment '{env_id}': {e}") from None


def make_vec_env(env_id: str, num_envs: int, max_episode_steps: int | None = None) -> gym.vector.SyncVectorEnv:
    """Environments stepped together, resetting in the same step (the true last observation
    of an episode is in ``info["final_obs"]``)."""
    check_env_id(env_id)
    return gym.vector.SyncVectorEnv(
        [lambda: make_env(env_id, max_episode_steps) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def true_next_obs(next_obs: np.ndarray, done: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """S_{t+1} for every environment: the final observation where an episode just ended."""
    if not done.any() or "final_obs" not in info:
        return next_obs
    out = np.array(next_obs, copy=True)
    for i in np.flatnonzero(done):
        out[i] = info["final_obs"][i]
    return out
