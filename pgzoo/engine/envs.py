"""Making environments: single, vector or a trainer's batch, with an optional cap on episode length."""

from __future__ import annotations

from collections.abc import Sequence
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


class EnvBatch:
    """``num_envs`` copies of an environment, stepped one after another in this process.

    What the trainer steps: the semantics of gymnasium's ``SyncVectorEnv`` with
    ``AutoresetMode.SAME_STEP`` (an environment whose episode ends is reset in the same step,
    the same calls to each environment's ``reset`` and ``step`` in the same order), without its
    generic batching of spaces and infos. :meth:`step` returns the observations to act on next
    and, separately, the true next observations S_{t+1} (the final observation where an
    episode ended; the same array object when none did).
    """

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None) -> None:
        self.envs = [make_env(env_id, max_episode_steps) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self._obs_dtype = self.observation_space.dtype

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        """Reset environment ``i`` with ``seeds[i]``; the stacked first observations."""
        return np.array([env.reset(seed=int(s))[0] for env, s in zip(self.envs, seeds, strict=True)],
                        dtype=self._obs_dtype)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every environment with its action: (next observations to act on, true next
        observations S_{t+1}, rewards, terminated, truncated)."""
        nxt, rewards, terminated, truncated = [], [], [], []
        final: list | None = None
        for env, action in zip(self.envs, actions, strict=True):
            obs, reward, term, trunc, _ = env.step(action)
            rewards.append(reward)
            terminated.append(term)
            truncated.append(trunc)
            if term or trunc:
                final = final if final is not None else list(nxt)
                final.append(obs)
                obs, _ = env.reset()
            elif final is not None:
                final.append(obs)
            nxt.append(obs)
        next_obs = np.array(nxt, dtype=self._obs_dtype)
        true_next = next_obs if final is None else np.array(final, dtype=self._obs_dtype)
        return (next_obs, true_next, np.array(rewards, dtype=np.float64), np.array(terminated, dtype=bool),
                np.array(truncated, dtype=bool))

    def close(self) -> None:
        """Close every environment."""
        for env in self.envs:
            env.close()
